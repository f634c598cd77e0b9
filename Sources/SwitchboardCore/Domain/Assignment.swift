/// Whose conversations a batch operation takes.
public enum Source: Sendable, Equatable {
    case sender(String)
    case unassigned
    case anyone

    /// The form recorded in history and shown back to users.
    public var description: String {
        switch self {
        case .sender(let handle): handle
        case .unassigned: "unassigned"
        case .anyone: "anyone"
        }
    }
}

/// Who receives them: named active senders in the given order, every active sender by handle, or a team's
/// active senders of the campaign by handle.
public enum Target: Sendable, Equatable, CustomStringConvertible {
    case senders([String])
    case allActive
    case team(String)

    /// `all`, `team:NAME`, or the handles in dealing order, comma-separated.
    public var description: String {
        switch self {
        case .allActive: "all"
        case .senders(let handles): handles.joined(separator: ",")
        case .team(let name): "team:\(name)"
        }
    }
}

/// How moved conversations are spread over the targets.
public enum Distribution: String, Sendable, Equatable {
    /// The contract's even split: ⌊k/n⌋ or ⌈k/n⌉ each, in blocks, oldest first, extras to the first targets.
    case even
    /// Fill the targets so that their resulting open loads are as equal as possible.
    case balance
}

/// The kinds of batch written to history.
public enum BatchKind: String, Sendable, Codable, CaseIterable {
    case reassignAll = "reassign_all"
    case reassignSome = "reassign_some"
    case unassignAll = "unassign_all"
    case reassign
    case selfAssign = "self_assign"
    case release
    case claim
    case undo
    /// Routing gave a reply nobody owned to a sender.
    case route
    /// A shift change: a sender's open conversations moved on and the sender marked away.
    case handoff
    /// An organizer approved a texter's request for conversations (request approval).
    case request
    /// Replies left waiting too long, released and routed again.
    case releaseStale = "release_stale"
}

/// What a target received in a batch.
public struct SenderReceipt: Sendable, Equatable, Codable {
    public let handle: String
    public let received: Int

    public init(handle: String, received: Int) {
        self.handle = handle
        self.received = received
    }
}

/// The result of one assignment operation, identical for a dry run and the real run.
public struct BatchResult: Sendable, Equatable {
    /// Nil on a dry run or when nothing moved.
    public var batchID: Int64?
    public var operation: BatchKind
    public var campaignID: Int64
    public var statusFilter: String
    public var matched: Int
    public var moved: Int
    public var unchanged: Int
    public var dryRun: Bool
    public var perSender: [SenderReceipt]
    /// Reassign Some and self-assign: how many were asked for.
    public var requested: Int?
    /// Undo: conversations left alone because their assignee changed since.
    public var skipped: Int?
    /// How many conversations each sender lost, by handle (for previews; not part of the JSON).
    public var removedBySender: [String: Int] = [:]
    /// A dry run's token: run with it to move only what this preview matched (valid 10 minutes).
    public var previewToken: String?
    /// A run with a preview token: previewed conversations that no longer matched, and were left alone.
    public var noLongerMatching: Int?

    public init(batchID: Int64?, operation: BatchKind, campaignID: Int64, statusFilter: String, matched: Int,
                moved: Int, unchanged: Int, dryRun: Bool, perSender: [SenderReceipt], requested: Int? = nil,
                skipped: Int? = nil) {
        self.batchID = batchID
        self.operation = operation
        self.campaignID = campaignID
        self.statusFilter = statusFilter
        self.matched = matched
        self.moved = moved
        self.unchanged = unchanged
        self.dryRun = dryRun
        self.perSender = perSender
        self.requested = requested
        self.skipped = skipped
    }
}

/// The even split of the contract: how many of `k` conversations each of `n` targets receives.
public enum EvenSplit {
    /// Target `i` (0-based) gets ⌈k/n⌉ if `i < k mod n`, else ⌊k/n⌋.
    public static func shares(of k: Int, over n: Int) -> [Int] {
        precondition(n > 0 && k >= 0)
        return (0..<n).map { k / n + ($0 < k % n ? 1 : 0) }
    }
}
