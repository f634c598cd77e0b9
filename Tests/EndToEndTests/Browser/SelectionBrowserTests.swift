import Foundation
import SwitchboardServer
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

/// Selection in the console (issue 36): the filter bar, ticking with Shift+Click, Select all matching, the
/// preview that binds the set, and the banner that says what stayed.
extension ConsoleTests {
    /// Ticks the box of the named conversation, with Shift held when `shift` (a click the page's script sees).
    func tick(_ browser: Browser, _ name: String, shift: Bool = false) async throws {
        let done = try await browser.run("""
            const box = [...document.querySelectorAll('[data-pick]')]
                .find(b => b.closest('li').querySelector('a').textContent.trim() === arguments[0]);
            if (!box) return false;
            box.dispatchEvent(new MouseEvent('click', { bubbles: true, cancelable: true, shiftKey: arguments[1] }));
            return true;
            """, [name, shift]) as? Bool
        #expect(done == true, "no box for \(name)")
    }

    func status(_ browser: Browser) async throws -> String {
        try await browser.run("return document.querySelector('[data-selection-status]').textContent.trim();") as? String ?? ""
    }

    @Test("filter, Shift+Click a range, preview and confirm what still matches; Select all matching; Tag selected")
    func selection() async throws {
        try await withConsole("selection", width: 375) { browser, base, f in
            let ids = try await f.conversationIDs()
            let routing = RoutingService(f.database)
            for id in ids[0...3] { _ = try await routing.addTags(conversationID: id, tags: ["vip"]) }
            try await signIn(browser, base, as: "ada")
            try await browser.open("\(base)/campaigns/\(f.campaign.id)?sender=unassigned")
            try await browser.fill("Tags", with: "vip")
            try await browser.press("Filter")
            #expect(try await browser.waitFor { try await browser.text().contains("4 conversations match the filter.") })
            #expect(try await browser.run("return document.documentElement.scrollWidth <= window.innerWidth + 1;") as? Bool == true)

            // Contact 1, then Shift+Click Contact 3: three ticked, and the forms above say so.
            try await tick(browser, "Contact 1")
            try await tick(browser, "Contact 3", shift: true)
            #expect(try await status(browser) == "3 conversations selected.")
            let scope = try await browser.run("""
                return [...document.querySelectorAll('[data-scope]')].map(s => s.textContent.trim());
                """) as? [String]
            #expect(scope?.allSatisfy { $0 == "Acts on 3 selected." } == true, "\(scope ?? [])")

            // Preview a reassign of the three to Kevin; one stops matching before the confirmation.
            try await browser.choose("Kevin (kevin)", from: "Reassign to")
            try await browser.press("Preview reassign")
            #expect(try await browser.waitFor { try await browser.text().contains("would move 3 conversations") })
            _ = try await routing.removeTags(conversationID: ids[1], tags: ["vip"])
            try await browser.press("Reassign selected")
            #expect(try await browser.waitFor {
                try await browser.text().contains("1 conversation of the preview no longer matched and stayed where they were.")
            })
            #expect(try await f.assignees() == ["kevin", nil, "kevin", nil, nil, nil])

            // Back on the filtered list: one left. Select all matching, then give it to Rebecca.
            #expect(try await browser.waitFor { try await browser.text().contains("1 conversation match the filter.") })
            try await browser.press("Select all 1 matching")
            #expect(try await status(browser) == "All 1 matching conversations are selected.")
            try await browser.choose("Rebecca (rebecca)", from: "Reassign to")
            try await browser.press("Preview reassign")
            try await browser.press("Reassign All")
            #expect(try await browser.waitFor { try await browser.text().contains("Moved 1 conversation") })
            #expect(try await f.assignees() == ["kevin", nil, "kevin", "rebecca", nil, nil])

            // Tag selected, from an unfiltered list; nothing ticked is refused with a sentence.
            try await browser.open("\(base)/campaigns/\(f.campaign.id)?sender=unassigned")
            try await browser.fill("Tag", with: "follow-up", in: "With the selected conversations")
            try await browser.press("Tag selected")
            #expect(try await browser.waitFor { try await browser.text().contains("Tick at least one conversation") })
            try await browser.open("\(base)/campaigns/\(f.campaign.id)?sender=unassigned")
            try await tick(browser, "Contact 5")
            try await browser.fill("Tag", with: "follow-up", in: "With the selected conversations")
            try await browser.press("Tag selected")
            #expect(try await browser.waitFor { try await browser.text().contains("Tagged 1 conversation.") })
            #expect(try await routing.tags(conversationID: ids[4]) == ["follow-up"])
            #expect(try await f.countsAddUp())
        }
    }
}
