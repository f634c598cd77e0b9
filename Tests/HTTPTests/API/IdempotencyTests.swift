import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SwitchboardServer
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

@Suite("Hardening: idempotency keys per user, recorded with the batch")
struct IdempotencyTests {
    static let body = #"{"source": {"unassigned": true}, "to": ["rebecca"], "count": 2}"#

    static func key(_ value: String) -> HTTPFields { [HTTPField.Name("Idempotency-Key")!: value] }

    func pool(_ database: Database, _ campaign: Int64) async throws -> Int {
        try await database.query("""
            SELECT count(*) FROM conversations WHERE campaign_id = \(campaign) AND assignee_id IS NULL
            """)[0].decode(Int.self)
    }

    @Test("two texters with one key each get their own batch; a replay returns the same answer and changes nothing")
    func perUser() async throws {
        try await withAPI { client, w, database in
            let c = w.fixture.campaign.id
            let kevin = try await client.call(.post, "/v1/campaigns/\(c)/requests", token: w.kevin, "{}", headers: Self.key("K"))
            let rebecca = try await client.call(.post, "/v1/campaigns/\(c)/requests", token: w.rebecca, "{}", headers: Self.key("K"))
            #expect(kevin.status == .ok && rebecca.status == .ok, "\(kevin.text) \(rebecca.text)")
            #expect(kevin.json["batch_id"] as? Int != rebecca.json["batch_id"] as? Int)
            let kevinPhones = (kevin.json["conversations"] as? [[String: Any]] ?? []).compactMap { $0["phone"] as? String }
            let rebeccaPhones = (rebecca.json["conversations"] as? [[String: Any]] ?? []).compactMap { $0["phone"] as? String }
            #expect(kevinPhones.count == 2 && rebeccaPhones.count == 2)
            #expect(Set(kevinPhones).isDisjoint(with: rebeccaPhones))
            let before = try await pool(database, c)
            let replay = try await client.call(.post, "/v1/campaigns/\(c)/requests", token: w.kevin, "{}", headers: Self.key("K"))
            #expect(replay.status == .ok && replay.text == kevin.text)
            #expect(try await pool(database, c) == before)
            let other = try await client.call(.post, "/v1/campaigns/\(c)/requests", token: w.kevin, #"{"count": 1}"#,
                                              headers: Self.key("K"))
            #expect(other.status == .conflict && other.code == "idempotency_key_reused")
            // Two organizers of one organization, one key.
            let body = #"{"source": {"unassigned": true}, "to": ["kevin"], "count": 1}"#
            _ = try await Directory(database).addUser(orgID: w.fixture.org.id, handle: "grace", role: .organizer)
            let grace = try await Directory(database).createToken(orgID: w.fixture.org.id, handle: "grace")
            let first = try await client.call(.post, "/v1/campaigns/\(c)/reassign-some", token: w.ada, body, headers: Self.key("O"))
            let second = try await client.call(.post, "/v1/campaigns/\(c)/reassign-some", token: grace, body, headers: Self.key("O"))
            #expect(first.status == .ok && second.status == .ok)
            #expect(first.json["batch_id"] as? Int != second.json["batch_id"] as? Int)
            #expect(try await w.fixture.countsAddUp())
        }
    }

    @Test("a request that died leaves its key free: the retry applies the batch once, and replays after that",
          .timeLimit(.minutes(3)))
    func diedRequest() async throws {
        let url = try await TestDatabase.make()
        try await TestDatabase.open(url, serverLimit: .seconds(2)) { database in
            // Only the first try is bounded to 2 s; setting up, checking and the retries are not, so that a
            // machine busy with other tests cannot make them time out too.
            let w = try await HTTPWorld.make(database.unbounded)
            let c = w.fixture.campaign.id
            let impatient = Application(router: buildRouter(database: database, settings: .init(requestTimeout: .seconds(2))))
            let app = Application(router: buildRouter(database: database.unbounded, settings: .init()))
            let died = try await impatient.test(.router) { client in
                // Every pool row is locked elsewhere: the batch waits, times out and rolls back.
                let holder = try await LockHolder(database, """
                    SELECT 1 FROM conversations WHERE campaign_id = \(c) AND assignee_id IS NULL FOR UPDATE
                    """)
                let died = try await client.call(.post, "/v1/campaigns/\(c)/reassign-some", token: w.ada, Self.body,
                                                 headers: Self.key("retry-me"))
                try await holder.releaseLock()
                return died
            }
            #expect(died.status == .serviceUnavailable, "\(died.text)")
            #expect(try await w.fixture.count(of: "rebecca") == 0)
            try await app.test(.router) { client in
                let body = Self.body
                let retry = try await client.call(.post, "/v1/campaigns/\(c)/reassign-some", token: w.ada, body,
                                                  headers: Self.key("retry-me"))
                #expect(retry.status == .ok && retry.json["moved"] as? Int == 2, "\(retry.text)")
                let again = try await client.call(.post, "/v1/campaigns/\(c)/reassign-some", token: w.ada, body,
                                                  headers: Self.key("retry-me"))
                #expect(again.text == retry.text)
                #expect(try await w.fixture.count(of: "rebecca") == 2)
            }
        }
    }

    @Test("the same key sent eight times at once: one batch applies, every answer is its answer")
    func concurrentDuplicates() async throws {
        try await withAPI { client, w, database in
            let c = w.fixture.campaign.id
            let body = #"{"source": {"unassigned": true}, "to": ["kevin"], "count": 3}"#
            let answers = try await withThrowingTaskGroup(of: Reply.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        try await client.call(.post, "/v1/campaigns/\(c)/reassign-some", token: w.ada, body,
                                              headers: Self.key("same"))
                    }
                }
                return try await group.reduce(into: [Reply]()) { $0.append($1) }
            }
            #expect(answers.allSatisfy { $0.status == .ok }, "\(answers.map(\.text))")
            #expect(Set(answers.map(\.text)).count == 1)
            #expect(try await w.fixture.count(of: "kevin") == 3)
            let batches = try await database.query("""
                SELECT count(*) FROM assignment_batches WHERE campaign_id = \(c) AND kind = 'reassign_some'
                """)
            #expect(try batches[0].decode(Int.self) == 1)
        }
    }
}
