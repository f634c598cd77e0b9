import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SwitchboardServer
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

/// The messenger's and setup pages' rules, over HTTP (the browser suite walks the same pages in Chromium).
@Suite("Console: messenger and setup over HTTP")
struct MessengerTests {
    static let password = "correct horse battery"

    /// A signed-in browser-like client: its cookie and its CSRF token (read from a page).
    struct Signed {
        let cookie: String
        let csrf: String
    }

    func signIn(_ client: some TestClientProtocol, _ handle: String) async throws -> Signed {
        let response = try await client.execute(
            uri: "/sign-in", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
            body: ByteBuffer(string: "handle=\(handle)&password=\(Self.password.replacingOccurrences(of: " ", with: "+"))"))
        let cookie = String(try #require(response.headers[.setCookie]).split(separator: ";")[0])
        let page = try await client.execute(uri: "/", method: .get, headers: [.cookie: cookie])
        let html = String(buffer: page.body)
        let csrf = try #require(html.firstMatch(of: /name="csrf" value="([0-9a-f]+)"/)?.1)
        return Signed(cookie: cookie, csrf: String(csrf))
    }

    func get(_ client: some TestClientProtocol, _ uri: String, _ who: Signed) async throws -> (HTTPResponse.Status, String) {
        let response = try await client.execute(uri: uri, method: .get, headers: [.cookie: who.cookie])
        return (response.status, String(buffer: response.body))
    }

    func post(_ client: some TestClientProtocol, _ uri: String, _ who: Signed, _ form: String) async throws
        -> (status: HTTPResponse.Status, location: String?, body: String)
    {
        let response = try await client.execute(
            uri: uri, method: .post, headers: [.cookie: who.cookie, .contentType: "application/x-www-form-urlencoded"],
            body: ByteBuffer(string: "csrf=\(who.csrf)&" + form))
        return (response.status, response.headers[.location], String(buffer: response.body))
    }

    func withConsole(_ body: @escaping @Sendable (any TestClientProtocol, HTTPWorld, Database) async throws -> Void) async throws {
        try await TestDatabase.with { database in
            let world = try await HTTPWorld.make(database)
            let auth = ConsoleAuth(database, cost: 4)
            for handle in ["ada", "kevin", "rebecca"] {
                try await auth.setPassword(orgID: world.fixture.org.id, handle: handle, password: Self.password)
            }
            try await auth.setPassword(orgID: world.other.org.id, handle: "olga", password: Self.password)
            var settings = ServerSettings()
            settings.secureCookies = false
            settings.passwordCost = 4
            let app = Application(router: buildRouter(database: database, settings: settings))
            try await app.test(.router) { client in try await body(client, world, database) }
        }
    }

    func selfAssignBatches(_ database: Database, _ campaign: Int64) async throws -> Int {
        try await database.query("""
            SELECT count(*) FROM assignment_batches WHERE campaign_id = \(campaign) AND kind = 'self_assign'
            """)[0].decode(Int.self)
    }

    @Test("Request Conversations sent twice with one form, even at once, grants one batch; a refusal is a sentence")
    func requestOnce() async throws {
        try await withConsole { client, w, database in
            let c = w.fixture.campaign.id
            let kevin = try await signIn(client, "kevin")
            let (status, page) = try await get(client, "/campaigns/\(c)/queue", kevin)
            #expect(status == .ok && page.contains("Request Conversations") && page.contains("Up next: 6 conversations"))
            let key = try #require(page.firstMatch(of: /name="form_key" value="([0-9a-f]+)"/)?.1)
            let answers = try await withThrowingTaskGroup(of: String?.self) { group in
                for _ in 0..<2 {
                    group.addTask { try await post(client, "/campaigns/\(c)/request", kevin, "form_key=\(key)").location }
                }
                return try await group.reduce(into: [String?]()) { $0.append($1) }
            }
            #expect(answers.allSatisfy { $0?.contains("granted=2") == true }, "\(answers)")
            #expect(try await selfAssignBatches(database, c) == 1)
            #expect(try await w.fixture.count(of: "kevin") == 2)
            let (_, after) = try await get(client, "/campaigns/\(c)/queue?filter=not-started&granted=2", kevin)
            #expect(after.contains("2 conversations arrived.") && after.contains("Not Started <span class=\"count\">2</span>"))
            // Release, after its confirmation page: both go back to the pool, once however often it is sent.
            let (confirmStatus, confirm) = try await get(client, "/campaigns/\(c)/release", kevin)
            #expect(confirmStatus == .ok && confirm.contains("Give your 2 conversations that are Not Started back"))
            let releaseKey = try #require(confirm.firstMatch(of: /name="form_key" value="([0-9a-f]+)"/)?.1)
            for _ in 0..<2 {
                let released = try await post(client, "/campaigns/\(c)/release", kevin, "form_key=\(releaseKey)")
                #expect(released.location?.contains("released=2") == true, "\(String(describing: released.location))")
            }
            #expect(try await w.fixture.count(of: "kevin") == 0)
            #expect(try await database.query("""
                SELECT count(*) FROM assignment_batches WHERE campaign_id = \(c) AND kind = 'release'
                """)[0].decode(Int.self) == 1)
            // Self-assign off: the button is gone, and a stale form gets the sentence, not an error page.
            _ = try await CampaignService(database).update(id: c, selfAssign: false)
            let refused = try await post(client, "/campaigns/\(c)/request", kevin, "form_key=fresh")
            #expect(refused.location?.contains("refused=self_assign_disabled") == true)
            let (_, text) = try await get(client, refused.location ?? "", kevin)
            #expect(text.contains("Campaign \(c) does not allow self-assign.") && !text.contains(">Request Conversations<"))
        }
    }

    @Test("a texter opens their own and unassigned conversations, not another's (403) nor another organization's (404)")
    func isolation() async throws {
        try await withConsole { client, w, database in
            let c = w.fixture.campaign.id
            _ = try await w.fixture.assignments.reassignSome(w.fixture.request(.unassigned, .senders(["rebecca"]), count: 1))
            let rebeccas = try await database.query("""
                SELECT c.id FROM conversations c JOIN users u ON u.id = c.assignee_id WHERE u.handle = 'rebecca' AND c.campaign_id = \(c)
                """)[0].decode(Int64.self)
            let unassigned = try await database.query("""
                SELECT id FROM conversations WHERE campaign_id = \(c) AND assignee_id IS NULL ORDER BY id LIMIT 1
                """)[0].decode(Int64.self)
            let foreign = try await database.query("""
                SELECT id FROM conversations WHERE campaign_id = \(w.other.campaign.id) LIMIT 1
                """)[0].decode(Int64.self)
            let kevin = try await signIn(client, "kevin")
            #expect(try await get(client, "/conversations/\(rebeccas)", kevin).0 == .forbidden)
            #expect(try await post(client, "/conversations/\(rebeccas)/reply", kevin, "body=Mine+now").status == .forbidden)
            #expect(try await get(client, "/conversations/\(foreign)", kevin).0 == .notFound)
            #expect(try await get(client, "/campaigns/\(w.other.campaign.id)/queue", kevin).0 == .notFound)
            #expect(try await get(client, "/campaigns/\(c)/queue?as=rebecca", kevin).0 == .forbidden)
            #expect(try await get(client, "/campaigns/\(c)/senders", kevin).0 == .forbidden)
            // Reply and leave unassigned on an unassigned one: recorded, still unassigned; a plain reply claims it.
            let (status, page) = try await get(client, "/conversations/\(unassigned)", kevin)
            #expect(status == .ok && page.contains("Reply and leave unassigned"))
            let left = try await post(client, "/conversations/\(unassigned)/reply", kevin, "form_key=a&action=leave&body=Hello+there")
            #expect(left.status == .seeOther)
            #expect(try await ConversationService(database).conversation(id: unassigned).assignee == nil)
            _ = try await post(client, "/conversations/\(unassigned)/reply", kevin, "form_key=b&action=reply&body=Taking+it")
            #expect(try await ConversationService(database).conversation(id: unassigned).assignee == "kevin")
            #expect(try await MessageService(database).messages(conversationID: unassigned).count == 2)
            // A reply with the same form again records nothing more.
            _ = try await post(client, "/conversations/\(unassigned)/reply", kevin, "form_key=b&action=reply&body=Taking+it")
            #expect(try await MessageService(database).messages(conversationID: unassigned).count == 2)
            // Opening it as its assignee clears unread.
            _ = try await MessageService(database).record(.conversation(unassigned), direction: .inbound, body: "Sure")
            #expect(try await ConversationService(database).conversation(id: unassigned).unread)
            _ = try await get(client, "/conversations/\(unassigned)", kevin)
            #expect(try await ConversationService(database).conversation(id: unassigned).unread == false)
            // Close, then Release with its confirmation page.
            #expect(try await post(client, "/conversations/\(unassigned)/close", kevin, "").status == .seeOther)
            #expect(try await ConversationService(database).conversation(id: unassigned).status == .closed)
        }
    }

    @Test("settings, senders, invites and users pages: refusals named, nothing half-done")
    func setup() async throws {
        try await withConsole { client, w, database in
            let c = w.fixture.campaign.id
            let ada = try await signIn(client, "ada")
            // A new campaign: refused with the CLI's sentence and nothing created, then created.
            let campaigns = try await database.query("SELECT count(*) FROM campaigns")[0].decode(Int.self)
            let refusedNew = try await post(client, "/campaigns/new", ada, "name=Spring&self_assign=on&batch_size=0")
            #expect(refusedNew.status == .unprocessableContent && refusedNew.body.contains("Batch size 0 is out of range")
                    && refusedNew.body.contains("value=\"Spring\""))
            #expect(try await database.query("SELECT count(*) FROM campaigns")[0].decode(Int.self) == campaigns)
            let made = try await post(client, "/campaigns/new", ada, "name=Spring+drive&self_assign=on&batch_size=25")
            #expect(made.status == .seeOther && made.location?.hasSuffix("/settings?saved=created") == true)
            let spring = try await database.query("SELECT self_assign, batch_size FROM campaigns WHERE name = 'Spring drive'")
            let (selfAssign, batchSize) = try #require(try spring.first?.decode((Bool, Int).self))
            #expect(selfAssign && batchSize == 25)
            let bad = try await post(client, "/campaigns/\(c)/settings", ada, "self_assign=on&batch_size=9000&require_finished_batch=on")
            #expect(bad.status == .unprocessableContent && bad.body.contains("Batch size 9000 is out of range"))
            let words = try await post(client, "/campaigns/\(c)/settings", ada, "batch_size=lots")
            #expect(words.status == .unprocessableContent && words.body.contains("Batch size &#39;lots&#39; is not a whole number")
                || words.body.contains("Batch size 'lots' is not a whole number"))
            #expect(try await CampaignService(database).campaign(id: c).settings.batchSize == 2)
            _ = try await post(client, "/campaigns/\(c)/settings", ada, "self_assign=on&batch_size=5&max_open=7")
            let settings = try await CampaignService(database).campaign(id: c).settings
            #expect(settings == SelfAssignSettings(selfAssign: true, batchSize: 5, maxOpen: 7, requireFinishedBatch: false))
            // Senders: deactivate, reactivate, add zed; an unknown handle is named and adds no one.
            _ = try await post(client, "/campaigns/\(c)/senders", ada, "action=deactivate&handle=rebecca")
            #expect(try await SenderService(database).isActiveSender(campaignID: c, userID: try await Directory(database).user(orgID: w.fixture.org.id, handle: "rebecca").id) == false)
            _ = try await post(client, "/campaigns/\(c)/senders", ada, "action=reactivate&handle=rebecca")
            let unknown = try await post(client, "/campaigns/\(c)/senders", ada, "action=add&handle=zed&handle=nobody")
            #expect(unknown.status == .unprocessableContent && unknown.body.contains("nobody"))
            #expect(try await SenderService(database).list(campaignID: c).senders.map(\.handle) == ["kevin", "rebecca"])
            let (_, search) = try await get(client, "/campaigns/\(c)/senders?q=ze", ada)
            #expect(search.contains("value=\"zed\""))
            _ = try await post(client, "/campaigns/\(c)/senders", ada, "action=add&handle=zed")
            #expect(try await SenderService(database).list(campaignID: c).senders.map(\.handle) == ["kevin", "rebecca", "zed"])
            // Invites: create shows the link once; revoke.
            let created = try await post(client, "/campaigns/\(c)/invites", ada, "days=3")
            let link = try #require(created.body.firstMatch(of: /\/join\/(inv_[0-9a-f]+)/)?.1)
            #expect(try await InviteService(database).campaign(token: String(link)).id == c)
            let invite = try await InviteService(database).list(campaignID: c)[0]
            _ = try await post(client, "/invites/\(invite.id)/revoke", ada, "")
            let (revokedStatus, revokedPage) = try await get(client, "/join/\(link)", ada)
            #expect(revokedStatus == .notFound && revokedPage.contains("not valid"))
            // Another organization's organizer cannot revoke ours or see our pages.
            let olga = try await signIn(client, "olga")
            #expect(try await post(client, "/invites/\(invite.id)/revoke", olga, "").status == .notFound)
            #expect(try await get(client, "/campaigns/\(c)/settings", olga).0 == .notFound)
            // Users: organizers may not; admins add a user and get a one-time link.
            #expect(try await get(client, "/users", ada).0 == .forbidden)
            try await database.query("UPDATE users SET role = 'admin' WHERE handle = 'ada'")
            let added = try await post(client, "/users", ada, "handle=newbie&name=New+Bie&role=organizer")
            let setLink = try #require(added.body.firstMatch(of: /\/set-password\/(pw_[0-9a-f]+)/)?.1)
            #expect(try await Directory(database).user(orgID: w.fixture.org.id, handle: "newbie").role == .organizer)
            let taken = try await post(client, "/users", ada, "handle=kevin&role=texter")
            #expect(taken.status == .unprocessableContent && taken.body.contains("already exists"))
            let set = try await client.execute(uri: "/set-password/\(setLink)", method: .post,
                                               headers: [.contentType: "application/x-www-form-urlencoded"],
                                               body: ByteBuffer(string: "password=brand+new+pass&repeat=brand+new+pass"))
            #expect(set.status == .seeOther && set.headers[.setCookie] != nil)
            let again = try await client.execute(uri: "/set-password/\(setLink)", method: .get)
            #expect(again.status == .notFound)
            _ = try await Directory(database).createToken(orgID: w.fixture.org.id, handle: "newbie")
            _ = try await post(client, "/users/newbie/revoke-tokens", ada, "")
            #expect(try await Directory(database).members(orgID: w.fixture.org.id).first { $0.user.handle == "newbie" }?.liveTokens == 0)
        }
    }

    @Test("with 120 senders the Senders table shows 100 (and the chosen one), finds by handle or name, or shows all")
    func manySenders() async throws {
        try await TestDatabase.with { database in
            let handles = (0..<120).map { String(format: "s%03d", $0) }
            let f = try await Fixture.make(database, senders: handles, conversations: 10)
            try await ConsoleAuth(database, cost: 4).setPassword(orgID: f.org.id, handle: "ada", password: Self.password)
            var settings = ServerSettings()
            settings.secureCookies = false
            let app = Application(router: buildRouter(database: database, settings: settings))
            try await app.test(.router) { client in
                let ada = try await signIn(client, "ada")
                func rows(_ html: String) -> Int { html.matches(of: /<th scope="row">/).count - 1 }
                let (_, first) = try await get(client, "/campaigns/\(f.campaign.id)", ada)
                #expect(rows(first) == 100 && first.contains("Showing 100 of 120 senders."))
                let (_, chosen) = try await get(client, "/campaigns/\(f.campaign.id)?sender=s119", ada)
                #expect(rows(chosen) == 101 && chosen.contains("(s119)"))
                let (_, all) = try await get(client, "/campaigns/\(f.campaign.id)?all=1", ada)
                #expect(rows(all) == 120 && !all.contains("Showing"))
                let (_, found) = try await get(client, "/campaigns/\(f.campaign.id)?find=S11", ada)
                #expect(rows(found) == 10 && found.contains("(s110)") && found.contains("(s119)"))
            }
        }
    }

    @Test("a contacts upload is all or nothing: a bad phone names its line and imports nothing; multipart and raw both work")
    func upload() async throws {
        try await withConsole { client, w, database in
            let c = w.fixture.campaign.id
            let ada = try await signIn(client, "ada")
            // The form without script posts multipart with its token in the query (`?csrf=`), so that the token is
            // checked before the body is read; a token only in the body (`inBody`) is not looked at.
            func send(_ csv: String, multipart: Bool, csrf: String? = nil, inBody: Bool = false) async throws
                -> (HTTPResponse.Status, String)
            {
                let token = csrf ?? ada.csrf
                if multipart {
                    let boundary = "----switchboard-test"
                    let body = """
                        --\(boundary)\r
                        Content-Disposition: form-data; name="csrf"\r
                        \r
                        \(token)\r
                        --\(boundary)\r
                        Content-Disposition: form-data; name="file"; filename="people.csv"\r
                        Content-Type: text/csv\r
                        \r
                        \(csv)\r
                        --\(boundary)--\r

                        """
                    let response = try await client.execute(
                        uri: "/campaigns/\(c)/contacts" + (inBody ? "" : "?csrf=\(token)"), method: .post,
                        headers: [.cookie: ada.cookie, .contentType: "multipart/form-data; boundary=\(boundary)"],
                        body: ByteBuffer(string: body))
                    return (response.status, String(buffer: response.body))
                }
                let response = try await client.execute(
                    uri: "/campaigns/\(c)/contacts", method: .post,
                    headers: [.cookie: ada.cookie, .contentType: "text/csv", HTTPField.Name("X-CSRF-Token")!: token,
                              HTTPField.Name("X-File-Name")!: "raw.csv"],
                    body: ByteBuffer(string: csv))
                return (response.status, String(buffer: response.body))
            }
            let bad = "phone,name\n+15550109001,Good\n555-CALL-NOW,Bad\n"
            let (badStatus, badPage) = try await send(bad, multipart: true)
            #expect(badStatus == .unprocessableContent && badPage.contains("line 3"), "\(badPage)")
            #expect(try await w.fixture.count(of: nil) == 6)
            let (forged, _) = try await send("phone,name\n+15550109001,Good\n", multipart: false, csrf: "nope")
            #expect(forged == .forbidden)
            let (bodyOnly, _) = try await send("phone,name\n+15550109001,Good\n", multipart: true, inBody: true)
            #expect(bodyOnly == .forbidden)
            #expect(try await w.fixture.count(of: nil) == 6)
            let (okStatus, okPage) = try await send("phone,name\n+15550109001,Good\n+15550109002,Also\n", multipart: true)
            #expect(okStatus == .ok && okPage.contains("Imported 2 conversations from people.csv."))
            let (rawStatus, rawPage) = try await send("phone,name\n+15550109003,Third\n", multipart: false)
            #expect(rawStatus == .ok && rawPage.contains("Imported 1 conversation from raw.csv."))
            #expect(try await w.fixture.count(of: nil) == 9)
            #expect(try await w.fixture.countsAddUp())
            _ = database
        }
    }
}
