import Foundation
import SwitchboardCore
import Logging
import PostgresNIO

/// `switchboard bench`: loads a synthetic campaign with COPY into a throwaway database and measures each
/// operation against a floor or a peer's way of doing it, in the same run.
public struct Benchmark: Sendable {
    public struct Options: Sendable {
        public var conversations: Int
        public var senders: Int
        public var runs: Int
        public var selfAssignPool: Int
        public var selfAssignSeconds: Double
        public var singleReassigns: Int
        public var senderListCalls: Int
        public var concurrencyLevels: [Int]
        /// Runs only this scenario (and what it is compared with); nil runs them all.
        public var only: Scenario?

        public init(quick: Bool) {
            conversations = quick ? 50_000 : 1_000_000
            senders = quick ? 100 : 1_000
            runs = 3
            selfAssignPool = quick ? 20_000 : 200_000
            selfAssignSeconds = quick ? 1 : 3
            singleReassigns = quick ? 500 : 10_000
            senderListCalls = quick ? 50 : 200
            concurrencyLevels = [1, 4, 10, 30, 100]
        }
    }

    /// The scenarios `--only` can pick.
    public enum Scenario: String, Sendable, CaseIterable {
        case reassignAll = "reassign-all"
        case selfAssign = "self-assign"
        /// The web console's pages (timed by the CLI over HTTP on a campaign this loads).
        case console = "console"
        /// Sender list, single reassign, message ingest and import: what must not get slower.
        case others = "others"
        /// Inbound replies on unassigned conversations, 20 writers, policy manual against least loaded.
        case routing = "routing"
        /// Filters and preview tokens on the campaign: a preview by tag and age, the filtered run against the
        /// same number unfiltered, and the console's filtered list.
        case selection = "selection"
        /// The campaign report over a texting history of the whole campaign.
        case report = "report"
    }

    /// A campaign for the console's pages: every conversation dealt over the senders but a tenth, which stays
    /// unassigned, with a quarter of them in each of four statuses and three quarters with recent activity.
    public func consoleCampaign() async throws -> (campaign: Campaign, sender: String, organizer: User) {
        let org = try await Directory(database).createOrganization(name: "Bench \(UUID().uuidString.prefix(6))")
        let campaign = try await loadCampaign(org: org, name: "console", conversations: options.conversations)
        let handles = try await senderHandles(campaign)
        log("Dealing 90% of the conversations over \(handles.count) senders…")
        _ = try await AssignmentService(database).reassignSome(.init(
            campaignID: campaign.id, source: .unassigned, target: .allActive, count: options.conversations * 9 / 10,
            actor: "bench"))
        try await database.query("""
            UPDATE conversations SET status = (ARRAY['not_started','needs_reply','waiting','closed'])[1 + id % 4],
                   last_message_at = CASE WHEN id % 4 = 0 THEN NULL ELSE now() - make_interval(secs => id) END
            WHERE campaign_id = \(campaign.id)
            """)
        try await database.query("VACUUM ANALYZE conversations")
        let organizer = try await Directory(database).addUser(orgID: org.id, handle: "organizer", role: .organizer)
        return (campaign, handles[0], organizer)
    }

    public struct Timing: Sendable, Encodable {
        public let name: String
        public let median: Double
        public let runs: [Double]
    }

    public struct Latency: Sendable, Encodable {
        public let name: String
        public let count: Int
        public let p50: Double
        public let p99: Double

        public init(name: String, count: Int, p50: Double, p99: Double) {
            self.name = name
            self.count = count
            self.p50 = p50
            self.p99 = p99
        }
    }

    public struct SelfAssignRow: Sendable, Encodable {
        public let strategy: String
        public let requesters: Int
        public let requests: Int
        public let perSecond: Double
        public let p50: Double
        public let p99: Double
        public let doubleGrants: Int
    }

    public struct Report: Sendable, Encodable {
        public var conversations: Int
        public var senders: Int
        public var cores: Int
        public var note = "throwaway cluster with fsync off; times in seconds, latencies in milliseconds"
        public var timings: [Timing] = []
        public var ratios: [String: Double] = [:]
        public var peakMemoryMiB: Double = 0
        public var latencies: [Latency] = []
        public var selfAssign: [SelfAssignRow] = []
        public var routing: [RoutingRow] = []

