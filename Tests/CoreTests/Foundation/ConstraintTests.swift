import PostgresNIO
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

/// The database itself refuses what must never happen, whatever SQL is sent.
@Suite("Schema constraints")
struct ConstraintTests {
    func expectRefused(_ database: Database, state: String, _ query: PostgresQuery,
                       sourceLocation: SourceLocation = #_sourceLocation) async {
        do {
            try await database.query(query)
            Issue.record("the database accepted it", sourceLocation: sourceLocation)
        } catch {
            #expect(error.sqlState == state, "\(String(reflecting: error))", sourceLocation: sourceLocation)
        }
    }

    @Test("a status outside the five")
    func status() async throws {
        try await TestDatabase.with { database in
            let fixture = try await Fixture.make(database)
            await expectRefused(database, state: "23514",
                                "UPDATE conversations SET status = 'archived' WHERE campaign_id = \(fixture.campaign.id)")
        }
    }

    @Test("an assignee who is not a sender of the campaign")
    func assigneeNotSender() async throws {
        try await TestDatabase.with { database in
            let fixture = try await Fixture.make(database)
            let ada = try await Directory(database).user(orgID: fixture.org.id, handle: "ada")
            await expectRefused(database, state: "23503", """
                UPDATE conversations SET assignee_id = \(ada.id) WHERE campaign_id = \(fixture.campaign.id)
                """)
        }
    }

    @Test("an assignee who is not a sender, among many rows that are fine, and on insert")
    func oneStrayAmongMany() async throws {
        try await TestDatabase.with { database in
            let fixture = try await Fixture.make(database, conversations: 50)
            let kevin = try await Directory(database).user(orgID: fixture.org.id, handle: "kevin")
            let ada = try await Directory(database).user(orgID: fixture.org.id, handle: "ada")
            await expectRefused(database, state: "23503", """
                UPDATE conversations SET assignee_id = CASE WHEN id = (SELECT max(id) FROM conversations) THEN \(ada.id)
                                                            ELSE \(kevin.id) END
                WHERE campaign_id = \(fixture.campaign.id)
                """)
            #expect(try await fixture.assignees().allSatisfy { $0 == nil })
            await expectRefused(database, state: "23503", """
                WITH c AS (INSERT INTO contacts (campaign_id, phone) VALUES (\(fixture.campaign.id), '+15559990001') RETURNING id)
                INSERT INTO conversations (campaign_id, id, assignee_id) SELECT \(fixture.campaign.id), id, \(ada.id) FROM c
                """)
        }
    }

    @Test("a conversation without its contact: inserted without one, its contact deleted, or its key changed")
    func conversationWithoutContact() async throws {
        try await TestDatabase.with { database in
            let fixture = try await Fixture.make(database)
            let campaign = fixture.campaign.id
            await expectRefused(database, state: "23503", """
                INSERT INTO conversations (campaign_id, id) VALUES (\(campaign), 999999)
                """)
            await expectRefused(database, state: "23503", """
                DELETE FROM contacts WHERE campaign_id = \(campaign) AND id = (SELECT min(id) FROM contacts)
                """)
            await expectRefused(database, state: "23503", """
                UPDATE conversations SET id = id + 1000000 WHERE campaign_id = \(campaign)
                """)
            let other = try await CampaignService(database).create(orgID: fixture.org.id, name: "Other")
            await expectRefused(database, state: "23503", """
                UPDATE contacts SET campaign_id = \(other.id) WHERE campaign_id = \(campaign)
                """)
            // A contact whose conversation is gone may go.
            try await database.query("""
                DELETE FROM conversations WHERE campaign_id = \(campaign) AND id = (SELECT max(id) FROM conversations)
                """)
            try await database.query("""
                DELETE FROM contacts p WHERE p.campaign_id = \(campaign)
                  AND NOT EXISTS (SELECT 1 FROM conversations c WHERE c.campaign_id = p.campaign_id AND c.id = p.id)
                """)
            let rows = try await database.query("SELECT count(*) FROM contacts WHERE campaign_id = \(campaign)")
            #expect(try rows[0].decode(Int.self) == 5)
        }
    }

