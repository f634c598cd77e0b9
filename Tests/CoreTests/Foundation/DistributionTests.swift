import Foundation
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

/// The schema keeps the rules of `docs/SCALING.md`, so that the campaign-scoped tables can be distributed by
/// `campaign_id`: checked from the catalog of a migrated database, so a migration that breaks them fails here.
@Suite("Schema: ready to distribute by campaign")
struct DistributionTests {
    static let distributed: Set<String> = [
        "conversations", "contacts", "messages", "campaign_senders", "assignment_batches", "assignment_moves",
        "conversation_counts", "confirmation_tokens", "sender_skills", "conversation_tags", "campaign_pool_starts",
        "preview_sets", "assignment_requests",
    ]
    static let reference: Set<String> = [
        "organizations", "users", "campaigns", "campaign_invites", "api_tokens", "web_sessions", "sign_in_failures",
        "password_links", "idempotency_keys", "schema_migrations", "schema_functions", "teams", "team_members",
        "campaign_teams",
    ]

    /// Every way the catalog breaks the rules, one sentence each.
    static func violations(_ database: Database) async throws -> [String] {
        var found: [String] = []
        let tables = Set(try await database.query(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").map { try $0.decode(String.self) })
        for table in tables.subtracting(distributed).subtracting(reference).sorted() {
            found.append("table \(table) is not placed in docs/SCALING.md")
        }
        for table in distributed.sorted() {
            guard tables.contains(table) else {
                found.append("table \(table) is missing")
                continue
            }
            let hasColumn = try await database.query("""
                SELECT count(*) FROM information_schema.columns
                WHERE table_schema = 'public' AND table_name = \(table) AND column_name = 'campaign_id'
                """)[0].decode(Int.self)
            if hasColumn != 1 { found.append("\(table) has no campaign_id") }
            // Unique indexes: primary keys and unique constraints included.
            for row in try await database.query("""
                SELECT i.indexrelid::regclass::text,
                       array(SELECT a.attname::text FROM unnest(i.indkey) k JOIN pg_attribute a
                             ON a.attrelid = i.indrelid AND a.attnum = k)
                FROM pg_index i WHERE i.indisunique AND i.indrelid = \(table)::regclass
                """) {
                let (name, columns) = try row.decode((String, [String]).self)
                if !columns.contains("campaign_id") {
                    found.append("\(table): unique index \(name) on \(columns) lacks campaign_id")
                }
            }
        }
        for row in try await database.query("""
            SELECT c.conname::text, c.conrelid::regclass::text, c.confrelid::regclass::text,
                   array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a
                         ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o),
                   array(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, o) JOIN pg_attribute a
                         ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o)
            FROM pg_constraint c WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
            """) {
            let (name, from, to, columns, referenced) = try row.decode((String, String, String, [String], [String]).self)
            switch (distributed.contains(from), distributed.contains(to)) {
            case (true, true):
                guard let at = columns.firstIndex(of: "campaign_id"), referenced[at] == "campaign_id" else {
                    found.append("\(name): \(from)\(columns) → \(to)\(referenced) does not pair campaign_id")
                    continue
                }
            case (false, true):
                found.append("\(name): reference table \(from) points at distributed \(to)")
            default:
                break
            }
        }
        return found
    }

    @Test("every table is placed; keys and foreign keys of distributed tables carry campaign_id")
    func rules() async throws {
        try await TestDatabase.with { database in
            let found = try await Self.violations(database)
            #expect(found == [])
        }
    }

    @Test("the check bites: a key without campaign_id, a cross-shard foreign key, an unplaced table are each named")
    func bites() async throws {
        try await TestDatabase.with { database in
            try await database.query("CREATE UNIQUE INDEX broken_unique ON messages (id)")
            try await database.query("ALTER TABLE messages ADD COLUMN batch_id bigint")
            try await database.query("""
                ALTER TABLE messages ADD CONSTRAINT broken_fk FOREIGN KEY (campaign_id, batch_id)
                    REFERENCES assignment_batches (campaign_id, id)
                """)
            try await database.query("CREATE TABLE stray (id bigint PRIMARY KEY)")
            try await database.query("ALTER TABLE users ADD COLUMN last_conversation_campaign bigint")
            try await database.query("""
                ALTER TABLE users ADD CONSTRAINT broken_ref FOREIGN KEY (last_conversation_campaign, id)
                    REFERENCES campaign_senders (campaign_id, user_id)
                """)
            let found = try await Self.violations(database)
            #expect(found.contains { $0.contains("broken_unique") })
            #expect(found.contains { $0.contains("stray") })
            #expect(found.contains { $0.contains("broken_ref") })
            #expect(!found.contains { $0.contains("broken_fk") }, "a foreign key that pairs campaign_id is fine")
        }
    }
}