        public init(conversations: Int, senders: Int, cores: Int) {
            self.conversations = conversations
            self.senders = senders
            self.cores = cores
        }
    }

    let database: Database
    let options: Options
    let log: @Sendable (String) -> Void

    public init(database: Database, options: Options, log: @escaping @Sendable (String) -> Void) {
        self.database = database
        self.options = options
        self.log = log
    }

    var logger: Logger { database.logger }

    public func run() async throws -> Report {
        var report = Report(conversations: options.conversations, senders: options.senders,
                            cores: ProcessInfo.processInfo.activeProcessorCount)
        let org = try await Directory(database).createOrganization(name: "Bench \(UUID().uuidString.prefix(6))")
        if options.only == .selfAssign {
            report.selfAssign = try await selfAssign(org: org)
            return report
        }
        if options.only == .routing {
            report.routing = try await routing(org: org)
            return report
        }
        let campaign = try await loadCampaign(org: org, name: "bench", conversations: options.conversations)
        let handles = try await senderHandles(campaign)
        let assignments = AssignmentService(database)
        if options.only == .selection {
            try await selection(campaign: campaign, handles: handles, into: &report)
            return report
        }
        if options.only == .report {
            try await reportScenario(campaign: campaign, into: &report)
            return report
        }
        if options.only == .others {
            _ = try await assignments.reassignAll(.init(campaignID: campaign.id, source: .unassigned, target: .allActive,
                                                        actor: "bench"))
            try await others(org: org, campaign: campaign, handles: handles, into: &report)
            return report
        }

        // 1. Reassign All, distribute evenly, with full history, against the floor and the peer. The three take
        //    turns within each round, so that the machine's drift (this one's speed varies by ±20% from minute
        //    to minute) weighs on all of them alike; the ratios are medians of each round's ratios. Each of our runs
        //    deals to a rotated target order so that every conversation moves.
        log("Reassign All of \(options.conversations) over \(handles.count) senders, the two floors and the peer, in turns…")
        let floorSenders = try await makeFloorTables(campaign: campaign)
        var ours: [Double] = []
        var floor: [Double] = []
        var oldFloor: [Double] = []
        var peer: [Double] = []
        for run in 0..<options.runs {
            let rotated = Array(handles[(run + 1)...] + handles[...run])
            let request = AssignmentService.BulkRequest(campaignID: campaign.id, source: .anyone,
                                                        target: .senders(rotated), actor: "bench")
            try await vacuum()
            ours.append(try await time { _ = try await assignments.reassignAll(request) })
            // Before the peer's first run, which holds every id in this process.
            if run == 0 { report.peakMemoryMiB = Self.peakMemoryMiB() }
            floor.append(try await floorRun("bench_floor", campaign: campaign, to: floorSenders[run % 2]))
            oldFloor.append(try await floorRun("bench_old_floor", campaign: campaign, to: floorSenders[run % 2]))
            try await vacuum()
            peer.append(try await withoutCounts(campaign) { connection in
                try await time { try await peerChunked(campaign: campaign, rotation: run + 7, on: connection) }
            })
            log("  round \(run + 1): ours \(String(format: "%.2f", ours[run])) s, floor \(String(format: "%.2f", floor[run])) s, old floor \(String(format: "%.2f", oldFloor[run])) s, peer \(String(format: "%.2f", peer[run])) s")
        }
        try await database.query("DROP TABLE bench_floor, bench_old_floor")
        report.timings.append(Timing(name: "reassign_all_distribute", median: median(ours), runs: ours))
        report.timings.append(Timing(name: "floor_bare_update", median: median(floor), runs: floor))
        report.timings.append(Timing(name: "old_floor_bare_update", median: median(oldFloor), runs: oldFloor))
        report.timings.append(Timing(name: "peer_app_side_chunked", median: median(peer), runs: peer))
        report.ratios["ours_over_floor"] = median(zip(ours, floor).map { $0 / $1 })
        report.ratios["ours_over_old_floor"] = median(zip(ours, oldFloor).map { $0 / $1 })
        report.ratios["peer_over_ours"] = median(zip(peer, ours).map { $0 / $1 })
        if options.only == .reassignAll { return report }

        // 2. Reassign Some of 10%, Unassign All of one sender.
        log("Reassign Some 10% and Unassign All…")
        var some: [Double] = []
        var unassign: [Double] = []
        for run in 0..<options.runs {
            let request = AssignmentService.BulkRequest(
                campaignID: campaign.id, source: .anyone, target: .senders([handles[run], handles[run + 1]]),
                count: options.conversations / 10, actor: "bench")
            some.append(try await time { _ = try await assignments.reassignSome(request) })
            let from = handles[(run * 37 + 5) % handles.count]
            unassign.append(try await time {
                let preview = try await assignments.previewUnassignAll(campaignID: campaign.id, from: from, status: .any,
                                                                       actor: "bench")
                _ = try await assignments.unassignAll(campaignID: campaign.id, from: from, status: .any, actor: "bench",
                                                      confirmationToken: preview.confirmationToken)
            })
        }
        report.timings.append(Timing(name: "reassign_some_10_percent", median: median(some), runs: some))
        report.timings.append(Timing(name: "unassign_all_one_sender", median: median(unassign), runs: unassign))

        try await others(org: org, campaign: campaign, handles: handles, into: &report)

        // 3. Self-assign under concurrency, and 8. routing's cost on receiving a message.
        report.selfAssign = try await selfAssign(org: org)
        report.routing = try await routing(org: org)
        return report
    }

