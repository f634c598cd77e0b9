import Foundation
import PostgresNIO
import SwitchboardServer
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

/// What the browser suites share: the console served over a fresh database with live events, a browser pointed at
/// it, and signing in. Two suites walk it, each one test at a time, side by side (two browsers at most).
protocol BrowserWalk {}

enum BrowserWalkDefaults {
    static let password = "correct horse battery"
    /// The served console's event hub, for the test walking it.
    @TaskLocal static var hub: EventHub?
}

extension BrowserWalk {
    /// Acme with organizers ada and grace and texters kevin and rebecca on campaign GOTV (6 unassigned), served
    /// on loopback with live events, and a browser pointed at it. Saves a screenshot of the last page, and says
    /// where when the test throws.
    func withConsole(_ name: String, width: Int = 1280,
                     _ body: @escaping @Sendable (Browser, String, Fixture) async throws -> Void) async throws {
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database)
            _ = try await Directory(database).addUser(orgID: f.org.id, handle: "grace", name: "Grace", role: .organizer)
            let auth = ConsoleAuth(database, cost: 4)
            for handle in ["ada", "kevin", "grace"] {
                try await auth.setPassword(orgID: f.org.id, handle: handle, password: BrowserWalkDefaults.password)
            }
            let hub = EventHub()
            let listener = await listen(database, into: hub)
            defer { listener.cancel() }
            var settings = ServerSettings(heartbeat: .seconds(1))
            settings.secureCookies = false
            settings.passwordCost = 4
            try await withLiveServer(database, settings: settings, hub: hub) { client in
                let browser = try await Browser.start(width: width)
                let base = "http://127.0.0.1:\(client.port)"
                do {
                    try await BrowserWalkDefaults.$hub.withValue(hub) { try await body(browser, base, f) }
                    let shot = try await browser.screenshot(name)
                    print("\(name): last page saved at \(shot.path)")
                    await browser.quit()
                } catch {
                    let shot = try? await browser.screenshot(name)
                    print("\(name) failed on \((try? await browser.url) ?? "?"); screenshot: \(shot?.path ?? "none")")
                    await browser.quit()
                    throw error
                }
            }
        }
    }

    /// Returns once the open page's event stream is connected (the server counts its subscriber).
    func liveStreamOpen() async throws {
        let hub = try #require(BrowserWalkDefaults.hub)
        #expect(try await waitUntil { await hub.subscriberCount > 0 }, "the page's event stream never connected")
    }

    func signIn(_ browser: Browser, _ base: String, as handle: String, password: String = BrowserWalkDefaults.password) async throws {
        try await browser.open("\(base)/sign-in")
        try await browser.fill("Handle", with: handle)
        try await browser.fill("Password", with: password)
        try await browser.press("Sign in")
        // A click does not wait for the form's navigation: wait for the page it leads to (or its refusal).
        _ = try await browser.waitFor {
            let text = try await browser.text()
            return text.contains("Sign out") || text.contains("not right") || text.contains("wait a second")
        }
    }
}

/// The organizer console in a real headless Chromium, walked the way a person walks it.
@Suite("Console in a browser", .serialized, .enabled(if: Browser.isInstalled, "needs chromium and chromium-driver"))
struct ConsoleTests: BrowserWalk {
    @Test("ThruText's walkthrough: Reassign All, Reassign Some, a single Reassign, Unassign All with cancel and confirm, Undo")
    func walkthrough() async throws {
        try await withConsole("walkthrough") { browser, base, f in
            try await signIn(browser, base, as: "ada")
            try await browser.follow("GOTV")
            #expect(try await browser.waitFor { try await browser.total(of: "Unassigned") == 6 })

            // Bulk Reassign All, Any, Distribute to all senders: the preview shows 0 → 3 for each.
            try await browser.openMenu("Bulk Reassign All")
            try await browser.choose("Any", from: "Status", in: "Bulk Reassign All")
            try await browser.check("Distribute to all senders", in: "Bulk Reassign All")
            try await browser.press("Preview", in: "Bulk Reassign All")
            let chart = try await browser.run("return document.querySelector('[role=img]').getAttribute('aria-label');") as? String
            print("walkthrough preview saved at \(try await browser.screenshot("walkthrough-preview").path)")
            #expect(chart?.contains("Kevin (kevin): 0 to 3") == true, "\(chart ?? "no chart")")
            #expect(chart?.contains("Rebecca (rebecca): 0 to 3") == true)
            try await browser.press("Reassign All")
            #expect(try await browser.waitFor { try await browser.total(of: "Kevin") == 3 })
            #expect(try await browser.total(of: "Rebecca") == 3)
            #expect(try await browser.waitFor { try await browser.text().contains("Moved 6 conversations from everyone to 2 senders.") })

            // Reassign Some: 1 Not Started from Kevin to Rebecca.
            try await browser.follow("Kevin (kevin)")
            try await browser.openMenu("Reassign Some")
            try await browser.fill("Count", with: "1", in: "Reassign Some")
            try await browser.choose("Not Started", from: "Status", in: "Reassign Some")
            try await browser.check("Rebecca (rebecca)", in: "Reassign Some")
            try await browser.press("Preview", in: "Reassign Some")
            try await browser.press("Reassign Some")
            #expect(try await browser.waitFor { try await browser.total(of: "Rebecca") == 4 })

            // One of Rebecca's conversations to Kevin, from its Manage Conversation box.
            try await browser.follow("Rebecca (rebecca)")
            try await browser.followFirstLink(in: "Rebecca's conversations")
            try await browser.choose("Kevin (kevin)", from: "To", in: "Manage Conversation")
            try await browser.press("Reassign", in: "Manage Conversation")
            #expect(try await browser.waitFor { try await browser.text().contains("Assigned to: kevin") })
            #expect(try await f.count(of: "rebecca") == 3)

            // Unassign All from Rebecca: cancelled once (nothing changes), then confirmed by typing the handle.
            try await browser.open("\(base)/campaigns/\(f.campaign.id)?sender=rebecca")
            try await browser.openMenu("Unassign All")
            try await browser.press("Preview", in: "Unassign All")
            try await browser.press("Cancel")
            #expect(try await browser.waitFor { try await browser.total(of: "Rebecca") == 3 })
            try await browser.openMenu("Unassign All")
            try await browser.press("Preview", in: "Unassign All")
            try await browser.fill("Type rebecca to confirm", with: "rebecca")
            try await browser.press("Unassign All")
            #expect(try await browser.waitFor { try await browser.total(of: "Rebecca") == 0 })
            #expect(try await browser.waitFor { try await browser.text().contains("Unassigned 3 conversations from rebecca.") })

            // Undo that batch: back to 3.
            try await browser.press("Undo")
            #expect(try await browser.waitFor { try await browser.total(of: "Rebecca") == 3 })
            #expect(try await f.countsAddUp())
        }
    }

