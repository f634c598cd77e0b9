import Foundation
import SwitchboardCLI
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore
@testable import SwitchboardLocalCluster

@Suite("CLI exit codes")
struct CLIExitCodeTests {
    func run(_ url: DatabaseURL, _ arguments: [String]) async -> Int32 {
        await Switchboard.main(arguments: arguments + ["--database-url", url.connectionString])
    }

    @Test("done 0, invalid input 2, usage 2, unreachable database 1")
    func exitCodes() async throws {
        let url = try await TestDatabase.make()
        #expect(await run(url, ["org", "create", "Acme"]) == 0)
        #expect(await run(url, ["user", "add", "--org", "Acme", "kevin"]) == 0)
        #expect(await run(url, ["user", "add", "--org", "Acme", "Bad Handle"]) == 2)
        #expect(await run(url, ["user", "add", "--org", "Nope", "zed"]) == 2)
        #expect(await run(url, ["user", "add", "--org", "Acme", "zed", "--role", "boss"]) == 2)
        #expect(await run(url, ["campaign", "create", "--org", "Acme", "X", "--batch-size", "0"]) == 2)
        #expect(await run(url, ["campaign", "show", "424242"]) == 2)
        #expect(await run(url, ["campaign", "show", "abc"]) == 2)
        #expect(await run(url, ["no-such-command"]) == 2)
        #expect(await Switchboard.main(arguments: ["org", "create", "Z", "--database-url",
                                                   "postgres://nobody@127.0.0.1:1/none?sslmode=disable"]) == 1)
        #expect(await Switchboard.main(arguments: ["org", "create", "Z", "--database-url", "mysql://x"]) == 2)
        try await TestDatabase.open(url) { database in
            let rows = try await database.query("SELECT count(*) FROM users")
            #expect(try rows[0].decode(Int.self) == 1)
        }
    }

    @Test("bench pointed at a database that holds an organization refuses with exit 2 and changes nothing")
    func benchRefuses() async throws {
        let url = try await TestDatabase.make()
        try await TestDatabase.open(url) { database in
            let f = try await Fixture.make(database)
            func snapshot() async throws -> [Int] {
                let row = try await database.query("""
                    SELECT (SELECT count(*) FROM organizations)::int, (SELECT count(*) FROM conversations)::int,
                           (SELECT count(*) FROM pg_database WHERE datname LIKE 'switchboard_bench_%')::int,
                           (SELECT count(*) FROM pg_tables WHERE schemaname = 'public')::int
                    """)[0].decode((Int, Int, Int, Int).self)
                return [row.0, row.1, row.2, row.3]
            }
            let before = try await snapshot()
            #expect(await self.run(url, ["bench", "--quick", "--only", "console"]) == 2)
            #expect(try await snapshot() == before)
            #expect(try await f.countsAddUp())
        }
    }

    @Test("campaign invite: creates a live link, lists it, revokes it; bad expiry or address is exit 2; mark-read")
    func invites() async throws {
        let url = try await TestDatabase.make()
        try await TestDatabase.open(url) { database in
            let f = try await Fixture.make(database)
            let c = String(f.campaign.id)
            #expect(await self.run(url, ["campaign", "invite", "--campaign", c, "--days", "0"]) == 2)
            #expect(await self.run(url, ["campaign", "invite", "--campaign", c, "--base-url", "ftp://x"]) == 2)
            #expect(await self.run(url, ["campaign", "invite", "--campaign", "424242"]) == 2)
            #expect(try await InviteService(database).list(campaignID: f.campaign.id).isEmpty)
            #expect(await self.run(url, ["campaign", "invite", "--campaign", c, "--days", "3", "--actor", "ada"]) == 0)
            let invite = try #require(try await InviteService(database).list(campaignID: f.campaign.id).first)
            #expect(invite.isLive && invite.createdBy == "ada")
            #expect(await self.run(url, ["campaign", "invite", "--campaign", c, "--list"]) == 0)
            #expect(await self.run(url, ["campaign", "invite", "--campaign", c, "--revoke", String(invite.id)]) == 0)
            #expect(try await InviteService(database).list(campaignID: f.campaign.id).first?.isLive == false)
            // mark-read: only the assignee clears the mark.
            _ = try await f.assignments.reassignSome(f.request(.unassigned, .senders(["kevin"]), count: 1))
            let id = try await database.query(
                "SELECT c.id FROM conversations c JOIN users u ON u.id = c.assignee_id WHERE u.handle = 'kevin'"
            )[0].decode(Int64.self)
            _ = try await MessageService(database).record(.conversation(id), direction: .inbound, body: "Hi")
            #expect(await self.run(url, ["mark-read", "--conversation", String(id), "--sender", "rebecca"]) == 0)
            #expect(try await ConversationService(database).conversation(id: id).unread)
            #expect(await self.run(url, ["mark-read", "--conversation", String(id), "--sender", "kevin"]) == 0)
            #expect(try await ConversationService(database).conversation(id: id).unread == false)
            #expect(await self.run(url, ["mark-read", "--conversation", String(id), "--sender", "nobody"]) == 2)
        }
    }
}

