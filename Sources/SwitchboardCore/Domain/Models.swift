import Foundation

/// A tenant. Nothing of one organization is visible to another.
public struct Organization: Sendable, Codable, Equatable {
    public let id: Int64
    public let name: String
}

/// The three roles of the contract.
public enum Role: String, Sendable, Codable, CaseIterable {
    case admin, organizer, texter

    /// Admins and organizers run batch operations and see sender lists.
    public var canManage: Bool { self != .texter }
}

/// A person in an organization.
public struct User: Sendable, Codable, Equatable {
    public let id: Int64
    public let orgID: Int64
    public let handle: String
    public let name: String
    public let role: Role
    public let active: Bool
}

/// A campaign's self-assign rules.
public struct SelfAssignSettings: Sendable, Codable, Equatable {
    public var selfAssign: Bool
    public var batchSize: Int
    public var maxOpen: Int?
    public var requireFinishedBatch: Bool

    public static let defaultBatchSize = 300
    public static let batchSizeRange = 1...5000

    public init(selfAssign: Bool = false, batchSize: Int = defaultBatchSize, maxOpen: Int? = nil,
                requireFinishedBatch: Bool = true) {
        self.selfAssign = selfAssign
        self.batchSize = batchSize
        self.maxOpen = maxOpen
        self.requireFinishedBatch = requireFinishedBatch
    }

    /// Checks the ranges of the contract, naming the bad value.
    public func validate() throws(SwitchboardError) {
        guard Self.batchSizeRange.contains(batchSize) else {
            throw .invalid("invalid_batch_size", "Batch size \(batchSize) is out of range; it must be from 1 to 5000.")
        }
        // The column is a 32-bit integer; a cap beyond any campaign's size is refused, not overflowed.
        if let maxOpen, !(1...100_000_000).contains(maxOpen) {
            throw .invalid("invalid_max_open", "Max open \(maxOpen) is out of range; it must be from 1 to 100000000.")
        }
    }
}

/// A texting campaign of one organization.
public struct Campaign: Sendable, Equatable {
    public let id: Int64
    public let orgID: Int64
    public let name: String
    public let settings: SelfAssignSettings
    public let createdAt: Date
    public var routing = RoutingSettings()
    /// Teams and approval (wave 3): only these teams' members may be added, join or request (empty: anyone).
    public var teams: [String] = []
    /// Routing picks only among this team's senders.
    public var routingTeam: String? = nil
    /// Request Conversations is held for an organizer's approval (auto-approved texters excepted).
    public var requestApproval = false
}

/// How a campaign routes a reply nobody owns, and when it releases replies left waiting (issue 19).
public struct RoutingSettings: Sendable, Equatable {
    public var policy: RoutingPolicy = .manual
    /// What the skill policy does when nobody with the skills can take the conversation.
    public var fallback: RoutingPolicy = .manual
    /// Minutes a conversation may need a reply from its assignee before it is released and routed again.
    public var releaseStaleAfter: Int? = nil

    public init(policy: RoutingPolicy = .manual, fallback: RoutingPolicy = .manual, releaseStaleAfter: Int? = nil) {
        self.policy = policy
        self.fallback = fallback
        self.releaseStaleAfter = releaseStaleAfter
    }

    public static let releaseStaleRange = 1...525_600

    public func validate() throws(SwitchboardError) {
        guard fallback != .skill else {
            throw .invalid("invalid_policy", "Fallback policy 'skill' is not allowed; use manual, round_robin or least_loaded.")
        }
        if let releaseStaleAfter, !Self.releaseStaleRange.contains(releaseStaleAfter) {
            throw .invalid("invalid_release_stale_after",
                           "Release stale after \(releaseStaleAfter) minutes is out of range; it must be from 1 to 525600.")
        }
    }
}

/// Who receives a reply that arrives on an unassigned conversation.
public enum RoutingPolicy: String, Sendable, Equatable, CaseIterable, Codable {
    /// It waits in Unassigned; the first replier claims it.
    case manual
    /// Available senders take turns, by handle.
    case roundRobin = "round_robin"
    /// The available sender with the fewest open conversations; ties by handle.
    case leastLoaded = "least_loaded"
    /// Only senders whose skills cover the conversation's tags, the least loaded of them; else the fallback.
    case skill

    /// Accepts `least_loaded` and `least-loaded`.
    public init(parsing text: String) throws(SwitchboardError) {
        guard let policy = RoutingPolicy(rawValue: text.lowercased().replacingOccurrences(of: "-", with: "_")) else {
            throw .invalid("invalid_policy",
                           "Routing policy '\(text)' is unknown; use manual, round_robin, least_loaded or skill.")
        }
        self = policy
    }
}

/// A user on a campaign's sender list with their per-status counts.
public struct SenderCounts: Sendable, Equatable {
    public let handle: String
    public let name: String
    public let active: Bool
    /// Away senders receive nothing from routing.
    public var available: Bool = true
    /// The sender's skills in this campaign, sorted.
    public var skills: [String] = []
    public let counts: StatusCounts
    /// When the sender last sent, closed, requested or released in this campaign.
    public var lastActiveAt: Date? = nil
    /// Seconds since the contact's reply on the sender's oldest Needs Reply conversation (nil: none waits).
    public var oldestNeedsReplySeconds: Int? = nil
}

/// Conversations per status; `total` is their sum.
public struct StatusCounts: Sendable, Equatable {
    public var byStatus: [ConversationStatus: Int]

    public init(_ byStatus: [ConversationStatus: Int] = [:]) { self.byStatus = byStatus }

    public subscript(status: ConversationStatus) -> Int {
        get { byStatus[status, default: 0] }
        set { byStatus[status] = newValue }
    }

    public var total: Int { byStatus.values.reduce(0, +) }
}

/// The sender list of a campaign: each sender's counts and the unassigned pool's.
public struct SenderList: Sendable, Equatable {
    public let campaignID: Int64
    public let senders: [SenderCounts]
    public let unassigned: StatusCounts

    /// Every conversation of the campaign is counted exactly once.
    public var total: Int { senders.reduce(unassigned.total) { $0 + $1.counts.total } }
}

/// One contact inside one campaign.
public struct Conversation: Sendable, Equatable {
    public let id: Int64
    public let campaignID: Int64
    public let phone: String
    public let name: String
    public let status: ConversationStatus
    public let assignee: String?
    public let unread: Bool
    public let lastMessageAt: Date?
    public let createdAt: Date
}
