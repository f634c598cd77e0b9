import Foundation
import SwitchboardServer
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

/// Selection in the CLI, directly and through the API: the same filters, the same preview token round trip, the
/// same exit codes.
@Suite("CLI: selection in both modes")
struct SelectionCommandTests {
    @Test("--tag, --field, --conversations-file and --preview-token; a mismatched token exits 3, a bad time exits 2")
    func selection() async throws {
        let url = try await TestDatabase.make()
        try await TestDatabase.open(url) { database in
            let f = try await Fixture.make(database, conversations: 8)
            let ids = try await f.conversationIDs()
            _ = try await database.query("""
                INSERT INTO conversation_tags (campaign_id, conversation_id, tag)
                SELECT \(f.campaign.id), id, 'vip' FROM unnest(\(Array(ids[0...3]))::bigint[]) id
                """)
            _ = try await database.query("""
                UPDATE contacts SET fields = '{"county": "Kent"}' WHERE campaign_id = \(f.campaign.id) AND id = \(ids[5])
                """)
            let ada = try await Directory(database).createToken(orgID: f.org.id, handle: "ada")
            let picked = FileManager.default.temporaryDirectory.appendingPathComponent("picked-\(UUID().uuidString).txt")
            try "\(ids[6])\n\(ids[7])\n".write(to: picked, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: picked) }
            let c = String(f.campaign.id)
            try await withLiveServer(database, settings: .init()) { live in
                let server = "http://127.0.0.1:\(live.port)"
                let modes: [(String, ([String]) async throws -> SwitchboardBinary.Run)] = [
                    ("direct", {
                        let actor = $0[0].contains("assign") ? ["--actor", "ada"] : []
                        return try await SwitchboardBinary.run($0 + ["--database-url", url.connectionString] + actor)
                    }),
                    ("remote", { try await SwitchboardBinary.run($0, environment: ["SWITCHBOARD_SERVER": server,
                                                                                   "SWITCHBOARD_TOKEN": ada]) }),
                ]
                for (mode, run) in modes {
                    // Preview the tagged ones, then run with the token: only those move.
                    let preview = try await run(["reassign-all", "--campaign", c, "--from-unassigned", "--to", "kevin",
                                                 "--tag", "vip", "--dry-run", "--json"])
                    #expect(preview.status == 0, "\(mode): \(preview)")
                    let token = try #require((try JSONSerialization.jsonObject(with: Data(preview.out.utf8)) as? [String: Any])?["preview_token"] as? String)
                    let mismatch = try await run(["reassign-all", "--campaign", c, "--from-unassigned", "--to", "rebecca",
                                                  "--tag", "vip", "--preview-token", token])
                    #expect(mismatch.status == 3 && mismatch.err.contains("preview token"), "\(mode): \(mismatch)")
                    let moved = try await run(["reassign-all", "--campaign", c, "--from-unassigned", "--to", "kevin",
                                               "--tag", "vip", "--preview-token", token])
                    #expect(moved.status == 0 && moved.out.contains("Moved 4 of 4"), "\(mode): \(moved)")
                    let listed = try await run(["conversations", "--campaign", c, "--field", "county=Kent", "--json"])
                    #expect(listed.status == 0 && listed.out.contains("\"id\":\(ids[5])"), "\(mode): \(listed)")
                    let exported = try await run(["export", "--campaign", c, "--conversations-file", picked.path])
                    #expect(exported.status == 0 && exported.out.split(separator: "\n").count == 3, "\(mode): \(exported)")
                    let some = try await run(["reassign-some", "--campaign", c, "--from-unassigned", "--to", "rebecca",
                                              "--count", "1", "--conversations-file", picked.path])
                    #expect(some.status == 0 && some.out.contains("Moved 1 of 1"), "\(mode): \(some)")
                    let bad = try await run(["conversations", "--campaign", c, "--last-message-before", "tuesday"])
                    #expect(bad.status == 2 && bad.err.contains("tuesday"), "\(mode): \(bad)")
                    let noEquals = try await run(["export", "--campaign", c, "--field", "county"])
                    #expect(noEquals.status == 2 && noEquals.err.contains("'county'"), "\(mode): \(noEquals)")
                    let tagged = try await run(["tag", "add", "--campaign", c, "--tag", "kent", "--field", "county=Kent"])
                    #expect(tagged.status == 0 && tagged.out.contains("Tagged 1 conversation of"), "\(mode): \(tagged)")
                    let untagged = try await run(["tag", "remove", "--campaign", c, "kent", "--json"])
                    #expect(untagged.status == 0 && untagged.out.contains("\"changed\":1"), "\(mode): \(untagged)")
                    #expect(try await f.assignees() == ["kevin", "kevin", "kevin", "kevin", nil, nil, "rebecca", nil])
                    // Put things back for the other mode (the row trigger keeps the counts).
                    _ = try await database.query("UPDATE conversations SET assignee_id = NULL WHERE campaign_id = \(f.campaign.id)")
                    #expect(try await f.countsAddUp())
                }
            }
        }
    }
}
