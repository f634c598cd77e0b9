import Foundation
import SwitchboardServer
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

/// Every noun can be listed (issue 34), directly and through the API, as `{"<plural>": [...]}` in the shape
/// `openapi.yaml` gives it, or as a table.
@Suite("CLI: lists in both modes")
struct ListCommandTests {
    func json(_ run: SwitchboardBinary.Run, listOf item: String, key: String, _ command: String) throws -> [[String: Any]] {
        #expect(run.status == 0, "\(command): \(run)")
        let problems = SpecCheck.shared.problems(Data(run.out.utf8), listOf: item, key: key)
        #expect(problems.isEmpty, "\(command): \(problems)")
        let object = try JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [String: Any]
        return object?[key] as? [[String: Any]] ?? []
    }

    @Test("org, user, campaign, token, sender and invite lists, directly and through the API; user set")
    func lists() async throws {
        let url = try await TestDatabase.make()
        try await TestDatabase.open(url) { database in
            let f = try await Fixture.make(database)
            _ = try await Fixture.make(database, senders: ["oscar"], conversations: 1, orgName: "Other")
            let directory = Directory(database)
            let ada = try await directory.createToken(orgID: f.org.id, handle: "ada")
            _ = try await directory.createToken(orgID: f.org.id, handle: "kevin", expiresIn: 3600)
            _ = try await InviteService(database).create(campaignID: f.campaign.id, actor: "ada")
            let c = String(f.campaign.id)
            try await withLiveServer(database, settings: .init()) { live in
                let server = "http://127.0.0.1:\(live.port)"
                func direct(_ arguments: [String]) async throws -> SwitchboardBinary.Run {
                    try await SwitchboardBinary.run(arguments + ["--database-url", url.connectionString])
                }
                func remote(_ arguments: [String]) async throws -> SwitchboardBinary.Run {
                    try await SwitchboardBinary.run(arguments, environment: ["SWITCHBOARD_SERVER": server,
                                                                             "SWITCHBOARD_TOKEN": ada])
                }
                // Organizations: every one directly, the token's own through the API.
                let all = try json(try await direct(["org", "list", "--json"]), listOf: "Organization", key: "organizations", "org list")
                #expect(all.compactMap { $0["name"] as? String } == ["Acme", "Other"])
                let own = try json(try await remote(["org", "list", "--json"]), listOf: "Organization", key: "organizations", "remote org list")
                #expect(own.compactMap { $0["name"] as? String } == ["Acme"])

                for run in [try await direct(["user", "list", "--org", "Acme", "--json"]),
                            try await remote(["user", "list", "--org", "Acme", "--json"])] {
                    let users = try json(run, listOf: "Member", key: "users", "user list")
                    #expect(users.compactMap { $0["handle"] as? String } == ["ada", "kevin", "rebecca"])
                }
                let table = try await direct(["user", "list", "--org", "Acme"])
                #expect(table.out.hasPrefix("HANDLE") && table.out.contains("kevin"), "\(table)")
                let refused = try await remote(["user", "list", "--org", "Other"])
                #expect(refused.status == 2 && refused.err.contains("the token's organization"), "\(refused)")

                for run in [try await direct(["campaign", "list", "--org", "Acme", "--json"]),
                            try await remote(["campaign", "list", "--org", "Acme", "--json"])] {
                    let campaigns = try json(run, listOf: "Campaign", key: "campaigns", "campaign list")
                    #expect(campaigns.compactMap { $0["name"] as? String } == ["GOTV"])
                }

                // Tokens: an admin directly sees every one of the organization; ada (an organizer) her own. Never the
                // secret.
                let every = try await direct(["token", "list", "--org", "Acme", "--json"])
                #expect(try json(every, listOf: "Token", key: "tokens", "token list").count == 2)
                #expect(!every.out.contains("sb_"))
                let hers = try await remote(["token", "list", "--org", "Acme", "--json"])
                #expect(try json(hers, listOf: "Token", key: "tokens", "remote token list").compactMap { $0["user"] as? String }
                        == ["ada"])
                #expect(try json(try await direct(["token", "list", "--org", "Acme", "--user", "kevin", "--json"]),
                                 listOf: "Token", key: "tokens", "token list --user").first?["expires_at"] is String)

                for run in [try await direct(["sender", "list", "--campaign", c, "--json"]),
                            try await remote(["sender", "list", "--campaign", c, "--json"])] {
                    #expect(run.status == 0 && SpecCheck.shared.problems(Data(run.out.utf8), schema: "SenderList").isEmpty, "\(run)")
                    #expect(run.out == (try await direct(["senders", "--campaign", c, "--json"])).out)
                }
                for run in [try await direct(["campaign", "invite", "--campaign", c, "--list", "--json"]),
                            try await remote(["campaign", "invite", "--campaign", c, "--list", "--json"])] {
                    let invites = try json(run, listOf: "Invite", key: "invites", "invite --list")
                    #expect(invites.count == 1 && invites.first?["live"] as? Bool == true)
                }

                // user set: a name and a role; a bad role or nothing to change is exit 2 and changes nothing.
                let set = try await direct(["user", "set", "--org", "Acme", "kevin", "--name", "Kevin K", "--role", "organizer", "--json"])
                #expect(set.status == 0 && set.out.contains("\"org_id\""), "\(set)")
                let kevin = try await directory.user(orgID: f.org.id, handle: "kevin")
                #expect(kevin.name == "Kevin K" && kevin.role == .organizer)
                #expect(try await direct(["user", "set", "--org", "Acme", "kevin", "--role", "boss"]).status == 2)
                #expect(try await direct(["user", "set", "--org", "Acme", "kevin"]).status == 2)
                #expect(try await directory.user(orgID: f.org.id, handle: "kevin").role == .organizer)
            }
        }
    }
}
