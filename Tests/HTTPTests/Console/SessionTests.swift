import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SwitchboardCLI
import SwitchboardServer
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

@Suite("Console: sign-in, sessions, isolation")
struct SessionTests {
    static let password = "correct horse battery"

    func signIn(_ client: some TestClientProtocol, _ handle: String, _ password: String = SessionTests.password,
                organization: String = "") async throws -> (status: HTTPResponse.Status, cookie: String?, body: String) {
        let body = "organization=\(organization)&handle=\(handle)&password=\(password.replacingOccurrences(of: " ", with: "+"))&next=/"
        let response = try await client.execute(uri: "/sign-in", method: .post,
                                                headers: [.contentType: "application/x-www-form-urlencoded"],
                                                body: ByteBuffer(string: body))
        return (response.status, response.headers[.setCookie], String(buffer: response.body))
    }

    func page(_ client: some TestClientProtocol, _ uri: String, cookie: String) async throws -> (HTTPResponse.Status, String) {
        let token = cookie.split(separator: ";")[0]
        let response = try await client.execute(uri: uri, method: .get, headers: [.cookie: String(token)])
        return (response.status, String(buffer: response.body))
    }

    @Test("cookies are HttpOnly, SameSite=Lax and Secure unless told otherwise; sessions live in PostgreSQL and idle out")
    func cookies() async throws {
        try await TestDatabase.with { database in
            let world = try await HTTPWorld.make(database)
            try await ConsoleAuth(database, cost: 4).setPassword(orgID: world.fixture.org.id, handle: "ada", password: Self.password)
            let secure = Application(router: buildRouter(database: database))
            let cookie = try await secure.test(.router) { client in
                let answer = try await signIn(client, "ada")
                #expect(answer.status == .seeOther)
                let cookie = try #require(answer.cookie)
                #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Secure"))
                return cookie
            }
            // Another server (a restart, or a second process) knows the session.
            var settings = ServerSettings()
            settings.secureCookies = false
            let plain = Application(router: buildRouter(database: database, settings: settings))
            try await plain.test(.router) { client in
                let (status, body) = try await page(client, "/campaigns/\(world.fixture.campaign.id)", cookie: cookie)
                #expect(status == .ok && body.contains("Conversations Overview"))
                #expect(try await signIn(client, "ada").cookie?.contains("Secure") == false)
                // Twelve hours idle: gone.
                try await database.query("UPDATE web_sessions SET last_seen_at = now() - interval '13 hours'")
                let (after, _) = try await page(client, "/campaigns/\(world.fixture.campaign.id)", cookie: cookie)
                #expect(after == .seeOther)
            }
        }
    }

    @Test("after 5 failures a handle waits, 1 s and doubling (429, Retry-After); an unknown handle gets the same sentence")
    func throttle() async throws {
        try await TestDatabase.with { database in
            let world = try await HTTPWorld.make(database)
            try await ConsoleAuth(database, cost: 4).setPassword(orgID: world.fixture.org.id, handle: "ada", password: Self.password)
            let app = Application(router: buildRouter(database: database))
            try await app.test(.router) { client in
                let unknown = try await signIn(client, "nobody", "whatever-it-is")
                let wrong = try await signIn(client, "ada", "not-the-password")
                #expect(unknown.status == .unauthorized && wrong.status == .unauthorized)
                #expect(unknown.body.contains("The handle or password is not right."))
                #expect(wrong.body.contains("The handle or password is not right."))
                for _ in 0..<4 { _ = try await signIn(client, "ada", "not-the-password") }
                let failures = { try await database.query("SELECT failures FROM sign_in_failures WHERE handle = 'ada'")
                    .first?.decode(Int.self) }
                #expect(try await failures() == 5)
                // On a machine busy with the whole run, the next try can come more than a second after the fifth
                // failure: date that failure to the moment of the try, so the pause is tested, not the machine.
                try await database.query("UPDATE sign_in_failures SET last_failure_at = now() + interval '1 minute' WHERE handle = 'ada'")
                let waiting = try await signIn(client, "ada")
                #expect(waiting.status == .tooManyRequests)
                #expect(waiting.cookie == nil && waiting.body.contains("Too many failed sign-ins for this handle; wait"))
                // The refused try is not a failure of its own, and once the pause has passed the right password works.
                #expect(try await failures() == 5)
                try await database.query("UPDATE sign_in_failures SET last_failure_at = now() - interval '1.1 seconds' WHERE handle = 'ada'")
                #expect(try await signIn(client, "ada").status == .seeOther)
                #expect(try await failures() == nil)
                // The pause doubles with each failure past the fifth: after 8 failures it is 8 seconds, so a try 5
                // seconds after the last failure still waits (the remaining seconds in the sentence), one 8 later passes.
                try await database.query("""
                    INSERT INTO sign_in_failures (handle, failures, last_failure_at)
                    VALUES ('ada', 8, now() - interval '5 seconds')
                    """)
                let doubled = try await signIn(client, "ada")
                #expect(doubled.status == .tooManyRequests && doubled.body.contains(" seconds and try again"))
                try await database.query("UPDATE sign_in_failures SET last_failure_at = now() - interval '8.1 seconds' WHERE handle = 'ada'")
                #expect(try await signIn(client, "ada").status == .seeOther)
            }
        }
    }

