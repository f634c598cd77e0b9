import Foundation
import Hummingbird
import NIOCore
import SwitchboardCore

/// A JSON value with its type kept (true is not 1).
enum JSON: Decodable, Sendable {
    case null, bool(Bool), number(Double), string(String), array([JSON]), object([String: JSON])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSON].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSON].self)) }
    }
}

/// A JSON object body, read strictly: malformed JSON is a 400; unknown fields, missing fields and wrong types
/// are 422s naming the field.
struct JSONBody: Sendable {
    let fields: [String: JSON]
    let raw: ByteBuffer

    static func read(_ request: Request, context: AppRequestContext, allowed: Set<String>) async throws -> JSONBody {
        let buffer = try await request.collectedBody(context)
        if buffer.readableBytes == 0 { return JSONBody(fields: [:], raw: buffer) }
        guard case .object(let fields)? = try? JSONDecoder().decode(JSON.self, from: Data(buffer: buffer)) else {
            throw HTTPError(.badRequest, message: "The request body is not a JSON object.")
        }
        if let unknown = fields.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw SwitchboardError(.invalid, "unknown_field",
                                   "Field '\(unknown)' is not accepted here; use \(allowed.sorted().joined(separator: ", ")).")
        }
        return JSONBody(fields: fields, raw: buffer)
    }

    func string(_ name: String) throws -> String? {
        switch fields[name] {
        case nil, .null?: return nil
        case .string(let text)?:
            try Text.check(text, field: "field '\(name)'")
            return text
        default: throw Self.wrongType(name, "a string")
        }
    }

    func requireString(_ name: String) throws -> String {
        guard let value = try string(name) else { throw Self.missing(name) }
        return value
    }

    /// A list of strings (`["spanish", "billing"]`).
    func strings(_ name: String) throws -> [String]? {
        switch fields[name] {
        case nil, .null?: return nil
        case .array(let list)?:
            let texts = list.compactMap { if case .string(let text) = $0 { text } else { nil } }
            guard texts.count == list.count else { throw Self.wrongType(name, "a list of strings") }
            for text in texts { try Text.check(text, field: "field '\(name)'") }
            return texts
        default: throw Self.wrongType(name, "a list of strings")
        }
    }

    func bool(_ name: String) throws -> Bool? {
        switch fields[name] {
        case nil, .null?: return nil
        case .bool(let flag)?: return flag
        default: throw Self.wrongType(name, "true or false")
        }
    }

    func int(_ name: String) throws -> Int? {
        switch fields[name] {
        case nil, .null?: return nil
        case .number(let number)? where number.rounded() == number && abs(number) < 1e15: return Int(number)
        default: throw Self.wrongType(name, "a whole number")
        }
    }

    /// `source`: `{"sender": "kevin"}`, `{"unassigned": true}` or `{"anyone": true}`.
    func source() throws -> Source {
        guard let value = fields["source"] else { throw Self.missing("source") }
        guard case .object(let object) = value, object.count == 1, let (key, inner) = object.first else {
            throw SwitchboardError(.invalid, "invalid_source",
                                   "Field 'source' must be {\"sender\": HANDLE}, {\"unassigned\": true} or {\"anyone\": true}.")
        }
        switch (key, inner) {
        case ("sender", .string(let handle)): return .sender(handle)
        case ("unassigned", .bool(true)): return .unassigned
        case ("anyone", .bool(true)): return .anyone
        default:
            throw SwitchboardError(.invalid, "invalid_source",
                                   "Field 'source' must be {\"sender\": HANDLE}, {\"unassigned\": true} or {\"anyone\": true}.")
        }
    }

    /// `to`: `["kevin", "rebecca"]`, `"all"` or `{"team": "spanish"}`.
    func target() throws -> Target {
        switch fields["to"] {
        case nil: throw Self.missing("to")
        case .string("all")?: return .allActive
        case .object(let object)? where object.count == 1:
            guard case .string(let team)? = object["team"] else {
                throw Self.wrongType("to", "a list of handles, \"all\" or {\"team\": NAME}")
            }
            return .team(team)
        case .array(let list)?:
            let handles = list.compactMap { if case .string(let h) = $0 { h } else { nil } }
            guard handles.count == list.count else { throw Self.wrongType("to", "a list of handles or \"all\"") }
            return .senders(handles)
        default: throw Self.wrongType("to", "a list of handles, \"all\" or {\"team\": NAME}")
        }
    }

    /// Unassign All's source: `"from": HANDLE`, or `"from_anyone": true` for every sender (Bulk Unassign All);
    /// exactly one. Nil means every sender.
    func unassignSource() throws -> String? {
        let from = try string("from")
        let anyone = try bool("from_anyone") ?? false
        guard (from != nil) != anyone else {
            throw SwitchboardError(.invalid, "invalid_source", "Give exactly one of 'from' (a handle) and 'from_anyone': true.")
        }
        return from
    }

    /// `"filter": {tags, without_tags, last_message_before, last_message_after, fields, search}` and the top
    /// level's `"conversation_ids"`; either may be absent.
    func filter() throws -> ConversationFilter {
        var filter = ConversationFilter()
        switch fields["filter"] {
        case nil, .null?:
            break
        case .object(let object)?:
            let allowed: Set<String> = ["tags", "without_tags", "last_message_before", "last_message_after", "fields", "search"]
            if let unknown = object.keys.sorted().first(where: { !allowed.contains($0) }) {
                throw SwitchboardError(.invalid, "unknown_field",
                                       "Field 'filter.\(unknown)' is not accepted; use \(allowed.sorted().joined(separator: ", ")).")
            }
            let inner = JSONBody(fields: object, raw: raw)
            filter.tags = try inner.strings("tags") ?? []
            filter.withoutTags = try inner.strings("without_tags") ?? []
            filter.lastMessageBefore = try inner.string("last_message_before").map {
                try When(parsing: $0, field: "filter.last_message_before")
            }
            filter.lastMessageAfter = try inner.string("last_message_after").map {
                try When(parsing: $0, field: "filter.last_message_after")
            }
            filter.search = try inner.string("search")
            switch object["fields"] {
            case nil, .null?: break
            case .object(let pairs)?:
                for (key, value) in pairs {
                    guard case .string(let text) = value else { throw Self.wrongType("filter.fields.\(key)", "a string") }
                    filter.fields[key] = text
                }
            default: throw Self.wrongType("filter.fields", "an object of strings")
            }
        default:
            throw Self.wrongType("filter", "an object")
        }
        switch fields["conversation_ids"] {
        case nil, .null?: break
        case .array(let list)?:
            filter.conversationIDs = try list.map { value in
                guard case .number(let number) = value, number.rounded() == number, abs(number) < 1e15 else {
                    throw Self.wrongType("conversation_ids", "a list of conversation ids")
                }
                return Int64(number)
            }
        default: throw Self.wrongType("conversation_ids", "a list of conversation ids")
        }
        return filter
    }

    /// The keys a body with a filter also accepts.
    static let selection: Set<String> = ["filter", "conversation_ids", "preview_token"]

    func status() throws -> StatusFilter {
        try StatusFilter(parsing: try string("status") ?? "any")
    }

    static func missing(_ name: String) -> SwitchboardError {
        .init(.invalid, "missing_field", "Field '\(name)' is required.")
    }

    static func wrongType(_ name: String, _ expected: String) -> SwitchboardError {
        .init(.invalid, "invalid_field", "Field '\(name)' must be \(expected).")
    }
}

extension ConversationFilter {
    /// A list's or export's filter from the query string: `tag` and `without_tag` and `field=KEY=VALUE`
    /// repeatable, `last_message_before`, `last_message_after`, `search`, and `conversation_ids=4,8,15`.
    init(query: Hummingbird.Parameters) throws(SwitchboardError) {
        try self.init(tags: query.getAll("tag"), withoutTags: query.getAll("without_tag"),
                      lastMessageBefore: query.get("last_message_before"), lastMessageAfter: query.get("last_message_after"),
                      fields: query.getAll("field"), search: query.get("search"), conversations: query.get("conversation_ids"))
        self = try validated()
    }
}

extension Request {
    /// The whole body, at most the context's upload size (413 beyond it).
    func collectedBody(_ context: AppRequestContext) async throws -> ByteBuffer {
        var request = self
        do {
            return try await request.collectBody(upTo: context.maxUploadSize)
        } catch is NIOTooManyBytesError {
            throw HTTPError(.contentTooLarge)
        }
    }
}
