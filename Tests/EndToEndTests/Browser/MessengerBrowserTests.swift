import Foundation
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

/// The texter's messenger and the setup pages in Chromium, one test at a time, beside the console's suite.
@Suite("Messenger in a browser", .serialized, .enabled(if: Browser.isInstalled, "needs chromium and chromium-driver"))
struct MessengerBrowserTests: BrowserWalk {
    /// The count a person reads beside a filter of Assigned to Me ("Not Started 2").
    func filterCount(_ browser: Browser, _ label: String) async throws -> Int? {
        let text = try await browser.text()
        guard let match = text.firstMatch(of: try Regex("\\b\(label) (\\d+)")) else { return nil }
        return Int(match.output[1].substring ?? "")
    }

    /// Opens the first conversation of the list shown (headed by its filter).
    func openFirstConversation(_ browser: Browser, in list: String) async throws {
        try await browser.followFirstLink(in: list)
        _ = try await browser.waitFor { try await browser.text().contains("Message") }
    }

    @Test("a volunteer at 375 px: invite link, sign up, first batch, initial messages, Request Conversations until none are left")
    func volunteer() async throws {
        try await withConsole("volunteer", width: 375) { browser, base, f in
            _ = try await CampaignService(f.database).update(id: f.campaign.id, selfAssign: true, batchSize: 2)
            let (_, token) = try await InviteService(f.database).create(campaignID: f.campaign.id, actor: "ada")
            try await browser.open("\(base)/join/\(token)")
            try await browser.fill("Handle", with: "vol1")
            try await browser.fill("Display name", with: "Volunteer One")
            try await browser.fill("Password (at least 8 characters)", with: "volunteer password")
            try await browser.press("Join campaign")
            #expect(try await browser.waitFor { try await browser.text().contains("2 conversations arrived.") })
            #expect(try await browser.run("return document.documentElement.scrollWidth <= window.innerWidth + 1;") as? Bool == true)
            for round in 0..<3 {
                for _ in 0..<2 {
                    try await browser.open("\(base)/campaigns/\(f.campaign.id)/queue?filter=not-started")
                    try await openFirstConversation(browser, in: "Not Started")
                    try await browser.fill("Message", with: "Hi, this is Volunteer One with GOTV.")
                    try await browser.press("Reply")
                    #expect(try await browser.waitFor { try await browser.text().contains("Waiting") })
                }
                try await browser.open("\(base)/campaigns/\(f.campaign.id)/queue")
                #expect(try await browser.waitFor { try await filterCount(browser, "Not Started") == 0 })
                if round < 2 {
                    try await browser.press("Request Conversations")
                    #expect(try await browser.waitFor { try await browser.text().contains("2 conversations arrived.") }, "round \(round)")
                } else {
                    // Nothing is left to grant: the page says so before anyone presses, and offers no button.
                    #expect(try await browser.waitFor { try await browser.text().contains("No more conversations available.") })
                    #expect(try await browser.run("""
                        return [...document.querySelectorAll('button')].some(b => b.textContent.trim() === 'Request Conversations');
                        """) as? Bool == false)
                }
            }
            let vol = try await Directory(f.database).user(orgID: f.org.id, handle: "vol1")
            #expect(try await f.database.query("""
                SELECT count(*) FROM messages WHERE sender_id = \(vol.id)
                """)[0].decode(Int.self) == 6)
            #expect(try await f.countsAddUp())
        }
    }

    @Test("a double click on Request Conversations, and two posts of its form at once, grant one batch")
    func doubleClick() async throws {
        try await withConsole("double-click") { browser, base, f in
            _ = try await CampaignService(f.database).update(id: f.campaign.id, selfAssign: true, batchSize: 2)
            try await signIn(browser, base, as: "kevin")
            let batches = {
                try await f.database.query("""
                    SELECT count(*) FROM assignment_batches WHERE campaign_id = \(f.campaign.id) AND kind = 'self_assign'
                    """)[0].decode(Int.self)
            }
            let button = "[...document.querySelectorAll('button')].find(b => b.textContent.trim() === 'Request Conversations')"
            // A double click, with the page's script.
            try await browser.open("\(base)/campaigns/\(f.campaign.id)/queue")
            _ = try await browser.waitFor { try await browser.text().contains("Request Conversations") }
            try await browser.run("const button = \(button); button.click(); button.click(); return true;")
            _ = try await browser.waitFor { try await browser.text().contains("arrived") }
            #expect(try await batches() == 1)
            #expect(try await f.count(of: "kevin") == 2)
            // Two posts of the same form at once (what a double click does without the script), on a fresh page once
            // the two are handed back. Each phase has a page of its own: the grant's live update replaces the
            // request section, and on a busy machine it could land between two scripts on one page.
            _ = try await SelfAssignService(f.database).release(campaignID: f.campaign.id, sender: "kevin")
            try await browser.open("\(base)/campaigns/\(f.campaign.id)/queue")
            _ = try await browser.waitFor { try await browser.text().contains("Request Conversations") }
            let statuses = try await browser.run("""
                const form = \(button).form;
                const body = () => new URLSearchParams(new FormData(form));
                return Promise.all([1, 2].map(() => fetch(form.action, { method: 'POST', body: body(), credentials: 'same-origin' })))
                    .then(rs => rs.map(r => r.status));
                """) as? [Int]
            #expect(statuses == [200, 200], "\(String(describing: statuses))")
            #expect(try await batches() == 2)
            #expect(try await f.count(of: "kevin") == 2)
        }
    }

    @Test("a contact's reply to a closed conversation reappears under Needs Reply on the assignee's open page, no reload")
    func liveReply() async throws {
        try await withConsole("live-reply") { browser, base, f in
            _ = try await f.assignments.reassignSome(f.request(.unassigned, .senders(["kevin"]), count: 1))
            let id = try await f.database.query("""
                SELECT c.id FROM conversations c JOIN users u ON u.id = c.assignee_id WHERE u.handle = 'kevin'
                """)[0].decode(Int64.self)
            let messages = MessageService(f.database)
            _ = try await messages.record(.conversation(id), direction: .outbound, body: "Hello!", sender: "kevin")
            _ = try await messages.close(conversationID: id, sender: "kevin")
            try await signIn(browser, base, as: "kevin")
            try await browser.open("\(base)/campaigns/\(f.campaign.id)/queue?filter=needs-reply")
            #expect(try await browser.waitFor { try await browser.text().contains("No conversations here.") })
            try await liveStreamOpen()
            #expect(try await browser.run("window.notReloaded = true; return true;") as? Bool == true)
            _ = try await messages.record(.conversation(id), direction: .inbound, body: "Actually, where do I vote?")
            let name = try await ConversationService(f.database).conversation(id: id).name
            #expect(try await browser.waitFor(2) { try await browser.text().contains(name) })
            #expect(try await filterCount(browser, "Needs Reply") == 1)
            #expect(try await browser.run("return window.notReloaded === true;") as? Bool == true)
            // An organizer's batch that gives Kevin one more shows in his counts, still without a reload.
            var request = f.request(.unassigned, .senders(["kevin"]), count: 1)
            request.actor = "ada"
            _ = try await f.assignments.reassignSome(request)
            #expect(try await browser.waitFor(2) { try await filterCount(browser, "Not Started") == 1 })
            #expect(try await browser.run("return window.notReloaded === true;") as? Bool == true)
            // Opening it clears Unread.
            try await openFirstConversation(browser, in: "Needs Reply")
            #expect(try await browser.text().contains("Actually, where do I vote?"))
            #expect(try await ConversationService(f.database).conversation(id: id).unread == false)
        }
    }

    @Test("an organizer uploads a CSV with one bad phone (nothing imported, the line named), then a good one")
    func upload() async throws {
        try await withConsole("upload") { browser, base, f in
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-upload-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let bad = folder.appendingPathComponent("bad.csv")
            try "phone,name\n+15550109001,Good One\n+1555,Too Short\n+15550109003,Good Two\n".write(to: bad, atomically: true, encoding: .utf8)
            let good = folder.appendingPathComponent("good.csv")
            try "phone,name\n+15550109001,Good One\n+15550109003,Good Two\n".write(to: good, atomically: true, encoding: .utf8)
            try await signIn(browser, base, as: "ada")
            try await browser.open("\(base)/campaigns/\(f.campaign.id)/contacts")
            try await browser.attach(bad, to: "CSV file")
            try await browser.press("Upload")
            #expect(try await browser.waitFor { try await browser.text().contains("line 3 ('+1555')") })
            #expect(try await browser.text().contains("nothing was imported"))
            #expect(try await f.count(of: nil) == 6)
            try await browser.attach(good, to: "CSV file")
            try await browser.press("Upload")
            #expect(try await browser.waitFor { try await browser.text().contains("Imported 2 conversations from good.csv.") })
            #expect(try await browser.text().contains("This campaign has 8 conversations; 8 are unassigned."))
            #expect(try await f.count(of: nil) == 8)
        }
    }

    @Test("a revoked invite link creates nothing; an organizer views a sender's messenger and switches sender")
    func revokedAndViewingAs() async throws {
        try await withConsole("viewing-as") { browser, base, f in
            try await signIn(browser, base, as: "ada")
            try await browser.open("\(base)/campaigns/\(f.campaign.id)/settings")
            try await browser.press("Create invite link")
            #expect(try await browser.waitFor { try await browser.text().contains("shown only once") })
            let link = try #require(try await browser.run("return document.getElementById('new-link').value;") as? String)
            try await browser.press("Revoke")
            #expect(try await browser.waitFor { try await browser.text().contains("Revoked") })
            let users = try await f.database.query("SELECT count(*) FROM users")[0].decode(Int.self)
            try await browser.press("Sign out")
            _ = try await browser.waitFor { try await browser.url.hasSuffix("/sign-in") }
            try await browser.open(link)
            #expect(try await browser.waitFor { try await browser.text().contains("Invite link not valid") })
            let status = try await browser.run("""
                return fetch(arguments[0], { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
                    body: 'handle=sneaky&name=Sneaky&password=long+enough+pass' }).then(r => r.status);
                """, [link]) as? Int
            #expect(status == 404)
            #expect(try await f.database.query("SELECT count(*) FROM users")[0].decode(Int.self) == users)

            _ = try await f.assignments.reassignSome(f.request(.unassigned, .senders(["kevin"]), count: 2))
            try await signIn(browser, base, as: "ada")
            try await browser.open("\(base)/campaigns/\(f.campaign.id)?sender=kevin")
            try await browser.follow("Viewing as Kevin (kevin): open their Assigned to Me")
            #expect(try await browser.waitFor { try await browser.text().contains("Viewing as Kevin (kevin)") })
            #expect(try await filterCount(browser, "Not Started") == 2)
            #expect(try await browser.text().contains("Request Conversations") == false)
            try await browser.choose("Rebecca (rebecca)", from: "Viewing as")
            try await browser.press("Switch")
            #expect(try await browser.waitFor { try await browser.text().contains("Viewing as Rebecca (rebecca)") })
        }
    }
}

extension MessengerBrowserTests {
    @Test("at 375 px wide every setup page and a texter's conversation fit the screen")
    func setupOnPhone() async throws {
        try await withConsole("setup-phone", width: 375) { browser, base, f in
            try await f.database.query("UPDATE users SET role = 'admin' WHERE handle = 'ada'")
            _ = try await f.assignments.reassignSome(f.request(.unassigned, .senders(["kevin"]), count: 1))
            let conversation = try await f.database.query("""
                SELECT c.id FROM conversations c JOIN users u ON u.id = c.assignee_id WHERE u.handle = 'kevin'
                """)[0].decode(Int64.self)
            let fits = "return document.documentElement.scrollWidth <= window.innerWidth + 1;"
            _ = try await TeamService(f.database).create(orgID: f.org.id, name: "spanish-speakers")
            _ = try await TeamService(f.database).add(orgID: f.org.id, team: "spanish-speakers", handles: ["kevin", "rebecca"])
            _ = try await CampaignService(f.database).update(id: f.campaign.id, selfAssign: true, requestApproval: true)
            _ = try await SelfAssignService(f.database).requestMore(campaignID: f.campaign.id, sender: "rebecca")
            try await signIn(browser, base, as: "ada")
            let c = f.campaign.id
            for (path, words) in [("/campaigns/new", "New campaign"), ("/campaigns/\(c)/settings", "Invite links"),
                                  ("/campaigns/\(c)/senders", "Add senders"), ("/campaigns/\(c)/contacts", "CSV file"),
                                  ("/users", "Add a user"), ("/campaigns/\(c)/queue?as=kevin", "Viewing as"),
                                  ("/teams", "New team"), ("/campaigns/\(c)/requests", "Approve"),
                                  ("/campaigns/\(c)/report", "Replies handled"),
                                  ("/campaigns/\(c)", "Bulk Reassign All")] {
                try await browser.open(base + path)
                #expect(try await browser.waitFor { try await browser.text().contains(words) }, "\(path)")
                #expect(try await browser.run(fits) as? Bool == true, "\(path) is wider than the screen")
                try await browser.screenshot("phone-\(path.split(separator: "/").last.map(String.init) ?? "page")")
            }
            #expect(try await browser.run("return document.querySelectorAll('select[name=to_team] option[value=spanish-speakers]').length;") as? Int == 2,
                    "Reassign All and Reassign Some offer the team")
            try await browser.press("Sign out")
            _ = try await browser.waitFor { try await browser.url.hasSuffix("/sign-in") }
            try await signIn(browser, base, as: "kevin")
            try await browser.open("\(base)/conversations/\(conversation)")
            #expect(try await browser.waitFor { try await browser.text().contains("Message") })
            #expect(try await browser.run(fits) as? Bool == true)
        }
    }
}