    @Test("a sender who holds conversations cannot be deleted or re-keyed; one who holds none can")
    func senderHoldingConversations() async throws {
        try await TestDatabase.with { database in
            let fixture = try await Fixture.make(database)
            let kevin = try await Directory(database).user(orgID: fixture.org.id, handle: "kevin")
            let rebecca = try await Directory(database).user(orgID: fixture.org.id, handle: "rebecca")
            try await database.query("""
                UPDATE conversations SET assignee_id = \(kevin.id) WHERE campaign_id = \(fixture.campaign.id) AND id % 2 = 0
                """)
            await expectRefused(database, state: "23503", """
                DELETE FROM campaign_senders WHERE campaign_id = \(fixture.campaign.id) AND user_id = \(kevin.id)
                """)
            await expectRefused(database, state: "23503", """
                UPDATE campaign_senders SET user_id = \(rebecca.id) WHERE campaign_id = \(fixture.campaign.id) AND user_id = \(kevin.id)
                """)
            try await database.query("""
                DELETE FROM campaign_senders WHERE campaign_id = \(fixture.campaign.id) AND user_id = \(rebecca.id)
                """)
            let rows = try await database.query("SELECT count(*) FROM campaign_senders WHERE campaign_id = \(fixture.campaign.id)")
            #expect(try rows[0].decode(Int.self) == 1)
        }
    }

    @Test("a delete of a sender racing a move to that sender: the delete waits, then is refused")
    func deleteRacingMove() async throws {
        try await TestDatabase.with { database in
            let fixture = try await Fixture.make(database)
            let kevin = try await Directory(database).user(orgID: fixture.org.id, handle: "kevin")
            try await database.client.withConnection { mover in
                try await mover.query("BEGIN", logger: database.logger)
                try await mover.query("""
                    UPDATE conversations SET assignee_id = \(kevin.id) WHERE campaign_id = \(fixture.campaign.id)
                    """, logger: database.logger)
                // The move has not committed: the delete must wait for it rather than pass its check now.
                let delete = Task {
                    try await database.query("""
                        DELETE FROM campaign_senders WHERE campaign_id = \(fixture.campaign.id) AND user_id = \(kevin.id)
                        """)
                }
                // Commit once PostgreSQL shows the delete waiting for the move's row locks.
                #expect(try await waitUntil { try await database.lockWaiters(running: "DELETE FROM campaign_senders") == 1 })
                try await mover.query("COMMIT", logger: database.logger)
                do {
                    try await delete.value
                    Issue.record("the delete went through while kevin held conversations")
                } catch {
                    #expect(error.sqlState == "23503", "\(String(reflecting: error))")
                }
            }
            #expect(try await fixture.assignees().allSatisfy { $0 == "kevin" })
        }
    }

    @Test("a sender of another campaign as assignee")
    func senderOfAnotherCampaign() async throws {
        try await TestDatabase.with { database in
            let fixture = try await Fixture.make(database)
            let other = try await CampaignService(database).create(orgID: fixture.org.id, name: "Other")
            let zed = try await Directory(database).addUser(orgID: fixture.org.id, handle: "zed")
            try await SenderService(database).add(campaignID: other.id, handles: ["zed"])
            await expectRefused(database, state: "23503", """
                UPDATE conversations SET assignee_id = \(zed.id) WHERE campaign_id = \(fixture.campaign.id)
                """)
        }
    }

    @Test("a user of another organization on the sender list")
    func crossOrganizationSender() async throws {
        try await TestDatabase.with { database in
            let fixture = try await Fixture.make(database)
            let otherOrg = try await Directory(database).createOrganization(name: "Other org")
            let stranger = try await Directory(database).addUser(orgID: otherOrg.id, handle: "stranger")
            await expectRefused(database, state: "23503", """
                INSERT INTO campaign_senders (campaign_id, org_id, user_id)
                VALUES (\(fixture.campaign.id), \(fixture.org.id), \(stranger.id))
                """)
        }
    }