    /// Sender list, single reassigns, message ingest and import, on `campaign` with its conversations dealt.
    private func others(org: Organization, campaign: Campaign, handles: [String], into report: inout Report) async throws {
        let assignments = AssignmentService(database)
        // 4. Sender list with counts, at a tenth of the size and at full size.
        log("Sender list…")
        let small = try await loadCampaign(org: org, name: "bench-small", conversations: options.conversations / 10,
                                           senderOffset: 0)
        _ = try await assignments.reassignAll(.init(campaignID: small.id, source: .unassigned, target: .allActive, actor: "bench"))
        report.latencies.append(try await senderList(small, name: "sender_list_\(options.conversations / 10)"))
        report.latencies.append(try await senderList(campaign, name: "sender_list_\(options.conversations)"))
        report.ratios["sender_list_growth"] = report.latencies[1].p50 / report.latencies[0].p50

        // 5. Single reassigns.
        log("Single reassigns…")
        report.latencies.append(try await singleReassigns(campaign: campaign, handles: handles))

        // 6. Inbound replies, and 7. an import of a tenth of the campaign's size.
        log("Message ingest…")
        report.latencies.append(try await messageIngest(campaign: campaign, conversations: options.conversations))
        log("Import of \(options.conversations / 10) contacts…")
        report.timings.append(try await importContacts(org: org))
    }

    // MARK: Loading

    func loadCampaign(org: Organization, name: String, conversations: Int, senderOffset: Int = 0) async throws
        -> Campaign
    {
        let campaign = try await CampaignService(database).create(
            orgID: org.id, name: name, settings: .init(selfAssign: true, batchSize: 25, requireFinishedBatch: false))
        try await database.query("""
            INSERT INTO users (org_id, handle, name, role)
            SELECT \(org.id), 'texter' || lpad(g::text, 5, '0'), 'Texter ' || g, 'texter'
            FROM generate_series(1, \(options.senders)) g
            ON CONFLICT (org_id, handle) DO NOTHING
            """)
        try await database.query("""
            INSERT INTO campaign_senders (campaign_id, org_id, user_id)
            SELECT \(campaign.id), \(org.id), id FROM users WHERE org_id = \(org.id) AND handle LIKE 'texter%'
            """)
        log("Loading \(conversations) conversations with COPY…")
        let total = conversations
        try await database.client.withConnection { connection in
            try await connection.copyFrom(table: "contacts", columns: ["campaign_id", "phone", "name"],
                                          logger: logger) { writer in
                var buffer = ByteBuffer()
                for index in 1...max(total, 1) where total > 0 {
                    buffer.writeString("\(campaign.id)\t+1\(String(2_000_000_000 + index))\tContact \(index)\n")
                    if buffer.readableBytes > 1 << 20 {
                        try await writer.write(buffer)
                        buffer.clear()
                    }
                }
                if buffer.readableBytes > 0 { try await writer.write(buffer) }
            }
        }
        try await database.query("""
            INSERT INTO conversations (campaign_id, id) SELECT campaign_id, id FROM contacts
            WHERE campaign_id = \(campaign.id) ORDER BY id
            """)
        // Vacuumed now, as the conversations are before each timed run: otherwise autovacuum's first pass over a
        // million new contacts runs during the timings (the console's pages took twice as long while it did).
        try await database.query("VACUUM ANALYZE contacts")
        try await database.query("ANALYZE conversations")
        return campaign
    }

