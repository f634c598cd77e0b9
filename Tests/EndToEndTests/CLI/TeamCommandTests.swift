import Foundation
import SwitchboardServer
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

/// Teams and request approval in the CLI, directly and through the API: the same commands, outputs and exit codes.
@Suite("CLI: teams and request approval in both modes")
struct TeamCommandTests {
    @Test("team create|add|list, --to-team, a campaign limited to teams, requests approve (twice: exit 3) and deny")
    func teamsAndRequests() async throws {
        let url = try await TestDatabase.make()
        try await TestDatabase.open(url) { database in
            let f = try await Fixture.make(database, conversations: 8,
                                           settings: .init(selfAssign: true, batchSize: 2, requireFinishedBatch: false))
            _ = try await Directory(database).addUser(orgID: f.org.id, handle: "zed")
            let directory = Directory(database)
            let ada = try await directory.createToken(orgID: f.org.id, handle: "ada")
            let texters = ["kevin": try await directory.createToken(orgID: f.org.id, handle: "kevin"),
                           "rebecca": try await directory.createToken(orgID: f.org.id, handle: "rebecca")]
            let c = String(f.campaign.id)
            try await withLiveServer(database, settings: .init()) { live in
                let server = "http://127.0.0.1:\(live.port)"
                typealias Runner = ([String], String) async throws -> SwitchboardBinary.Run
                let modes: [(String, Runner)] = [
                    ("direct", { arguments, _ in
                        let decides = arguments.first == "requests" && arguments.count > 1
                            && ["approve", "deny"].contains(arguments[1])
                        let actor = arguments[0].contains("assign") || decides ? ["--actor", "ada"] : []
                        return try await SwitchboardBinary.run(arguments + ["--database-url", url.connectionString] + actor)
                    }),
                    ("remote", { arguments, user in
                        try await SwitchboardBinary.run(arguments, environment: ["SWITCHBOARD_SERVER": server,
                                                                      "SWITCHBOARD_TOKEN": texters[user] ?? ada])
                    }),
                ]
                for (mode, run) in modes {
                    let team = "night-\(mode)"
                    var r = try await run(["team", "create", "--org", "Acme", team], "ada")
                    #expect(r.status == 0 && r.out.contains("Created team '\(team)'"), "\(mode): \(r)")
                    r = try await run(["team", "add", "--org", "Acme", team, "kevin", "nobody"], "ada")
                    #expect(r.status == 2 && r.err.contains("'nobody'"), "\(mode): \(r)")
                    r = try await run(["team", "add", "--org", "Acme", team, "kevin"], "ada")
                    #expect(r.status == 0 && r.out.contains("kevin"), "\(mode): \(r)")
                    r = try await run(["team", "list", "--org", "Acme", "--json"], "ada")
                    #expect(r.status == 0 && r.out.contains("{\"members\":[\"kevin\"],\"name\":\"\(team)\"}"), "\(mode): \(r)")
                    r = try await run(["reassign-some", "--campaign", c, "--from-unassigned", "--to-team", team,
                                       "--count", "1"], "ada")
                    #expect(r.status == 0 && r.out.contains("Moved 1 of 1"), "\(mode): \(r)")
                    r = try await run(["team", "create", "--org", "Acme", "empty-\(mode)"], "ada")
                    r = try await run(["reassign-all", "--campaign", c, "--from-unassigned", "--to-team", "empty-\(mode)"], "ada")
                    #expect(r.status == 2 && r.err.contains("has no active sender"), "\(mode): \(r)")

                    // A wrong team name changes none of the other settings given with it.
                    r = try await run(["campaign", "set", c, "--batch-size", "7", "--request-approval", "--teams", "nope"], "ada")
                    #expect(r.status == 2 && r.err.contains("'nope'"), "\(mode): \(r)")
                    let unchanged = try await CampaignService(database).campaign(id: f.campaign.id)
                    #expect(unchanged.settings.batchSize == 2 && !unchanged.requestApproval, "\(mode)")

                    // Limited to the team: zed cannot be added; lifted, he can.
                    r = try await run(["campaign", "set", c, "--teams", team, "--request-approval"], "ada")
                    #expect(r.status == 0 && r.out.contains("teams: \(team)") && r.out.contains("request approval: on"),
                            "\(mode): \(r)")
                    r = try await run(["sender", "add", "--campaign", c, "zed"], "ada")
                    #expect(r.status == 3 && r.err.contains("'zed'"), "\(mode): \(r)")

                    // kevin (in the team) asks; it waits; approved once, the second approval exits 3.
                    r = try await run(["request-more", "--campaign", c, "--sender", "kevin", "--json"], "kevin")
                    #expect(r.status == 0 && r.out.contains("\"status\":\"pending\""), "\(mode): \(r)")
                    let id = try #require((try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])?["request_id"] as? Int)
                    r = try await run(["requests", "--campaign", c, "--status", "pending"], "ada")
                    #expect(r.status == 0 && r.out.contains("kevin") && r.out.contains("pending"), "\(mode): \(r)")
                    r = try await run(["requests", "approve", String(id), "--count", "1"], "ada")
                    #expect(r.status == 0 && r.out.contains("Approved request \(id): kevin received 1 of 2 asked"),
                            "\(mode): \(r)")
                    r = try await run(["requests", "approve", String(id)], "ada")
                    #expect(r.status == 3 && r.err.contains("already approved"), "\(mode): \(r)")
                    r = try await run(["requests", "deny", "999999"], "ada")
                    #expect(r.status == 2 && r.err.contains("999999"), "\(mode): \(r)")

                    // rebecca is outside the team: refused outright, exit 3.
                    r = try await run(["request-more", "--campaign", c, "--sender", "rebecca"], "rebecca")
                    #expect(r.status == 3 && r.err.contains("not in a team"), "\(mode): \(r)")

                    r = try await run(["report", "--campaign", c], "ada")
                    #expect(r.status == 0 && r.out.contains("MEDIAN FIRST RESPONSE") && r.out.contains("Needs Reply waiting"),
                            "\(mode): \(r)")
                    r = try await run(["report", "--campaign", c, "--json"], "ada")
                    #expect(r.status == 0 && r.out.contains("\"replies_handled\":0"), "\(mode): \(r)")
                    r = try await run(["campaign", "set", c, "--teams", "", "--no-request-approval"], "ada")
                    #expect(r.status == 0 && r.out.contains("anyone may send"), "\(mode): \(r)")
                    _ = try await database.query("UPDATE conversations SET assignee_id = NULL WHERE campaign_id = \(f.campaign.id)")
                    #expect(try await f.countsAddUp())
                }
            }
        }
    }
}