    @Test("a duplicate phone in one campaign")
    func duplicatePhone() async throws {
        try await TestDatabase.with { database in
            let fixture = try await Fixture.make(database)
            await expectRefused(database, state: "23505", """
                INSERT INTO contacts (campaign_id, phone) VALUES (\(fixture.campaign.id), '+15552000001')
                """)
        }
    }

    @Test("a malformed phone")
    func malformedPhone() async throws {
        try await TestDatabase.with { database in
            let fixture = try await Fixture.make(database)
            await expectRefused(database, state: "23514", """
                INSERT INTO contacts (campaign_id, phone) VALUES (\(fixture.campaign.id), '555-1234')
                """)
        }
    }

    @Test("a duplicate handle in one organization, and a handle with bad characters")
    func handles() async throws {
        try await TestDatabase.with { database in
            let fixture = try await Fixture.make(database)
            await expectRefused(database, state: "23505", """
                INSERT INTO users (org_id, handle, name, role) VALUES (\(fixture.org.id), 'kevin', 'Kevin 2', 'texter')
                """)
            await expectRefused(database, state: "23514", """
                INSERT INTO users (org_id, handle, name, role) VALUES (\(fixture.org.id), 'Kevin!', 'K', 'texter')
                """)
        }
    }

    @Test("a batch size outside 1–5000")
    func batchSize() async throws {
        try await TestDatabase.with { database in
            let fixture = try await Fixture.make(database)
            await expectRefused(database, state: "23514",
                                "UPDATE campaigns SET batch_size = 5001 WHERE id = \(fixture.campaign.id)")
        }
    }

    @Test("counts kept by the triggers match the rows after raw SQL changes")
    func countsFollowRawSQL() async throws {
        try await TestDatabase.with { database in
            let fixture = try await Fixture.make(database, conversations: 20)
            let kevin = try await Directory(database).user(orgID: fixture.org.id, handle: "kevin")
            try await database.query("""
                UPDATE conversations SET assignee_id = \(kevin.id), status = 'waiting'
                WHERE campaign_id = \(fixture.campaign.id) AND id % 3 = 0
                """)
            try await database.query("DELETE FROM conversations WHERE campaign_id = \(fixture.campaign.id) AND id % 5 = 0")
            #expect(try await fixture.countsAddUp())
        }
    }

    @Test("the counts trigger is off only inside a writer's own statement, and ignores unread and timestamps")
    func countsTriggerScope() async throws {
        try await TestDatabase.with { database in
            let fixture = try await Fixture.make(database, conversations: 20)
            let kevin = try await Directory(database).user(orgID: fixture.org.id, handle: "kevin")
            let campaign = fixture.campaign.id
            func deltaRows() async throws -> Int {
                try await database.query("SELECT count(*) FROM conversation_counts WHERE campaign_id = \(campaign)")[0]
                    .decode(Int.self)
            }
            let before = try await deltaRows()
            try await database.query("""
                UPDATE conversations SET unread = true, last_message_at = now(), updated_at = now()
                WHERE campaign_id = \(campaign)
                """)
            #expect(try await deltaRows() == before)
            try await database.transaction { connection in
                // Inside: a statement that writes no deltas of its own leaves the counts behind.
                try await ConversationCounts.writingOwnDeltas(on: connection, logger: database.logger) {
                    try await connection.query("""
                        UPDATE conversations SET assignee_id = \(kevin.id) WHERE campaign_id = \(campaign) AND id % 2 = 0
                        """, logger: database.logger)
                }
                // After it: the trigger counts again, in the same transaction.
                try await connection.query("""
                    UPDATE conversations SET assignee_id = \(kevin.id), status = 'closed'
                    WHERE campaign_id = \(campaign) AND id % 2 = 1
                    """, logger: database.logger)
            }
            #expect(try await deltaRows() == before + 2 * 10)
            #expect(try await !fixture.countsAddUp())
        }
    }
}
