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
