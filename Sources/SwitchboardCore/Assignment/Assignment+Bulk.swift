import Foundation
import PostgresNIO

extension AssignmentService {
    /// Reassign All and Reassign Some: the source's conversations matching the filter go to the targets.
    public struct BulkRequest: Sendable {
        public var campaignID: Int64
        public var source: Source
        public var status: StatusFilter
        public var target: Target
        /// Reassign Some: how many of the oldest to move.
        public var count: Int?
        public var distribution: Distribution
        public var actor: String
        public var dryRun: Bool
        /// Stored with the batch and shown in history (at most 500 characters).
        public var note: String?
        /// Named targets who are away are skipped, and `--to-all` takes only available senders.
        public var availableOnly = false
        /// Restricts the campaign to one organization (the HTTP API); nil from the CLI.
        public var orgID: Int64?
        /// Narrows the source and status: tags, times, fields, search, hand-picked ids.
        public var filter = ConversationFilter()
        /// From a dry run of the same operation: moves only what it previewed that still matches.
        public var previewToken: String?

        public init(campaignID: Int64, source: Source, status: StatusFilter = .any, target: Target, count: Int? = nil,
                    distribution: Distribution = .even, actor: String, dryRun: Bool = false, note: String? = nil,
                    availableOnly: Bool = false, orgID: Int64? = nil) {
            self.campaignID = campaignID
            self.source = source
            self.status = status
            self.target = target
            self.count = count
            self.distribution = distribution
            self.actor = actor
            self.dryRun = dryRun
            self.note = note
            self.availableOnly = availableOnly
            self.orgID = orgID
        }
    }

    /// Every conversation of the source matching the filter → the targets.
    public func reassignAll(_ request: BulkRequest, onStart: (@Sendable (Int) -> Void)? = nil) async throws -> BatchResult {
        var request = request
        request.count = nil
        return try await bulk(.reassignAll, request, onStart: onStart)
    }

    /// The `count` oldest such conversations → the targets; fewer if fewer match (`requested` says how many were asked).
    public func reassignSome(_ request: BulkRequest, onStart: (@Sendable (Int) -> Void)? = nil) async throws -> BatchResult {
        guard (request.count ?? 0) >= 1 else {
            throw SwitchboardError.invalid("invalid_count",
                                           "Count \(request.count.map(String.init) ?? "(none)") is invalid; give a whole number of at least 1.")
        }
        return try await bulk(.reassignSome, request, onStart: onStart)
    }

    func bulk(_ kind: BatchKind, _ request: BulkRequest, onStart: (@Sendable (Int) -> Void)?) async throws -> BatchResult {
        try await Telemetry.batch(kind, campaignID: request.campaignID, actor: request.actor, logger: database.logger) {
            try await applyBulk(kind, request, onStart: onStart)
        }
    }

    private func applyBulk(_ kind: BatchKind, _ request: BulkRequest, onStart: (@Sendable (Int) -> Void)?) async throws
        -> BatchResult
    {
        try Self.validate(actor: request.actor)
        let note = try Self.validate(note: request.note)
        let filter = try request.filter.validated()
        let campaign = try await campaign(request.campaignID, orgID: request.orgID)
        return try await database.transaction(.repeatableRead, campaign: campaign.id) { connection in
            try await Self.sizeForBulk(on: connection, logger: logger)
            let sourceID = try await resolveSource(request.source, campaign: campaign, on: connection)
            let targets = try await resolveTargets(request.target, campaign: campaign, availableOnly: request.availableOnly,
                                                   on: connection)
            try await filter.checkPicked(campaignID: campaign.id, on: connection, logger: logger)
            var selection = Selection(campaignID: campaign.id, source: request.source, sourceID: sourceID,
                                      status: request.status.status, limit: request.count)
            selection.filter = filter
            let binding = Self.binding(["operation": kind.rawValue, "source": request.source.description,
                                        "status": request.status.name, "to": request.target.description,
                                        "count": request.count.map(String.init) ?? "",
                                        "distribution": request.distribution.rawValue,
                                        "available_only": String(request.availableOnly)], filter: filter)
            var preview: (hash: ByteBuffer, size: Int)?
            if let token = request.previewToken {
                preview = try await checkPreview(token, campaignID: campaign.id, actor: request.actor, binding: binding,
                                                 on: connection)
                selection.previews = [preview!.hash]
            }
            let matched = try await count(selection, on: connection)
            onStart?(matched)
            let shares: [Int]
            switch request.distribution {
            case .even:
                shares = EvenSplit.shares(of: matched, over: targets.count)
            case .balance:
                let loads = try await openLoads(of: targets.map(\.id), outside: selection, on: connection)
                shares = Balance.shares(of: matched, loads: loads)
            }
            let batchID = request.dryRun ? nil : try await nextBatchID(on: connection)
            let outcome = try await move(selection, to: targets.map(\.id), starts: Self.starts(shares),
                                         matched: matched, batchID: batchID, on: connection)
            let received = Dictionary(uniqueKeysWithValues: outcome.tallies.map { ($0.userID, $0.received) })
            var parameters = ["source": request.source.description, "to": targets.map(\.handle).joined(separator: ","),
                              "distribution": request.distribution.rawValue]
            if let count = request.count { parameters["count"] = String(count) }
            if case .team(let team) = request.target { parameters["to_team"] = team }
            if let summary = filter.summary { parameters["filter"] = summary }
            let recorded = try await recordIfMoved(batchID, campaignID: campaign.id, kind: kind, actor: request.actor,
                                                   statusFilter: request.status, parameters: parameters,
                                                   outcome: outcome, note: note, on: connection)
            var result = BatchResult(
                batchID: recorded, operation: kind, campaignID: campaign.id, statusFilter: request.status.name,
                matched: outcome.matched, moved: outcome.moved, unchanged: outcome.matched - outcome.moved,
                dryRun: request.dryRun,
                perSender: targets.map { SenderReceipt(handle: $0.handle, received: received[$0.id, default: 0]) })
            result.requested = request.count
            result.removedBySender = Self.removed(outcome)
            try await finishPreview(&result, preview: preview, selection: selection, binding: binding,
                                    actor: request.actor, on: connection)
            return result
        }
    }

