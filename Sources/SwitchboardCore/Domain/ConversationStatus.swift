/// Where a conversation stands; driven by message events, never set by hand.
public enum ConversationStatus: String, Sendable, CaseIterable, Codable {
    case notStarted = "not_started"
    case needsReply = "needs_reply"
    case waiting
    case closed
    case optedOut = "opted_out"

    /// The spelling used in filters and on the command line (`not-started`).
    public var filterName: String { rawValue.replacingOccurrences(of: "_", with: "-") }

    /// Open conversations are the ones still on a sender's plate.
    public var isOpen: Bool { self != .closed && self != .optedOut }
}

/// Which conversations a batch operation looks at: every status, or one.
public enum StatusFilter: Sendable, Equatable, Hashable {
    case any
    case only(ConversationStatus)

    /// Parses `any`, a filter name (`needs-reply`) or a status (`needs_reply`).
    public init(parsing text: String) throws(SwitchboardError) {
        let lowered = text.lowercased()
        if lowered == "any" {
            self = .any
            return
        }
        let normalized = lowered.replacingOccurrences(of: "-", with: "_")
        guard let status = ConversationStatus(rawValue: normalized) else {
            let names = (["any"] + ConversationStatus.allCases.map(\.filterName)).joined(separator: ", ")
            throw .invalid("invalid_status", "Unknown status filter '\(text)'; use one of \(names).")
        }
        self = .only(status)
    }

    /// The name reported back in results (`any`, `needs-reply`, …).
    public var name: String {
        switch self {
        case .any: "any"
        case .only(let status): status.filterName
        }
    }

    /// The status to match, or nil for every status.
    public var status: ConversationStatus? {
        switch self {
        case .any: nil
        case .only(let status): status
        }
    }
}
