import Foundation
import PostgresNIO

/// Reply timers (wave 3): how long replies have waited. Each sender's oldest Needs Reply is on the sender list
/// (`SenderCounts.oldestNeedsReplySeconds`); the campaign's Needs Reply ages in four buckets are here. Both read
/// the partial index `conversations_needs_reply_age` alone.
public struct ReplyTimers: Sendable {
    let database: Database

    public init(_ database: Database) { self.database = database }

    /// One bucket of Needs Reply ages: `<1h`, `1-6h`, `6-24h` or `>24h` since the contact's reply.
    public struct Bucket: Sendable, Equatable, Codable {
        public let bucket: String
        public let count: Int

        public init(bucket: String, count: Int) {
            self.bucket = bucket
            self.count = count
        }
    }

    public static let buckets = ["<1h", "1-6h", "6-24h", ">24h"]

    /// The campaign's conversations that need a reply (assigned or not), by how long the reply has waited.
    public func needsReplyAges(campaignID: Int64, orgID: Int64? = nil) async throws -> [Bucket] {
        let campaign = try await CampaignService(database).campaign(id: campaignID, orgID: orgID)
        let row = try await database.query("""
            SELECT count(*) FILTER (WHERE age < interval '1 hour'),
                   count(*) FILTER (WHERE age >= interval '1 hour' AND age < interval '6 hours'),
                   count(*) FILTER (WHERE age >= interval '6 hours' AND age < interval '24 hours'),
                   count(*) FILTER (WHERE age >= interval '24 hours' OR age IS NULL)
            FROM (SELECT now() - c.last_message_at AS age FROM conversations c
                  WHERE c.campaign_id = \(campaign.id) AND c.status = 'needs_reply') waiting
            """)[0]
        let (under1, under6, under24, older) = try row.decode((Int, Int, Int, Int).self)
        return zip(Self.buckets, [under1, under6, under24, older]).map { Bucket(bucket: $0, count: $1) }
    }

    /// "45s", "12m", "3h 5m", "2d 4h": an age as the console shows it.
    public static func words(_ seconds: Int) -> String {
        switch seconds {
        case ..<60: return "\(seconds)s"
        case ..<3600: return "\(seconds / 60)m"
        case ..<86_400: return "\(seconds / 3600)h \(seconds % 3600 / 60)m"
        default: return "\(seconds / 86_400)d \(seconds % 86_400 / 3600)h"
        }
    }
}