    func senderHandles(_ campaign: Campaign) async throws -> [String] {
        try await database.query("""
            SELECT u.handle FROM campaign_senders s JOIN users u ON u.id = s.user_id
            WHERE s.campaign_id = \(campaign.id) ORDER BY u.handle COLLATE "C"
            """).map { try $0.decode(String.self) }
    }

    private func vacuum() async throws {
        try await database.query("VACUUM conversations")
        try await database.query("CHECKPOINT")
    }

    // MARK: Comparisons

    /// The same rows in two reference tables, each to be updated by one bare statement to a constant: no
    /// history, no counts, no triggers. `bench_floor` has the conversation's own shape (its columns and indexes;
    /// the assignee is checked per statement, so no foreign key). `bench_old_floor` has the shape conversations
    /// had before the contact moved out (migration 0013): phone, name and fields in the row, the phone's
    /// uniqueness, the lookup by id and the per-row foreign key to the senders. Returns the two sender ids the
    /// floors alternate between.
    private func makeFloorTables(campaign: Campaign) async throws -> [Int64] {
        try await database.query("DROP TABLE IF EXISTS bench_floor, bench_old_floor")
        try await database.query("CREATE TABLE bench_floor (LIKE conversations INCLUDING ALL)")
        try await database.query(
            "INSERT INTO bench_floor SELECT * FROM conversations WHERE campaign_id = \(campaign.id) ORDER BY id")
        try await database.query("""
            CREATE TABLE bench_old_floor (
                campaign_id bigint NOT NULL REFERENCES campaigns (id),
                id bigint NOT NULL,
                phone text NOT NULL CHECK (phone ~ '^\\+[1-9][0-9]{6,14}$'),
                name text NOT NULL DEFAULT '',
                fields jsonb NOT NULL DEFAULT '{}',
                status text NOT NULL DEFAULT 'not_started'
                    CHECK (status IN ('not_started', 'needs_reply', 'waiting', 'closed', 'opted_out')),
                assignee_id bigint,
                unread boolean NOT NULL DEFAULT false,
                last_message_at timestamptz,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (campaign_id, id),
                UNIQUE (campaign_id, phone),
                FOREIGN KEY (campaign_id, assignee_id) REFERENCES campaign_senders (campaign_id, user_id)
            )
            """)
        try await database.query("""
            INSERT INTO bench_old_floor
            SELECT c.campaign_id, c.id, p.phone, p.name, p.fields, c.status, c.assignee_id, c.unread, c.last_message_at,
                   c.created_at, c.updated_at
            FROM conversations c JOIN contacts p ON p.campaign_id = c.campaign_id AND p.id = c.id
            WHERE c.campaign_id = \(campaign.id) ORDER BY c.id
            """)
        try await database.query("CREATE INDEX ON bench_old_floor (campaign_id, assignee_id, status, created_at, id)")
        try await database.query("""
            CREATE INDEX ON bench_old_floor (campaign_id, created_at, id) WHERE assignee_id IS NULL AND status = 'not_started'
            """)
        try await database.query("CREATE INDEX ON bench_old_floor (id)")
        try await database.query("""
            CREATE INDEX ON bench_old_floor (campaign_id, (coalesce(last_message_at, created_at)) DESC, id DESC)
            WHERE assignee_id IS NULL
            """)
        try await database.query("VACUUM ANALYZE bench_floor")
        try await database.query("VACUUM ANALYZE bench_old_floor")
        return try await database.query(
            "SELECT user_id FROM campaign_senders WHERE campaign_id = \(campaign.id) ORDER BY user_id LIMIT 2"
        ).map { try $0.decode(Int64.self) }
    }