@Suite("CLI: stray clusters")
struct StrayClusterTests {
    @Test("a stray cluster folder is listed and 'db destroy --directory' removes it; an unknown folder is refused")
    func destroyStray() async throws {
        // A project's cluster left in the temp directory (its project folder was one the `postgres` user could not
        // enter): listed, never removed behind anyone's back. A folder without a cluster in it is not listed.
        let folder = URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("switchboard-straytest\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("data"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let other = URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("switchboard-notacluster-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: other) }
        #expect(!EmbeddedCluster.strays().contains { $0.directory.path == other.path })
        #expect(EmbeddedCluster.strays().contains { $0.directory.path == folder.path })
        // A live process's throwaway cluster is not a stray.
        #expect(!EmbeddedCluster.strays().contains { $0.directory.lastPathComponent.contains("-\(getpid())-") })
        #expect(await Switchboard.main(arguments: ["db", "destroy", "--directory", "/nowhere", "--yes"]) == 2)
        #expect(await Switchboard.main(arguments: ["db", "destroy", "--directory", folder.path, "--yes"]) == 0)
        #expect(!FileManager.default.fileExists(atPath: folder.path))
    }

    @Test("a throwaway cluster whose process is gone is removed by the next run; a live one and a project's are kept")
    func deadThrowaways() async throws {
        let temp = URL(fileURLWithPath: NSTemporaryDirectory())
        let dead = temp.appendingPathComponent("switchboard-test-999998-\(UUID().uuidString.prefix(8))")
        let live = temp.appendingPathComponent("switchboard-test-\(getpid())-\(UUID().uuidString.prefix(8))")
        let project = temp.appendingPathComponent("switchboard-projecttest\(UUID().uuidString.prefix(8))")
        for folder in [dead, live, project] {
            try FileManager.default.createDirectory(at: folder.appendingPathComponent("data"), withIntermediateDirectories: true)
        }
        defer { for folder in [dead, live, project] { try? FileManager.default.removeItem(at: folder) } }
        #expect(EmbeddedCluster.removeDeadThrowaways() >= 1)
        #expect(!FileManager.default.fileExists(atPath: dead.path))
        #expect(FileManager.default.fileExists(atPath: live.path))
        #expect(FileManager.default.fileExists(atPath: project.path))
    }
}

@Suite("CLI routing")
struct CLIRoutingTests {
    func run(_ url: DatabaseURL, _ arguments: [String]) async -> Int32 {
        await Switchboard.main(arguments: arguments + ["--database-url", url.connectionString])
    }

    @Test("routing commands: policy, away, skills, tags, escalation, handoff, release-stale, notes; bad input is exit 2 and changes nothing")
    func routing() async throws {
        let url = try await TestDatabase.make()
        try await TestDatabase.open(url) { database in
            let f = try await Fixture.make(database, senders: ["kevin", "rebecca", "sam"])
            let c = String(f.campaign.id)
            let ids = try await f.conversationIDs().map(String.init)
            #expect(await self.run(url, ["campaign", "set", c, "--routing-policy", "round-robin"]) == 0)
            #expect(await self.run(url, ["campaign", "set", c, "--routing-policy", "fastest"]) == 2)
            #expect(await self.run(url, ["sender", "away", "--campaign", c, "sam"]) == 0)
            #expect(await self.run(url, ["sender", "away", "--campaign", c, "zed"]) == 2)
            #expect(await self.run(url, ["skill", "add", "--campaign", c, "rebecca", "billing"]) == 0)
            #expect(await self.run(url, ["skill", "add", "--campaign", c, "rebecca", "Bad Skill"]) == 2)
            #expect(await self.run(url, ["skill", "remove", "--campaign", c, "rebecca", "legal"]) == 2)
            #expect(await self.run(url, ["tag", "add", "--conversation", ids[0], "billing"]) == 0)
            #expect(await self.run(url, ["message", "--conversation", ids[0], "--direction", "in", "--body", "Hi"]) == 0)
            #expect(await self.run(url, ["message", "--conversation", ids[1], "--direction", "in", "--body", "Hi"]) == 0)
            // Round robin over the available kevin and rebecca; sam is away.
            #expect(try await f.assignees().prefix(2) == ["kevin", "rebecca"])
            #expect(await self.run(url, ["reassign", "--conversation", ids[0], "--to-skill", "billing",
                                         "--note", "invoice"]) == 0)
            #expect(await self.run(url, ["reassign", "--conversation", ids[2], "--to-skill", "legal"]) == 2)
            #expect(await self.run(url, ["reassign", "--conversation", ids[1], "--to-skill", "billing"]) == 3,
                    "rebecca already holds it: nobody else can take it")
            #expect(await self.run(url, ["handoff", "--campaign", c, "--from", "kevin", "--to", "rebecca",
                                         "--note", String(repeating: "n", count: 501)]) == 2)
            #expect(await self.run(url, ["handoff", "--campaign", c, "--from", "kevin", "--policy", "nope"]) == 2)
            #expect(await self.run(url, ["handoff", "--campaign", c, "--from", "rebecca", "--to", "kevin", "--dry-run"]) == 0)
            #expect(try await f.assignees().prefix(2) == ["rebecca", "rebecca"], "a dry run changes nothing")
            #expect(await self.run(url, ["handoff", "--campaign", c, "--from", "rebecca", "--to", "kevin",
                                         "--note", "shift change"]) == 0)
            #expect(try await f.assignees().prefix(2) == ["kevin", "kevin"])
            #expect(await self.run(url, ["release-stale", "--campaign", c]) == 2, "off for this campaign")
            #expect(await self.run(url, ["campaign", "set", c, "--release-stale-after", "5"]) == 0)
            #expect(await self.run(url, ["release-stale", "--campaign", c, "--dry-run"]) == 0)
            #expect(await self.run(url, ["backlog", "--campaign", c]) == 0)
            let notes = try await HistoryService(database).campaign(id: f.campaign.id).compactMap(\.note)
            #expect(notes == ["shift change", "invoice"])
            #expect(try await f.countsAddUp())
        }
    }
}
