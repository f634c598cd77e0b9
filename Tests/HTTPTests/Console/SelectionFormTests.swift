import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SwitchboardServer
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

/// Selection in the console without JavaScript: the filter bar is a GET form, the ticks a POST of
/// `conversation_ids`, and the preview carries both to the confirmation.
extension MessengerTests {
    @Test("without JavaScript: filter bar, ticked boxes, preview, confirm, and a bad filter named")
    func selectionForms() async throws {
        try await withConsole { client, w, database in
            let c = w.fixture.campaign.id
            let ids = try await w.fixture.conversationIDs()
            for id in ids[0...2] { _ = try await RoutingService(database).addTags(conversationID: id, tags: ["vip"]) }
            let ada = try await signIn(client, "ada")
            var (status, html) = try await get(client, "/campaigns/\(c)?sender=unassigned&tag=vip", ada)
            #expect(status == .ok && html.contains("3 conversations match the filter."))
            #expect(html.matches(of: /name="conversation_ids" value="\d+"/).count == 3)
            // The forms above carry the filter bar.
            #expect(html.contains(#"<input type="hidden" name="tag" value="vip">"#))
            #expect(html.contains("Acts on the conversations matching tag=vip."))

            // Two ticked, posted from the list's own form.
            let form = "from=unassigned&status=any&back=/campaigns/\(c)?sender%3Dunassigned%26tag%3Dvip&tag=vip&pick=on"
                + "&all_matching=&conversation_ids=\(ids[0])&conversation_ids=\(ids[2])&to=kevin&op=reassign-all"
            let preview = try await post(client, "/campaigns/\(c)/preview", ada, form)
            #expect(preview.status == .ok && preview.body.contains("would move 2 conversations"), "\(preview.body)")
            let token = try #require(preview.body.firstMatch(of: /name="preview_token" value="(pv_[0-9a-f]+)"/)?.1)
            let fields = preview.body.matches(of: /<input type="hidden" name="([a-z_]+)" value="([^"]*)">/)
                .filter { $0.1 != "csrf" }
                .map { "\($0.1)=\(String($0.2).replacingOccurrences(of: "&amp;", with: "&").addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }
                .joined(separator: "&")
            #expect(fields.contains("preview_token=pv%5F\(token.dropFirst(3))"))
            let applied = try await post(client, "/campaigns/\(c)/apply", ada, fields)
            #expect(applied.status == .seeOther, "\(applied.body)")
            #expect(try await w.fixture.assignees() == ["kevin", nil, "kevin", nil, nil, nil])
            // History shows the batch's filter, in the list and on the batch's page.
            (status, html) = try await get(client, "/campaigns/\(c)/history", ada)
            #expect(html.contains("Any; tag=vip, 2 hand-picked"), "\(html)")
            let batch = try #require(try await HistoryService(database).campaign(id: c).first?.id)
            (status, html) = try await get(client, "/batches/\(batch)", ada)
            #expect(html.contains("Filter: tag=vip, 2 hand-picked"))

            // Nothing ticked: refused, nothing changes.
            let empty = try await post(client, "/campaigns/\(c)/preview", ada,
                                       "from=unassigned&status=any&back=/campaigns/\(c)&pick=on&to=kevin&op=reassign-all")
            #expect(empty.status == .unprocessableContent && empty.body.contains("Tick at least one conversation"))
            // A bad time in the filter bar: the page says which value, and lists without the filter.
            (status, html) = try await get(client, "/campaigns/\(c)?sender=unassigned&last_message_before=someday", ada)
            #expect(status == .unprocessableContent && (html.contains("&#39;someday&#39;") || html.contains("'someday'")))
            #expect(try await w.fixture.countsAddUp())
        }
    }
}