    private func floorRun(_ table: String, campaign: Campaign, to sender: Int64) async throws -> Double {
        try await database.query(PostgresQuery(unsafeSQL: "VACUUM \(table)"))
        try await database.query("CHECKPOINT")
        return try await time {
            try await database.query(PostgresQuery(unsafeSQL: """
                UPDATE \(table) SET assignee_id = \(sender), updated_at = now() WHERE campaign_id = \(campaign.id)
                """))
        }
    }

    /// Runs the bench's own raw updates on one connection with the counts trigger off, then rebuilds the
    /// campaign's counts from its rows (after `body`, so outside what it times). The peer keeps no counts, as a
    /// Spoke-like app does not: timed with the row trigger on, it paid two inserts per conversation, 60% more time
    /// (23.5 s against 13–15 s on this machine). So the peer/ours ratio is a conservative one.
    @discardableResult
    private func withoutCounts<T>(_ campaign: Campaign, _ body: @escaping (PostgresConnection) async throws -> T) async throws -> T {
        let result = try await database.withConnection { connection in
            // Session-wide, since the peer runs without one transaction; turned back on before the connection
            // returns to the pool, whether `body` threw or not.
            try await ConversationCounts.switchTrigger(off: true, session: true, on: connection, logger: logger)
            let outcome: Result<T, any Error>
            do { outcome = .success(try await body(connection)) } catch { outcome = .failure(error) }
            try await ConversationCounts.switchTrigger(off: false, session: true, on: connection, logger: logger)
            return try outcome.get()
        }
        try await ConversationCounts(database).rebuild(campaignID: campaign.id)
        return result
    }

    /// Spoke's way: every matching id into the application, then per target `UPDATE … WHERE id IN (…)` in chunks
    /// of 65,000, each statement its own transaction, no history.
    private func peerChunked(campaign: Campaign, rotation: Int, on connection: PostgresConnection) async throws {
        let ids = try await database.query(
            "SELECT id FROM conversations WHERE campaign_id = \(campaign.id) ORDER BY created_at, id"
        ).map { try $0.decode(Int64.self) }
        var targets = try await database.query(
            "SELECT user_id FROM campaign_senders WHERE campaign_id = \(campaign.id) AND active ORDER BY user_id"
        ).map { try $0.decode(Int64.self) }
        targets = Array(targets[(rotation % targets.count)...] + targets[..<(rotation % targets.count)])
        let shares = EvenSplit.shares(of: ids.count, over: targets.count)
        var start = 0
        for (target, share) in zip(targets, shares) {
            var chunkStart = start
            while chunkStart < start + share {
                let chunk = Array(ids[chunkStart..<min(chunkStart + 65_000, start + share)])
                try await connection.query("UPDATE conversations SET assignee_id = \(target) WHERE campaign_id = \(campaign.id) AND id = ANY(\(chunk))",
                                           logger: logger)
                chunkStart += chunk.count
            }
            start += share
        }
    }

    private func senderList(_ campaign: Campaign, name: String) async throws -> Latency {
        let service = SenderService(database)
        _ = try await service.list(campaignID: campaign.id)
        var samples: [Double] = []
        for _ in 0..<options.senderListCalls {
            samples.append(try await time { _ = try await service.list(campaignID: campaign.id) } * 1000)
        }
        return Self.latency(name, samples)
    }

