import Foundation
import SwitchboardServer
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

/// Request approval in Chromium (issue 37): the texter's page waits, and the grant arrives, without a reload, when
/// an organizer approves it in another browser; a denial's note arrives the same way.
extension MessengerBrowserTests {
    @Test("a texter's request waits for approval; approved in another browser, the conversations arrive with no reload; a denial's note shows")
    func approval() async throws {
        try await withConsole("approval", width: 375) { browser, base, f in
            _ = try await CampaignService(f.database).update(id: f.campaign.id, selfAssign: true, batchSize: 2,
                                                             requireFinishedBatch: false, requestApproval: true)
            try await signIn(browser, base, as: "kevin")
            try await browser.open("\(base)/campaigns/\(f.campaign.id)/queue")
            try await browser.press("Request Conversations")
            #expect(try await browser.waitFor { try await browser.text().contains("Waiting for approval") })
            #expect(try await filterCount(browser, "Not Started") == 0)
            try await liveStreamOpen()
            #expect(try await browser.run("window.notReloaded = true; return true;") as? Bool == true)

            let organizer = try await Browser.start()
            do {
                try await signIn(organizer, base, as: "ada")
                try await organizer.open("\(base)/campaigns/\(f.campaign.id)/requests")
                #expect(try await organizer.waitFor { try await organizer.text().contains("kevin") })
                try await organizer.press("Approve")
                #expect(try await organizer.waitFor { try await organizer.text().contains("kevin received 2 conversations.") })

                #expect(try await browser.waitFor(5) { try await filterCount(browser, "Not Started") == 2 })
                #expect(try await browser.run("return window.notReloaded === true;") as? Bool == true)
                #expect(try await browser.waitFor { !(try await browser.text().contains("Waiting for approval")) })

                // Asked again, and denied with a note: the note shows on the texter's page, still without a reload.
                try await browser.press("Request Conversations")
                #expect(try await browser.waitFor { try await browser.text().contains("Waiting for approval") })
                try await liveStreamOpen()
                #expect(try await browser.run("window.notReloaded = true; return true;") as? Bool == true)
                try await organizer.open("\(base)/campaigns/\(f.campaign.id)/requests")
                try await organizer.fill("Note for kevin", with: "Finish the first two first, please.")
                try await organizer.press("Deny")
                #expect(try await organizer.waitFor { try await organizer.text().contains("Denied kevin's request.") })
                #expect(try await browser.waitFor(5) {
                    try await browser.text().contains("denied by ada: Finish the first two first, please.")
                })
                #expect(try await browser.run("return window.notReloaded === true;") as? Bool == true)
                _ = try await organizer.screenshot("approval-organizer")
                await organizer.quit()
            } catch {
                await organizer.quit()
                throw error
            }
            #expect(try await f.countsAddUp())
        }
    }
}
