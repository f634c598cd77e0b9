import Foundation
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

@Suite("Invite links and set-password links")
struct InviteTests {
    func users(_ database: Database) async throws -> Int {
        try await database.query("SELECT count(*) FROM users")[0].decode(Int.self)
    }

    @Test("one link used by 50 people at once: 50 texters, 50 first batches, no conversation granted twice")
    func fiftyAtOnce() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, conversations: 200)
            _ = try await CampaignService(database).update(id: f.campaign.id, selfAssign: true, batchSize: 3)
            let invites = InviteService(database, cost: 4)
            let (_, token) = try await invites.create(campaignID: f.campaign.id, orgID: f.org.id, actor: "ada")
            let joined = try await withThrowingTaskGroup(of: InviteService.Joined.self) { group in
                for n in 0..<50 {
                    group.addTask {
                        try await invites.signUp(token: token, handle: "vol\(n)", name: "Volunteer \(n)",
                                                 password: "password-\(n)")
                    }
                }
                return try await group.reduce(into: [InviteService.Joined]()) { $0.append($1) }
            }
            #expect(joined.count == 50)
            #expect(joined.allSatisfy { $0.grant?.result.moved == 3 && $0.refusal == nil })
            let granted = joined.flatMap { $0.grant?.conversationIDs ?? [] }
            #expect(granted.count == 150 && Set(granted).count == 150)
            let rows = try await database.query("""
                SELECT count(*) FROM campaign_senders WHERE campaign_id = \(f.campaign.id) AND invite_id IS NOT NULL
                """)
            #expect(try rows[0].decode(Int.self) == 50)
            #expect(try await invites.list(campaignID: f.campaign.id)[0].joined == 50)
            #expect(try await f.countsAddUp())
            // The new texters can sign in with what they chose.
            let (_, session) = try await ConsoleAuth(database).signIn(organization: nil, handle: "vol7", password: "password-7")
            #expect(session.user.role == .texter)
        }
    }

    @Test("a revoked, expired or forged link creates nothing and says the same sentence; a taken handle is named")
    func refusals() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database)
            let invites = InviteService(database, cost: 4)
            let before = try await users(database)
            let (revoked, revokedToken) = try await invites.create(campaignID: f.campaign.id, actor: "ada")
            _ = try await invites.revoke(id: revoked.id, orgID: f.org.id)
            let (expired, expiredToken) = try await invites.create(campaignID: f.campaign.id, actor: "ada")
            try await database.query("UPDATE campaign_invites SET expires_at = now() - interval '1 second' WHERE id = \(expired.id)")
            for token in [revokedToken, expiredToken, "inv_forged0000000000000000", String(revokedToken.dropLast())] {
                await #expect(throws: SwitchboardError.self) {
                    _ = try await invites.signUp(token: token, handle: "newbie", name: "New", password: "long enough")
                }
                do {
                    _ = try await invites.signUp(token: token, handle: "newbie", name: "New", password: "long enough")
                } catch let error as SwitchboardError {
                    #expect(error.code == "invite_invalid")
                }
            }
            #expect(try await users(database) == before)
            // Another organization's user cannot join through the link.
            let other = try await Directory(database).createOrganization(name: "Other")
            let stranger = try await Directory(database).addUser(orgID: other.id, handle: "stranger")
            let (_, live) = try await invites.create(campaignID: f.campaign.id, days: 1, actor: "ada")
            await #expect(throws: SwitchboardError.self) { _ = try await invites.join(token: live, user: stranger) }
            // A taken handle, a bad handle, a short password: named, nothing created.
            for (handle, password, code) in [("kevin", "long enough", "duplicate_handle"), ("Bad Handle", "long enough", "invalid_handle"),
                                             ("newbie", "short", "weak_password")] {
                do {
                    _ = try await invites.signUp(token: live, handle: handle, name: "X", password: password)
                    Issue.record("\(handle) was accepted")
                } catch let error as SwitchboardError {
                    #expect(error.code == code, "\(error.message)")
                }
            }
            #expect(try await users(database) == before + 1)
            await #expect(throws: SwitchboardError.self) {
                _ = try await invites.create(campaignID: f.campaign.id, days: 0, actor: "ada")
            }
        }
    }

    @Test("a set-password link works once, ends the user's other sessions, and an older link stops working")
    func passwordLinks() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database)
            let auth = ConsoleAuth(database, cost: 4)
            try await auth.setPassword(orgID: f.org.id, handle: "kevin", password: "first password")
            let (oldSession, _) = try await auth.signIn(organization: nil, handle: "kevin", password: "first password")
            let older = try await auth.passwordLink(orgID: f.org.id, handle: "kevin", actor: "ada")
            let link = try await auth.passwordLink(orgID: f.org.id, handle: "kevin", actor: "ada")
            #expect(try await auth.passwordLinkUser(token: older) == nil)
            #expect(try await auth.passwordLinkUser(token: link)?.handle == "kevin")
            _ = try await auth.usePasswordLink(token: link, password: "second password")
            #expect(try await auth.session(token: oldSession) == nil)
            await #expect(throws: SwitchboardError.self) { _ = try await auth.usePasswordLink(token: link, password: "third password") }
            _ = try await auth.signIn(organization: nil, handle: "kevin", password: "second password")
        }
    }

    @Test("queue counts: Open, Needs Reply, Not Started, Unread, Closed, and the pool as up next")
    func queueCounts() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database, conversations: 10)
            _ = try await f.assignments.reassignSome(f.request(.unassigned, .senders(["kevin"]), count: 4))
            let kevin = try await Directory(database).user(orgID: f.org.id, handle: "kevin")
            let ids = try await database.query("""
                SELECT id FROM conversations WHERE assignee_id = \(kevin.id) ORDER BY id
                """).map { try $0.decode(Int64.self) }
            let messages = MessageService(database)
            _ = try await messages.record(.conversation(ids[0]), direction: .outbound, body: "Hi", sender: "kevin")
            _ = try await messages.record(.conversation(ids[1]), direction: .outbound, body: "Hi", sender: "kevin")
            _ = try await messages.record(.conversation(ids[1]), direction: .inbound, body: "Hello")
            _ = try await messages.close(conversationID: ids[0], sender: "kevin")
            let counts = try await ConversationService(database).queueCounts(userID: kevin.id, campaignID: f.campaign.id)
            #expect(counts == .init(open: 3, needsReply: 1, notStarted: 2, unread: 1, closed: 1, upNext: 6))
            let list = try await SenderService(database).list(campaignID: f.campaign.id)
            #expect(list.senders.first { $0.handle == "kevin" }?.lastActiveAt != nil)
            #expect(list.senders.first { $0.handle == "rebecca" }?.lastActiveAt == nil)
        }
    }
}