    private func singleReassigns(campaign: Campaign, handles: [String]) async throws -> Latency {
        let bounds = try await database.query(
            "SELECT min(id), max(id) FROM conversations WHERE campaign_id = \(campaign.id)")[0].decode((Int64, Int64).self)
        let service = AssignmentService(database)
        var samples: [Double] = []
        for _ in 0..<options.singleReassigns {
            let id = Int64.random(in: bounds.0...bounds.1)
            let to = handles.randomElement()!
            samples.append(try await time {
                _ = try await service.reassign(conversationID: id, to: to, actor: "bench", campaignID: campaign.id)
            } * 1000)
        }
        return Self.latency("single_reassign", samples)
    }

    // MARK: Self-assign

    private func selfAssign(org: Organization) async throws -> [SelfAssignRow] {
        log("Self-assign pool of \(options.selfAssignPool)…")
        let campaign = try await loadCampaign(org: org, name: "bench-pool", conversations: options.selfAssignPool)
        let handles = try await senderHandles(campaign)
        var rows: [SelfAssignRow] = []
        for level in options.concurrencyLevels {
            for strategy in SelfAssignService.ClaimStrategy.allCases {
                try await withoutCounts(campaign) { connection in
                    try await connection.query("""
                        UPDATE conversations SET assignee_id = NULL WHERE campaign_id = \(campaign.id) AND assignee_id IS NOT NULL
                        """, logger: logger)
                }
                try await vacuum()
                let firstBatch = try await database.query(
                    "SELECT coalesce(max(id), 0) FROM assignment_batches")[0].decode(Int64.self)
                let row = try await selfAssignRun(campaign: campaign, handles: Array(handles.prefix(level)),
                                                  strategy: strategy, firstBatch: firstBatch)
                log("  \(strategy.rawValue) × \(level): \(Int(row.perSecond)) req/s, p50 \(String(format: "%.1f", row.p50)) ms, p99 \(String(format: "%.1f", row.p99)) ms")
                rows.append(row)
            }
        }
        return rows
    }

    private func selfAssignRun(campaign: Campaign, handles: [String], strategy: SelfAssignService.ClaimStrategy,
                               firstBatch: Int64) async throws -> SelfAssignRow {
        let service = SelfAssignService(database, claimSlots: 4, strategy: strategy)
        let seconds = options.selfAssignSeconds
        let started = ContinuousClock.now
        let samples = try await withThrowingTaskGroup(of: [Double].self) { group in
            for handle in handles {
                group.addTask {
                    var mine: [Double] = []
                    while (ContinuousClock.now - started) < .seconds(seconds) {
                        let begin = ContinuousClock.now
                        _ = try await service.requestMore(campaignID: campaign.id, sender: handle, count: 25)
                        mine.append((ContinuousClock.now - begin).seconds * 1000)
                    }
                    return mine
                }
            }
            return try await group.reduce(into: [Double]()) { $0 += $1 }
        }
        let elapsed = (ContinuousClock.now - started).seconds
        let doubles = try await database.query("""
            SELECT count(*) FROM (SELECT ch.conversation_id FROM assignment_changes ch
            JOIN assignment_batches b ON b.id = ch.batch_id
            WHERE ch.campaign_id = \(campaign.id) AND b.kind = 'self_assign' AND ch.batch_id > \(firstBatch)
            GROUP BY ch.conversation_id HAVING count(*) > 1) d
            """)[0].decode(Int.self)
        let latency = Self.latency("", samples)
        return SelfAssignRow(strategy: strategy.rawValue, requesters: handles.count, requests: samples.count,
                             perSecond: Double(samples.count) / elapsed, p50: latency.p50, p99: latency.p99,
                             doubleGrants: doubles)
    }

    // MARK: Measuring

    func time(_ body: () async throws -> Void) async throws -> Double {
        let start = ContinuousClock.now
        try await body()
        return (ContinuousClock.now - start).seconds
    }

    func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }

    static func latency(_ name: String, _ samples: [Double]) -> Latency {
        let sorted = samples.sorted()
        func percentile(_ p: Double) -> Double {
            sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.down)))]
        }
        return Latency(name: name, count: sorted.count, p50: percentile(0.5), p99: percentile(0.99))
    }

    /// The process's peak resident memory (VmHWM), in MiB.
    static func peakMemoryMiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kib = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kib / 1024
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
