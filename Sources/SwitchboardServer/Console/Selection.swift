import Foundation
import Hummingbird
import SwitchboardCore

/// The selection as the console's filter bar, links and forms carry it: the filter bar's text fields, the
/// conversations ticked by hand, and whether "Select all N matching" was chosen (then the ticks do not count).
struct ConsoleSelection: Sendable {
    var tag = ""
    var withoutTag = ""
    var before = ""
    var after = ""
    var field = ""
    var search = ""
    var picked: [Int64] = []
    var allMatching = false

    static let names = ["tag", "without_tag", "last_message_before", "last_message_after", "field", "search"]

    /// From a query string or a posted form: `one` reads a field's text, `all` every value of a repeated one.
    init(one: (String) throws -> String?, all: (String) throws -> [String]) throws {
        func text(_ name: String) throws -> String { try one(name)?.trimmingCharacters(in: .whitespaces) ?? "" }
        tag = try text("tag")
        withoutTag = try text("without_tag")
        before = try text("last_message_before")
        after = try text("last_message_after")
        field = try text("field")
        search = try text("search")
        allMatching = try one("all_matching") == "1"
        if !allMatching {
            picked = try all("conversation_ids").flatMap { try ConversationFilter.ids(parsing: $0) }
        }
    }

    /// No filter and nothing ticked.
    static let none = ConsoleSelection()

    private init() {}

    init(query: Hummingbird.Parameters) throws {
        try self.init(one: { query.get($0) }, all: { query.getAll($0) })
    }

    init(form: FormBody) throws {
        try self.init(one: { try form.value($0) }, all: { try form.values($0) })
    }

    /// Core's filter: tags are separated by commas or spaces; one `KEY=VALUE` field.
    func filter() throws -> ConversationFilter {
        try unchecked(picked: picked).validated()
    }

    /// The filter as typed, before Core checks it; `picked` are the hand-picked ids to include, if any.
    private func unchecked(picked: [Int64]) throws -> ConversationFilter {
        func words(_ text: String) -> [String] {
            text.split(whereSeparator: { $0 == "," || $0.isWhitespace }).map(String.init)
        }
        return try ConversationFilter(
            tags: words(tag), withoutTags: words(withoutTag), lastMessageBefore: before.isEmpty ? nil : before,
            lastMessageAfter: after.isEmpty ? nil : after, fields: field.isEmpty ? [] : [field],
            search: search.isEmpty ? nil : search,
            conversations: picked.isEmpty ? nil : picked.map(String.init).joined(separator: ","))
    }

    /// The filter bar's values, without the hand-picked ones.
    var narrowing: [(String, String)] {
        zip(Self.names, [tag, withoutTag, before, after, field, search]).filter { !$0.1.isEmpty }.map { ($0.0, $0.1) }
    }

    var isFiltered: Bool { !narrowing.isEmpty }

    /// The hidden fields that carry the whole selection from form to preview to confirmation.
    var fields: [PreviewPage.Field] {
        narrowing.map { PreviewPage.Field(name: $0.0, value: $0.1) }
            + picked.map { PreviewPage.Field(name: "conversation_ids", value: String($0)) }
    }

    /// The filter bar's values as a link's query.
    var query: [URLQueryItem] { narrowing.map { URLQueryItem(name: $0.0, value: $0.1) } }

    /// "3 selected", "those matching tag=vip", or nil for no selection.
    var scope: String? {
        let matching = (try? unchecked(picked: []))?.summary.map { "matching \($0)" }
        switch (picked.isEmpty, matching) {
        case (true, nil): return nil
        case (true, let matching?): return "the conversations \(matching)"
        case (false, nil): return "\(Words.conversations(picked.count)) selected"
        case (false, let matching?): return "\(Words.conversations(picked.count)) selected, if still \(matching)"
        }
    }
}