    /// A dry run issues a preview token bound to what it matched; a run with a token uses it up and says how
    /// many previewed conversations no longer matched.
    func finishPreview(_ result: inout BatchResult, preview: (hash: ByteBuffer, size: Int)?, selection: Selection,
                       binding: String, actor: String, on connection: PostgresConnection) async throws {
        if result.dryRun {
            result.previewToken = try await issuePreview(selection, binding: binding, actor: actor, on: connection).token
        } else if let preview {
            try await usePreview(preview.hash, on: connection)
        }
        if let preview { result.noLongerMatching = max(0, preview.size - result.matched) }
    }

    /// Each sender's losses in a move, by handle.
    static func removed(_ outcome: MoveOutcome) -> [String: Int] {
        Dictionary(outcome.tallies.filter { $0.removed > 0 }.map { ($0.handle, $0.removed) }, uniquingKeysWith: +)
    }

    /// Writes the batch row when something moved; returns the batch id to report (nil otherwise).
    func recordIfMoved(_ batchID: Int64?, campaignID: Int64, kind: BatchKind, actor: String, statusFilter: StatusFilter,
                       parameters: [String: String], outcome: MoveOutcome, undoes: Int64? = nil, note: String? = nil,
                       on connection: PostgresConnection) async throws -> Int64? {
        guard let batchID, outcome.moved > 0 else { return nil }
        try await recordBatch(id: batchID, campaignID: campaignID, kind: kind, actor: actor, statusFilter: statusFilter,
                              parameters: parameters, matched: outcome.matched, moved: outcome.moved,
                              unchanged: outcome.matched - outcome.moved, undoes: undoes, note: note,
                              tallies: outcome.tallies,
                              on: connection)
        return batchID
    }

    /// Block boundaries from shares: target i deals positions starts[i] ..< starts[i] + shares[i].
    static func starts(_ shares: [Int]) -> [Int] {
        var starts: [Int] = []
        var next = 0
        for share in shares {
            starts.append(next)
            next += share
        }
        return starts
    }

    /// Each target's open conversations (not closed or opted out) that the selection does not take.
    func openLoads(of targets: [Int64], outside selection: Selection, on connection: PostgresConnection) async throws -> [Int] {
        var statement = SQLStatement()
        statement.append("""
            SELECT c.assignee_id, count(*) FROM conversations c
            WHERE c.campaign_id = \(statement.bind(selection.campaignID))
              AND c.assignee_id = ANY(\(statement.bind(targets))::bigint[])
              AND c.status NOT IN ('closed', 'opted_out') AND NOT coalesce((
            """)
        selection.conditions(&statement)
        statement.append("), false) GROUP BY c.assignee_id")
        var loads: [Int64: Int] = [:]
        for try await (id, count) in try await connection.query(statement.query, logger: logger).decode((Int64, Int).self) {
            loads[id] = count
        }
        return targets.map { loads[$0, default: 0] }
    }
}

/// Balanced distribution: fill the least-loaded targets first, so that resulting loads are as equal as
/// possible ("water-filling"); leftover single conversations go to the earliest targets at the lowest level.
public enum Balance {
    public static func shares(of k: Int, loads: [Int]) -> [Int] {
        precondition(!loads.isEmpty && k >= 0)
        func needed(_ level: Int) -> Int { loads.reduce(0) { $0 + max(0, level - $1) } }
        // The highest level L with needed(L) <= k.
        var low = loads.min()!
        var high = loads.max()! + k
        while low < high {
            let middle = (low + high + 1) / 2
            if needed(middle) <= k { low = middle } else { high = middle - 1 }
        }
        var shares = loads.map { max(0, low - $0) }
        var left = k - shares.reduce(0, +)
        for index in loads.indices where left > 0 && loads[index] <= low {
            shares[index] += 1
            left -= 1
        }
        return shares
    }
}
