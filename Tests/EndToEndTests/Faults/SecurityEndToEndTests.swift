import Foundation
#if canImport(Glibc)
import Glibc
#endif
import HTTPTypes
import Hummingbird
import SwitchboardCLI
import SwitchboardServer
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

/// Issue 33's checks that need a process or a socket: an upload refused before its body arrives, and the CLI's
/// password and token commands as a person runs them.
@Suite("Security: over sockets and processes")
struct SecurityEndToEndTests {
    static let password = "correct horse battery"

    @Test("a declared 60 MiB upload without a token is refused at once, before its body arrives")
    func refusedBeforeTheBody() async throws {
        try await TestDatabase.with { database in
            let world = try await HTTPWorld.make(database)
            try await ConsoleAuth(database, cost: 4).setPassword(orgID: world.fixture.org.id, handle: "ada",
                                                                 password: Self.password)
            var settings = ServerSettings()
            settings.secureCookies = false
            try await withLiveServer(database, settings: settings) { live in
                let (token, _) = try await ConsoleAuth(database).openSession(
                    for: try await Directory(database).user(orgID: world.fixture.org.id, handle: "ada"))
                let boundary = "xyz"
                // The socket's reads block their thread: off the cooperative pool, which the server's handlers share.
                let answer = try await offPool {
                    let connection = try RawConnection(port: live.port)
                    defer { connection.close() }
                    connection.send("POST /campaigns/\(world.fixture.campaign.id)/contacts HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                    + "Cookie: sb_session=\(token)\r\nContent-Type: multipart/form-data; boundary=\(boundary)\r\n"
                                    + "Content-Length: \(60 << 20)\r\n\r\n")
                    // 64 KiB of the 60 MiB, and no more: a server that read the body first would wait for the rest.
                    connection.send("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n\r\n"
                                    + String(repeating: "+15550100000,Somebody\n", count: 3000))
                    return String(decoding: connection.readData(for: 60) { $0.range(of: Data("\r\n\r\n".utf8)) != nil },
                                  as: UTF8.self)
                }
                #expect(answer.hasPrefix("HTTP/1.1 403"), "\(answer.prefix(200))")
            }
            #expect(try await world.fixture.count(of: nil) == 6)
        }
    }

    @Test("switchboard user password (stdin) ends the user's sessions")
    func passwordFromTheCLI() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database)
            let auth = ConsoleAuth(database, cost: 4)
            let (token, _) = try await auth.openSession(for: try await Directory(database).user(orgID: f.org.id, handle: "kevin"))
            let run = try await SwitchboardBinary.run(["user", "password", "--org", "Acme", "kevin",
                                                       "--database-url", database.url.connectionString],
                                                      input: "a brand new password\n")
            #expect(run.status == 0, "\(run)")
            #expect(try await auth.session(token: token) == nil)
        }
    }

    @Test("token create --expires-in: the token works until then; a bad span is exit 2 and creates nothing")
    func tokenExpiry() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database)
            let url = database.url.connectionString
            let run = try await SwitchboardBinary.run(["token", "create", "--org", "Acme", "--user", "kevin",
                                                       "--expires-in", "90d", "--json", "--database-url", url])
            #expect(run.status == 0, "\(run)")
            let token = try #require((try JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [String: Any])?["token"] as? String)
            let directory = Directory(database)
            #expect(try await directory.authenticate(token: token)?.handle == "kevin")
            let days = try await database.query("""
                SELECT round(extract(epoch FROM expires_at - now()) / 86400)::int FROM api_tokens
                """)[0].decode(Int.self)
            #expect(days == 90)
            try await database.query("UPDATE api_tokens SET expires_at = now() - interval '1 second'")
            #expect(try await directory.authenticate(token: token) == nil)
            for bad in ["90", "90x", "-1d", "0d", "d"] {
                #expect(await Switchboard.main(arguments: ["token", "create", "--org", "Acme", "--user", "kevin",
                                                           "--expires-in", bad, "--database-url", url]) == 2, "\(bad)")
            }
            #expect(try await database.query("SELECT count(*) FROM api_tokens")[0].decode(Int.self) == 1)
            _ = f
        }
    }
}
