import Foundation
#if canImport(Glibc)
import Glibc
#endif
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SwitchboardCLI
import SwitchboardServer
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

/// Issue 33's holes, each closed: redirects, work before authorization, throttling, sessions, headers, CSV cells,
/// idempotency keys. (The texter's API boundary is `TexterBoundaryTests`; the embedded cluster and clean stops are
/// `CleanStopTests`.)
@Suite("Security: sign-in, forms and answers")
struct SecurityTests {
    static let password = "correct horse battery"

    struct Console: Sendable {
        let world: HTTPWorld
        let database: Database
    }

    /// The router over a fresh database whose users ada (organizer), kevin and rebecca have passwords.
    func withConsole(_ configure: (inout ServerSettings) -> Void = { _ in },
                     _ body: @escaping @Sendable (any TestClientProtocol, Console) async throws -> Void) async throws {
        try await TestDatabase.with { database in
            let world = try await HTTPWorld.make(database)
            let auth = ConsoleAuth(database, cost: 4)
            for handle in ["ada", "kevin", "rebecca"] {
                try await auth.setPassword(orgID: world.fixture.org.id, handle: handle, password: Self.password)
            }
            var settings = ServerSettings()
            settings.secureCookies = false
            settings.passwordCost = 4
            configure(&settings)
            let app = Application(router: buildRouter(database: database, settings: settings))
            try await app.test(.router) { client in try await body(client, Console(world: world, database: database)) }
        }
    }

