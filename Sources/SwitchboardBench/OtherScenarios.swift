import Foundation
import SwitchboardCore

/// The scenarios that must not get slower when the engine changes: a carrier's inbound replies, one at a time,
/// and the import of 100,000 contacts into a new campaign.
extension Benchmark {
    /// Inbound replies addressed by campaign and phone, as a carrier's webhook sends them, to random
    /// conversations of `campaign` (its phones are those `loadCampaign` writes).
    func messageIngest(campaign: Campaign, conversations: Int) async throws -> Latency {
        let messages = MessageService(database)
        let count = options.singleReassigns / 5
        var samples: [Double] = []
        for _ in 0..<count {
            let phone = "+1\(2_000_000_000 + Int.random(in: 1...conversations))"
            samples.append(try await time {
                _ = try await messages.record(.phone(campaignID: campaign.id, phone: phone), direction: .inbound,
                                              body: "Yes, count me in")
            } * 1000)
        }
        return Self.latency("message_ingest", samples)
    }

    /// A 100,000-row CSV (phone, name, one extra column) imported into a new campaign, `options.runs` times.
    func importContacts(org: Organization) async throws -> Timing {
        let rows = options.conversations / 10
        var csv = "phone,name,precinct\n"
        csv.reserveCapacity(rows * 32)
        for index in 1...rows { csv += "+1\(3_000_000_000 + index),Contact \(index),\(index % 97)\n" }
        let data = Data(csv.utf8)
        var runs: [Double] = []
        for run in 0..<options.runs {
            let campaign = try await CampaignService(database).create(orgID: org.id, name: "bench-import-\(run)")
            runs.append(try await time {
                _ = try await ContactImporter(database).importCSV(campaignID: campaign.id, data: data, fileName: "bench.csv")
            })
        }
        return Timing(name: "import_\(rows)_contacts", median: median(runs), runs: runs)
    }
}