    @Test("another organizer's change appears on an open overview within 2 seconds, without a reload")
    func live() async throws {
        try await withConsole("live") { browser, base, f in
            try await signIn(browser, base, as: "ada")
            try await browser.open("\(base)/campaigns/\(f.campaign.id)")
            #expect(try await browser.waitFor { try await browser.total(of: "Kevin") == 0 })
            try await liveStreamOpen()
            let marker = try await browser.run("window.notReloaded = true; return true;") as? Bool
            #expect(marker == true)
            var request = f.request(.unassigned, .senders(["kevin"]), count: 2)
            request.actor = "grace"
            _ = try await f.assignments.reassignSome(request)
            #expect(try await browser.waitFor(2) { try await browser.total(of: "Kevin") == 2 })
            #expect(try await browser.run("return window.notReloaded === true;") as? Bool == true)
        }
    }

    @Test("a texter is refused, a form without its token is refused, a wrong password fails, sign out ends the session")
    func refusals() async throws {
        try await withConsole("refusals") { browser, base, f in
            try await signIn(browser, base, as: "ada", password: "not the password")
            #expect(try await browser.waitFor { try await browser.text().contains("The handle or password is not right.") })

            try await signIn(browser, base, as: "kevin")
            try await browser.open("\(base)/campaigns/\(f.campaign.id)")
            #expect(try await browser.waitFor { try await browser.text().contains("Assigned to Me") })
            try await browser.open("\(base)/campaigns/\(f.campaign.id)/history")
            #expect(try await browser.waitFor { try await browser.text().contains("Organizers only") })
            try await browser.press("Sign out")

            try await signIn(browser, base, as: "ada")
            try await browser.open("\(base)/campaigns/\(f.campaign.id)")
            let status = try await browser.run("""
                return fetch(arguments[0], { method: 'POST', credentials: 'same-origin',
                    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
                    body: 'op=reassign-all&from=anyone&status=any&to_all=on' }).then(r => r.status);
                """, ["\(base)/campaigns/\(f.campaign.id)/apply"])
            #expect((status as? Int) == 403, "\(String(describing: status))")
            #expect(try await f.count(of: nil) == 6)

            let cookie = try #require(try await browser.cookie("sb_session"))
            try await browser.press("Sign out")
            #expect(try await browser.waitFor { try await browser.url.hasSuffix("/sign-in") })
            let old = LiveClient(port: Int(URL(string: base)!.port!))
            let answer = try await old.call("GET", "/campaigns/\(f.campaign.id)", token: nil,
                                            headers: ["Cookie": "sb_session=\(cookie)"])
            #expect(answer.status == 303 || String(decoding: answer.body, as: UTF8.self).contains("Sign in"))
        }
    }

    @Test("at 375 px wide the overview and a preview fit the screen, and Bulk Reassign still works")
    func phone() async throws {
        try await withConsole("phone", width: 375) { browser, base, f in
            try await signIn(browser, base, as: "ada")
            try await browser.open("\(base)/campaigns/\(f.campaign.id)")
            #expect(try await browser.run("return window.innerWidth;") as? Int == 375)
            let fits = "return document.documentElement.scrollWidth <= window.innerWidth + 1;"
            #expect(try await browser.run(fits) as? Bool == true)
            try await browser.openMenu("Bulk Reassign Some")
            try await browser.fill("Count", with: "2", in: "Bulk Reassign Some")
            try await browser.check("Kevin (kevin)", in: "Bulk Reassign Some")
            try await browser.press("Preview", in: "Bulk Reassign Some")
            _ = try await browser.waitFor { try await browser.text().contains("would move") }
            #expect(try await browser.run(fits) as? Bool == true)
            print("phone preview saved at \(try await browser.screenshot("phone-preview").path)")
            try await browser.press("Reassign Some")
            #expect(try await browser.waitFor { try await browser.total(of: "Kevin") == 2 })
        }
    }
}