    static func form(_ fields: [(String, String)]) -> ByteBuffer {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return ByteBuffer(string: fields.map { name, value in
            "\(name)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")"
        }.joined(separator: "&"))
    }

    func signIn(_ client: some TestClientProtocol, _ handle: String, password: String = SecurityTests.password,
                next: String = "/", headers extra: HTTPFields = [:]) async throws -> TestResponse {
        var headers = extra
        headers[.contentType] = "application/x-www-form-urlencoded"
        return try await client.execute(uri: "/sign-in", method: .post, headers: headers,
                                        body: Self.form([("handle", handle), ("password", password), ("next", next)]))
    }

    @Test("after sign-in only a path of this site is followed: //x, /\\x, /%09/x, https:x, /%2F%2Fx all go to /")
    func redirects() async throws {
        try await withConsole { client, _ in
            for bad in ["//evil.example", "/\\evil.example", "/\t/evil.example", "https:evil.example", "/%2F%2Fevil.example",
                        "/%5Cevil.example", "/%09/evil.example", "evil.example", "/\n/evil.example", "\\\\evil.example"] {
                let answer = try await signIn(client, "ada", next: bad)
                #expect(answer.status == .seeOther && answer.headers[.location] == "/", "\(bad.debugDescription)")
            }
            let good = try await signIn(client, "ada", next: "/campaigns/1?sender=kevin")
            #expect(good.headers[.location] == "/campaigns/1?sender=kevin")
            // The page carries the same rule into its hidden field.
            let page = try await client.execute(uri: "/sign-in?next=/%09/evil.example", method: .get)
            #expect(String(buffer: page.body).contains(#"name="next" value="/""#))
        }
    }

    @Test("a batch form's hidden 'back' field is held to the same rule")
    func backField() async throws {
        try await withConsole { client, console in
            let cookie = String(try #require(try await signIn(client, "ada").headers[.setCookie]).split(separator: ";")[0])
            let home = try await client.execute(uri: "/", method: .get, headers: [.cookie: cookie])
            let csrf = String(try #require(String(buffer: home.body).firstMatch(of: /name="csrf" value="([0-9a-f]+)"/)?.1))
            let c = console.world.fixture.campaign.id
            let answer = try await client.execute(
                uri: "/campaigns/\(c)/apply", method: .post,
                headers: [.cookie: cookie, .contentType: "application/x-www-form-urlencoded"],
                body: Self.form([("csrf", csrf), ("op", "reassign-all"), ("from", "unassigned"), ("status", "any"),
                                 ("to", "kevin"), ("back", "/\t/evil.example"), ("form_key", "k1")]))
            #expect(answer.status == .seeOther)
            let location = try #require(answer.headers[.location])
            #expect(location.hasPrefix("/?") && !location.contains("evil"), "\(location)")
            #expect(try await console.world.fixture.count(of: "kevin") == 6)
        }
    }

    @Test("sign-in, join and set-password refuse another site's form (Origin, Sec-Fetch-Site)")
    func loginCSRF() async throws {
        try await withConsole { client, console in
            let evil = try await signIn(client, "ada", headers: [HTTPField.Name("Origin")!: "https://evil.example"])
            #expect(evil.status == .forbidden && evil.headers[.setCookie] == nil)
            let crossSite = try await signIn(client, "ada", headers: [HTTPField.Name("Sec-Fetch-Site")!: "cross-site"])
            #expect(crossSite.status == .forbidden && crossSite.headers[.setCookie] == nil)
            let invite = try await InviteService(console.database).create(campaignID: console.world.fixture.campaign.id,
                                                                          actor: "ada").token
            let join = try await client.execute(
                uri: "/join/\(invite)", method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded", HTTPField.Name("Origin")!: "https://evil.example"],
                body: Self.form([("handle", "newbie"), ("name", "New"), ("password", "long enough password")]))
            #expect(join.status == .forbidden)
            #expect(try await console.database.query("SELECT count(*) FROM users WHERE handle = 'newbie'")[0].decode(Int.self) == 0)
            // The same site's page (the browser's own Origin, here behind a proxy that names the host) and a client
            // that sends none both pass.
            let same = try await signIn(client, "ada", headers: [HTTPField.Name("Origin")!: "https://texting.example.org",
                                                                 HTTPField.Name("X-Forwarded-Host")!: "texting.example.org"])
            #expect(same.status == .seeOther)
            #expect(try await signIn(client, "ada").status == .seeOther)
        }
    }

    @Test("20 concurrent wrong sign-ins for one handle: each is counted before it is checked, so at most 5 slip through")
    func throttlingRace() async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database)
            let auth = ConsoleAuth(database, cost: 4)
            try await auth.setPassword(orgID: f.org.id, handle: "ada", password: Self.password)
            let start = ContinuousClock.now
            let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        do {
                            _ = try await auth.signIn(organization: nil, handle: "ada", password: "a wrong password")
                            return "signed in"
                        } catch let error as SwitchboardError {
                            return error.code
                        }
                    }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            let elapsed = ContinuousClock.now - start
            let checked = outcomes.filter { $0 == "sign_in_failed" }.count
            let throttled = outcomes.filter { $0 == "slow_down" }.count
            #expect(checked + throttled == 20, "\(outcomes)")
            // Five tries pass at once, then one per pause (1 s, 2 s, 4 s…): never more than one a second after the
            // fifth, however slow or fast the machine ran the burst.
            #expect(checked <= 5 + Int(elapsed.components.seconds) + 1, "\(checked) checked in \(elapsed)")
            let failures = try await database.query("SELECT failures FROM sign_in_failures WHERE handle = 'ada'")[0]
                .decode(Int.self)
            #expect(failures == checked)
        }
    }

    @Test("per client address: sign-in, join and set-password share a bucket; the next try is a 429 with Retry-After")
    func addressBucket() async throws {
        try await withConsole({ $0.tries.burst = 3; $0.tries.perSecond = 0.001 }) { client, console in
            for _ in 0..<3 { #expect(try await signIn(client, "ada", password: "wrong password!").status == .unauthorized) }
            let throttled = try await signIn(client, "kevin")
            #expect(throttled.status == .tooManyRequests)
            #expect(String(buffer: throttled.body).contains("Too many tries from your address"))
            #expect(Int(throttled.headers[.retryAfter] ?? "") ?? 0 >= 1)
            let link = try await ConsoleAuth(console.database).passwordLink(orgID: console.world.fixture.org.id,
                                                                            handle: "kevin", actor: "ada")
            let set = try await client.execute(
                uri: "/set-password/\(link)", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: Self.form([("password", "another long one"), ("repeat", "another long one")]))
            #expect(set.status == .tooManyRequests)
        }
        // Behind a proxy, each client's own address (the last X-Forwarded-For entry) has its own bucket.
        try await withConsole({ $0.tries.burst = 1; $0.tries.perSecond = 0.001; $0.tries.behindProxy = true }) { client, _ async throws in
            let first: HTTPFields = [HTTPField.Name("X-Forwarded-For")!: "203.0.113.9, 198.51.100.1"]
            let second: HTTPFields = [HTTPField.Name("X-Forwarded-For")!: "198.51.100.2"]
            #expect(try await signIn(client, "ada", headers: first).status == .seeOther)
            #expect(try await signIn(client, "ada", headers: first).status == .tooManyRequests)
            #expect(try await signIn(client, "ada", headers: second).status == .seeOther)
        }
    }

    @Test("a join or set-password post with a dead token is refused before its password is looked at")
    func tokenBeforeHash() async throws {
        try await withConsole { client, _ in
            // A weak password would be refused by the hashing step; the dead link is found first.
            let join = try await client.execute(
                uri: "/join/inv_forged0000000000", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: Self.form([("handle", "newbie"), ("name", "New"), ("password", "short")]))
            #expect(join.status == .notFound && String(buffer: join.body).contains("invite link is not valid"))
            let set = try await client.execute(
                uri: "/set-password/pw_forged0000000000", method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded"],
                body: Self.form([("password", "short"), ("repeat", "short")]))
            #expect(set.status == .notFound && String(buffer: set.body).contains("set-password link is not valid"))
        }
    }

    @Test("at most a bounded number of password hashes wait or run at once; beyond it, 'busy' at once")
    func bcryptBound() async throws {
        // A gate of its own, so that the rest of the run's sign-ins neither count here nor are refused.
        let gate = HashGate(backlog: 3)
        let held = DispatchSemaphore(value: 0)
        let extra = 5
        let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<(gate.backlog + extra) {
                group.addTask {
                    do {
                        _ = try await ConsoleAuth.offload(gate: gate) { held.wait() }
                        return true
                    } catch let error as SwitchboardError where error.code == "busy" {
                        return false
                    }
                }
            }
            var done: [Bool] = []
            // The refused ones answer without waiting for a hash; then the held ones are let go.
            for try await outcome in group {
                done.append(outcome)
                if done.filter({ !$0 }).count == extra && !outcome {
                    for _ in 0..<gate.backlog { held.signal() }
                }
            }
            return done
        }
        #expect(outcomes.filter { !$0 }.count == extra && outcomes.filter { $0 }.count == gate.backlog)
        #expect(HashGate.shared.backlog >= 64)
    }

    @Test("a form is authorized before its body is read: an upload's token travels in its query or header")
    func uploadAuthorizedFirst() async throws {
        try await withConsole { client, console in
            let cookie = String(try #require(try await signIn(client, "ada").headers[.setCookie]).split(separator: ";")[0])
            let c = console.world.fixture.campaign.id
            // A boundary longer than RFC 2046's 70 bytes is refused, and nothing is imported.
            let home = try await client.execute(uri: "/", method: .get, headers: [.cookie: cookie])
            let csrf = String(try #require(String(buffer: home.body).firstMatch(of: /name="csrf" value="([0-9a-f]+)"/)?.1))
            let boundary = String(repeating: "b", count: 71)
            let long = try await client.execute(
                uri: "/campaigns/\(c)/contacts?csrf=\(csrf)", method: .post,
                headers: [.cookie: cookie, .contentType: "multipart/form-data; boundary=\(boundary)"],
                body: ByteBuffer(string: "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nphone,name\n+15550109001,A\r\n--\(boundary)--\r\n"))
            #expect(long.status == .unprocessableContent && String(buffer: long.body).contains("71 bytes"))
            // A texter's session is refused before any body is read, with or without a token.
            let kevin = String(try #require(try await signIn(client, "kevin").headers[.setCookie]).split(separator: ";")[0])
            let texter = try await client.execute(uri: "/campaigns/\(c)/contacts", method: .post,
                                                  headers: [.cookie: kevin, .contentType: "text/csv"],
                                                  body: ByteBuffer(string: "phone,name\n+15550109001,A\n"))
            #expect(texter.status == .forbidden)
            #expect(try await console.world.fixture.count(of: nil) == 6)
        }
    }

    @Test("every answer carries the security headers: CSP with frame-ancestors, nosniff, Referrer-Policy")
    func headers() async throws {
        try await withConsole { client, console in
            for uri in ["/sign-in", "/static/app.css", "/healthz", "/v1/campaigns/1", "/no-such-page"] {
                let answer = try await client.execute(uri: uri, method: .get)
                let csp = answer.headers[HTTPField.Name("Content-Security-Policy")!] ?? ""
                #expect(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'self'"), "\(uri)")
                #expect(answer.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff", "\(uri)")
                #expect(answer.headers[HTTPField.Name("Referrer-Policy")!] == "same-origin", "\(uri)")
            }
            _ = console
        }
    }

    @Test("an empty or over-long Idempotency-Key is a 400 that names the header, and nothing changes")
    func idempotencyKeyBounds() async throws {
        try await withAPI { client, w, database in
            let c = w.fixture.campaign.id
            for key in ["", String(repeating: "k", count: 201)] {
                let reply = try await client.call(.post, "/v1/campaigns/\(c)/reassign-all", token: w.ada,
                                                  #"{"source": {"unassigned": true}, "to": "all"}"#,
                                                  headers: [HTTPField.Name("Idempotency-Key")!: key])
                #expect(reply.status == .badRequest && reply.text.contains("Idempotency-Key"), "\(reply.text)")
            }
            let release = try await client.call(.post, "/v1/campaigns/\(c)/release", token: w.kevin,
                                                headers: [HTTPField.Name("Idempotency-Key")!: ""])
            #expect(release.status == .badRequest)
            #expect(try await w.fixture.count(of: nil) == 6)
            #expect(try await database.query("SELECT count(*) FROM assignment_batches")[0].decode(Int.self) == 0)
        }
    }

    @Test("secrets compare whole: same, different, another length, or none")
    func sameSecret() {
        #expect(ConsoleAuth.sameSecret("abc123", "abc123"))
        #expect(!ConsoleAuth.sameSecret("abc124", "abc123"))
        #expect(!ConsoleAuth.sameSecret("abc1234", "abc123"))
        #expect(!ConsoleAuth.sameSecret(nil, "abc123"))
        #expect(!ConsoleAuth.sameSecret("", "abc123"))
    }
}
