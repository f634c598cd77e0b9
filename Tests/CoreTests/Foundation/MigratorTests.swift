import Foundation
import PostgresNIO
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

@Suite("Migrator")
struct MigratorTests {
    @Test("applies once, then finds nothing pending")
    func idempotent() async throws {
        try await TestDatabase.with { database in
            let applied = try await Migrator.bundled().migrate(database)
            #expect(applied.isEmpty, "the template already carries every migration")
            #expect(try await Migrator.bundled().pending(database).isEmpty)
        }
    }

    @Test("0013 moves the contacts out of conversations that existed before it, ids, phones and owners kept")
    func contactsApart() async throws {
        try await TestDatabase.withEmpty { database in
            let before = try Migrator.bundled().migrations.filter { $0.version < "0013" }
            try await Migrator(migrations: before).migrate(database)
            func id(_ query: PostgresQuery) async throws -> Int64 { try await database.query(query)[0].decode(Int64.self) }
            let org = try await id("INSERT INTO organizations (name) VALUES ('Old org') RETURNING id")
            let kevin = try await id("""
                INSERT INTO users (org_id, handle, name, role) VALUES (\(org), 'kevin', 'Kevin', 'texter') RETURNING id
                """)
            let campaign = try await id("INSERT INTO campaigns (org_id, name) VALUES (\(org), 'Old campaign') RETURNING id")
            try await database.query("INSERT INTO campaign_senders (campaign_id, org_id, user_id) VALUES (\(campaign), \(org), \(kevin))")
            try await database.query("""
                INSERT INTO conversations (campaign_id, phone, name, fields, status, assignee_id)
                SELECT \(campaign), '+1555300' || lpad(g::text, 4, '0'), 'Old ' || g, jsonb_build_object('precinct', g),
                       CASE WHEN g % 2 = 0 THEN 'needs_reply' ELSE 'not_started' END,
                       CASE WHEN g % 2 = 0 THEN \(kevin) END
                FROM generate_series(1, 10) g
                """)
            try await database.query("""
                INSERT INTO messages (campaign_id, conversation_id, direction, body)
                SELECT campaign_id, id, 'inbound', 'hi' FROM conversations WHERE assignee_id IS NOT NULL
                """)
            let rowsBefore = try await database.query("""
                SELECT id, phone, name, fields::text, status, coalesce(assignee_id, 0) FROM conversations ORDER BY id
                """).map { try $0.decode((Int64, String, String, String, String, Int64).self) }

            #expect(try await Migrator.bundled().migrate(database).contains("0013_contacts_apart"))
            let rowsAfter = try await database.query("""
                SELECT c.id, p.phone, p.name, p.fields::text, c.status, coalesce(c.assignee_id, 0)
                FROM conversations c JOIN contacts p ON p.campaign_id = c.campaign_id AND p.id = c.id ORDER BY c.id
                """).map { try $0.decode((Int64, String, String, String, String, Int64).self) }
            #expect(rowsAfter.count == 10)
            #expect(rowsAfter.elementsEqual(rowsBefore) { $0 == $1 })
            let columns = try await database.query("""
                SELECT count(*) FROM information_schema.columns
                WHERE table_name = 'conversations' AND column_name IN ('phone', 'name', 'fields')
                """)
            #expect(try columns[0].decode(Int.self) == 0)

            // Reads, new imports and the phone's uniqueness work on the migrated rows.
            let third = try await ConversationService(database).conversation(id: rowsBefore[2].0)
            #expect(third.phone == rowsBefore[2].1 && third.name == "Old 3")
            let csv = "phone,name\n+15553000011,New 11\n+15553000012,New 12\n"
            _ = try await ContactImporter(database).importCSV(campaignID: campaign, data: Data(csv.utf8), fileName: "new.csv")
            let ids = try await database.query("SELECT id FROM conversations WHERE campaign_id = \(campaign) ORDER BY id")
                .map { try $0.decode(Int64.self) }
            #expect(ids.count == 12 && ids[10] > rowsBefore.last!.0)
            await #expect(throws: SwitchboardError.self) {
                _ = try await ContactImporter(database).importCSV(campaignID: campaign, data: Data("phone\n+15553000001\n".utf8),
                                                                  fileName: "again.csv")
            }
            let list = try await SenderService(database).list(campaignID: campaign)
            #expect(list.senders.first?.counts.total == 5)
        }
    }

    @Test("refuses an applied migration that was edited")
    func editedMigration() async throws {
        try await TestDatabase.with { database in
            let bundled = try Migrator.bundled()
            var migrations = bundled.migrations
            migrations[0] = .init(version: migrations[0].version, sql: migrations[0].sql + "\n-- edited\n")
            await #expect(throws: SwitchboardError.self) { try await Migrator(migrations: migrations).migrate(database) }
        }
    }

    @Test("applies a new migration in order and records it")
    func newMigration() async throws {
        try await TestDatabase.with { database in
            let migrations = try Migrator.bundled().migrations + [
                .init(version: "9999_extra", sql: "CREATE TABLE extra (id int); INSERT INTO extra VALUES (1);"),
            ]
            let applied = try await Migrator(migrations: migrations).migrate(database)
            #expect(applied == ["9999_extra"])
            let rows = try await database.query("SELECT count(*) FROM extra")
            #expect(try rows[0].decode(Int.self) == 1)
        }
    }

    @Test("a failing migration leaves nothing behind")
    func failingMigration() async throws {
        try await TestDatabase.with { database in
            let migrations = try Migrator.bundled().migrations + [
                .init(version: "9998_good", sql: "CREATE TABLE good (id int);"),
                .init(version: "9999_bad", sql: "CREATE TABLE bad (id int); SELECT no_such_function();"),
            ]
            await #expect(throws: (any Error).self) { try await Migrator(migrations: migrations).migrate(database) }
            let rows = try await database.query("SELECT to_regclass('good') IS NULL AND to_regclass('bad') IS NULL")
            #expect(try rows[0].decode(Bool.self))
        }
    }

    @Test("every function in a migrated database is its file's definition, and every function has a file")
    func functionsAreTheirFiles() async throws {
        try await TestDatabase.with { database in
            let files = try Migrator.bundled().functions
            let definitions: PostgresQuery = """
                SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = 'public'
                  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
                """
            func read(_ rows: PostgresRowSequence) async throws -> [String: String] {
                var found: [String: String] = [:]
                for try await (name, definition) in rows.decode((String, String).self) { found[name] = definition }
                return found
            }
            let live = try await read(try await database.client.query(definitions, logger: database.logger))
            #expect(Set(live.keys) == Set(files.map(\.version)))
            // Each file applied again (in a transaction rolled back) leaves every definition as it was.
            try await database.client.withConnection { connection in
                try await connection.query("BEGIN", logger: database.logger)
                for file in files {
                    for statement in SQLScript.statements(in: file.sql) {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: database.logger)
                    }
                }
                let again = try await read(try await connection.query(definitions, logger: database.logger))
                try await connection.query("ROLLBACK", logger: database.logger)
                for (name, definition) in live { #expect(again[name] == definition, "\(name)") }
            }
        }
    }

    @Test("a changed function file is applied on the next migrate, in the migrator's transaction, and reported")
    func changedFunction() async throws {
        try await TestDatabase.with { database in
            let bundled = try Migrator.bundled()
            var functions = bundled.functions
            let index = try #require(functions.firstIndex { $0.version == "switchboard_no_target" })
            functions[index] = .init(version: "switchboard_no_target", sql: functions[index].sql.replacingOccurrences(
                of: "which has no target", with: "which has no target (edited)"))
            let changed = try await Migrator(migrations: bundled.migrations, functions: functions).migrate(database)
            #expect(changed == ["function switchboard_no_target"])
            let body = try await database.query("SELECT prosrc FROM pg_proc WHERE proname = 'switchboard_no_target'")[0]
                .decode(String.self)
            #expect(body.contains("(edited)"))
            #expect(try await Migrator(migrations: bundled.migrations, functions: functions).migrate(database).isEmpty)
            // A file that does not apply leaves the function as it was.
            functions[index] = .init(version: "switchboard_no_target", sql: "CREATE OR REPLACE FUNCTION switchboard_no_target(")
            await #expect(throws: (any Error).self) {
                try await Migrator(migrations: bundled.migrations, functions: functions).migrate(database)
            }
            #expect(try await database.query("SELECT prosrc FROM pg_proc WHERE proname = 'switchboard_no_target'")[0]
                .decode(String.self).contains("(edited)"))
        }
    }

    @Test("splits scripts on semicolons outside quotes, dollar quotes and comments")
    func splitting() {
        let script = """
            CREATE TABLE a (x text DEFAULT 'a;b'); -- a comment; with a semicolon
            CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$;
            /* block; comment */ SELECT $tag$ ; $tag$;
            """
        let statements = SQLScript.statements(in: script)
        #expect(statements.count == 3)
        #expect(statements[1].hasSuffix("END $$"))
    }
}
