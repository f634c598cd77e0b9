import Foundation
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

extension ConsoleTests {
    @Test("routing in the console: policy in Settings, away and skills on Senders, a routed reply, shift handoff with a note in History")
    func routing() async throws {
        try await withConsole("routing") { browser, base, f in
            try await signIn(browser, base, as: "ada")
            let c = f.campaign.id
            try await browser.open("\(base)/campaigns/\(c)/settings")
            try await browser.choose("Least loaded available sender", from: "Policy", in: "Routing")
            try await browser.fill("Release replies waiting on their sender longer than (minutes; empty: never)",
                                   with: "0", in: "Routing")
            try await browser.press("Save routing")
            #expect(try await browser.waitFor { try await browser.text().contains("Release stale after 0 minutes is out of range") })
            try await browser.fill("Release replies waiting on their sender longer than (minutes; empty: never)",
                                   with: "30", in: "Routing")
            try await browser.choose("Least loaded available sender", from: "Policy", in: "Routing")
            try await browser.press("Save routing")
            #expect(try await browser.waitFor { try await browser.text().contains("Saved.") })
            let routing = try await CampaignService(f.database).campaign(id: c).routing
            #expect(routing == RoutingSettings(policy: .leastLoaded, releaseStaleAfter: 30))

            // Kevin away; Rebecca speaks Spanish.
            try await browser.open("\(base)/campaigns/\(c)/senders")
            try await browser.press("Mark away", inRow: "Kevin")
            #expect(try await browser.waitFor { try await browser.text().contains("kevin is away") })
            #expect(try await browser.cell(row: "Kevin", column: "State") == "away")
            try await browser.fill("Skills of rebecca", with: "Spanish, billing")
            try await browser.press("Save", inRow: "Rebecca")
            #expect(try await browser.waitFor { try await browser.text().contains("rebecca's skills: billing, spanish.") })
            print("routing senders page saved at \(try await browser.screenshot("routing-senders").path)")

            // Two replies nobody owns: both go to Rebecca, the only available sender.
            let ids = try await f.conversationIDs()
            for id in ids.prefix(2) {
                _ = try await MessageService(f.database).record(.conversation(id), direction: .inbound, body: "Hi")
            }
            try await browser.open("\(base)/campaigns/\(c)")
            #expect(try await browser.waitFor { try await browser.total(of: "Rebecca") == 2 })
            let text = try await browser.text()
            #expect(text.contains("Routing: least loaded. 0 replies nobody owns"), "\(text.prefix(600))")

            // A third conversation: tagged, then escalated to the billing skill (Rebecca's; Kevin is away).
            try await browser.open("\(base)/conversations/\(ids[2])")
            try await browser.fill("Tags", with: "billing", in: "Manage Conversation")
            try await browser.press("Save tags")
            #expect(try await browser.waitFor { try await RoutingService(f.database).tags(conversationID: ids[2]) == ["billing"] })
            try await browser.fill("Escalate to a skill", with: "legal", in: "Manage Conversation")
            try await browser.press("Escalate")
            #expect(try await browser.waitFor { try await browser.text().contains("No sender of campaign \(c) has the skill 'legal'.") })
            try await browser.fill("Escalate to a skill", with: "billing", in: "Manage Conversation")
            try await browser.fill("Note (optional, shown in History)", with: "invoice question", in: "Manage Conversation")
            try await browser.press("Escalate")
            #expect(try await browser.waitFor { try await browser.text().contains("Assigned to: rebecca") })

            // Rebecca's shift ends: her open conversations go to Kevin, with a note.
            try await browser.open("\(base)/campaigns/\(c)/senders")
            try await browser.press("Mark available", inRow: "Kevin")
            #expect(try await browser.waitFor { try await browser.text().contains("kevin is available") })
            try await browser.choose("Rebecca (rebecca)", from: "Whose shift ends", in: "Shift handoff")
            try await browser.choose("Kevin (kevin)", from: "To", in: "Shift handoff")
            try await browser.fill("Note (optional, shown in History)", with: "Rebecca's shift ended", in: "Shift handoff")
            try await browser.press("Hand off")
            #expect(try await browser.waitFor { try await browser.text().contains("Handed off 3 conversations from rebecca, who is now away.") })
            #expect(try await f.count(of: "kevin") == 3)
            try await browser.open("\(base)/campaigns/\(c)/history")
            #expect(try await browser.waitFor { try await browser.text().contains("Rebecca's shift ended") })
            let history = try await browser.text()
            #expect(history.contains("Shift handoff") && history.contains("invoice question"))
            #expect(try await f.countsAddUp())
        }
    }

    @Test("at 375 px the Senders page with skills and the handoff form fits the screen, and a texter can say I'm away")
    func routingPhone() async throws {
        try await withConsole("routing-phone", width: 375) { browser, base, f in
            try await SenderService(f.database).add(campaignID: f.campaign.id, handles: ["ada"])
            try await signIn(browser, base, as: "kevin")
            try await browser.open("\(base)/campaigns/\(f.campaign.id)/queue")
            try await browser.press("I'm away")
            #expect(try await browser.waitFor { try await browser.text().contains("You are away") })
            let list = try await SenderService(f.database).list(campaignID: f.campaign.id)
            #expect(list.senders.first { $0.handle == "kevin" }?.available == false)
            try await browser.press("I'm available")
            #expect(try await browser.waitFor { try await browser.text().contains("You are available") })
            try await browser.press("Sign out")
            try await signIn(browser, base, as: "ada")
            try await browser.open("\(base)/campaigns/\(f.campaign.id)/senders")
            _ = try await browser.waitFor { try await browser.text().contains("Shift handoff") }
            let overflow = try await browser.run(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth;") as? Int
            print("routing-phone senders page saved at \(try await browser.screenshot("routing-phone-senders").path)")
            #expect(overflow ?? 1 <= 0, "the page scrolls sideways by \(overflow ?? -1) px")
        }
    }
}