    @Test("another organization's campaign is a 404; a texter gets 403 on organizer pages; sign-out deletes the session")
    func isolation() async throws {
        try await TestDatabase.with { database in
            let world = try await HTTPWorld.make(database)
            let auth = ConsoleAuth(database, cost: 4)
            try await auth.setPassword(orgID: world.other.org.id, handle: "olga", password: Self.password)
            try await auth.setPassword(orgID: world.fixture.org.id, handle: "kevin", password: Self.password)
            let app = Application(router: buildRouter(database: database))
            try await app.test(.router) { client in
                let olga = try #require(try await signIn(client, "olga").cookie)
                let (status, body) = try await page(client, "/campaigns/\(world.fixture.campaign.id)", cookie: olga)
                #expect(status == .notFound && body.contains("does not exist"), "\(status)")
                let kevin = try #require(try await signIn(client, "kevin").cookie)
                #expect(try await page(client, "/campaigns/\(world.fixture.campaign.id)/history", cookie: kevin).0 == .forbidden)
                #expect(try await page(client, "/campaigns/new", cookie: kevin).0 == .forbidden)
                let before = try await database.query("SELECT count(*) FROM web_sessions")[0].decode(Int.self)
                let token = kevin.split(separator: ";")[0]
                // Sign out needs the session's CSRF token, like every other form.
                let refused = try await client.execute(uri: "/sign-out", method: .post,
                                                       headers: [.cookie: String(token),
                                                                 .contentType: "application/x-www-form-urlencoded"],
                                                       body: ByteBuffer(string: "csrf=wrong"))
                #expect(refused.status == .forbidden)
                let csrf = try await database.query("SELECT csrf_token FROM web_sessions ORDER BY created_at DESC LIMIT 1")[0]
                    .decode(String.self)
                let out = try await client.execute(uri: "/sign-out", method: .post,
                                                   headers: [.cookie: String(token),
                                                             .contentType: "application/x-www-form-urlencoded"],
                                                   body: ByteBuffer(string: "csrf=\(csrf)"))
                #expect(out.status == .seeOther)
                #expect(try await database.query("SELECT count(*) FROM web_sessions")[0].decode(Int.self) == before - 1)
            }
        }
    }

    @Test("Bulk Unassign All: every sender's conversations of a status back to Unassigned, confirmed with a token")
    func bulkUnassign() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database)
            _ = try await AssignmentService(database).reassignAll(f.request(.unassigned, .allActive))
            let service = AssignmentService(database)
            let preview = try await service.previewUnassignAll(campaignID: f.campaign.id, from: nil, status: .any, actor: "ada")
            #expect(preview.count == 6)
            await #expect(throws: SwitchboardError.self) {
                _ = try await service.unassignAll(campaignID: f.campaign.id, from: "kevin", status: .any, actor: "ada",
                                                  confirmationToken: preview.confirmationToken)
            }
            let result = try await service.unassignAll(campaignID: f.campaign.id, from: nil, status: .any, actor: "ada",
                                                       confirmationToken: preview.confirmationToken)
            #expect(result.moved == 6 && result.removedBySender == ["kevin": 3, "rebecca": 3])
            #expect(try await f.count(of: nil) == 6)
            #expect(try await f.countsAddUp())
            let url = database.url.connectionString
            _ = try await AssignmentService(database).reassignAll(f.request(.unassigned, .allActive))
            #expect(await Switchboard.main(arguments: ["unassign-all", "--campaign", "\(f.campaign.id)", "--from-anyone",
                                                       "--yes", "--database-url", url]) == 0)
            #expect(try await f.count(of: nil) == 6)
            #expect(await Switchboard.main(arguments: ["unassign-all", "--campaign", "\(f.campaign.id)", "--from", "kevin",
                                                       "--from-anyone", "--yes", "--database-url", url]) == 2)
        }
    }

    @Test("History pages by 100 batches, newest first, with a link to older ones")
    func historyPages() async throws {
        try await TestDatabase.with { database in
            let world = try await HTTPWorld.make(database)
            try await ConsoleAuth(database, cost: 4).setPassword(orgID: world.fixture.org.id, handle: "ada",
                                                                 password: Self.password)
            let id = try await world.fixture.conversationIDs()[0]
            for index in 0..<101 {
                _ = try await AssignmentService(database).reassign(conversationID: id, to: index % 2 == 0 ? "kevin" : nil,
                                                                   actor: "ada")
            }
            let app = Application(router: buildRouter(database: database))
            try await app.test(.router) { client in
                let cookie = try #require(try await signIn(client, "ada").cookie)
                let (status, first) = try await page(client, "/campaigns/\(world.fixture.campaign.id)/history", cookie: cookie)
                #expect(status == .ok)
                #expect(first.components(separatedBy: "<tr><td>").count - 1 == 100)
                let older = try #require(first.range(of: #"history\?before=\d+"#, options: .regularExpression))
                let (_, second) = try await page(client, "/campaigns/\(world.fixture.campaign.id)/\(first[older])",
                                                 cookie: cookie)
                #expect(second.components(separatedBy: "<tr><td>").count - 1 == 1)
                #expect(!second.contains("Older batches"))
            }
        }
    }
}
