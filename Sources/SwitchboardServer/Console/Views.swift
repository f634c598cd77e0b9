import Foundation
import SwitchboardCore

// One view-model per page, named after it. Templates read their properties by name.

/// The signed-in user, for the header.
struct UserView {
    let name: String
    let handle: String
    let role: String

    init(_ user: User) {
        name = user.name
        handle = user.handle
        role = user.role.rawValue
    }
}

struct CampaignView {
    let id: Int64
    let name: String

    init(_ campaign: Campaign) {
        id = campaign.id
        name = campaign.name
    }
}

struct Option {
    let value: String
    let label: String
    let selected: Bool
}

/// The status filters, with ThruText's three first.
enum StatusChoices {
    static let all: [(value: String, label: String)] = [
        ("any", "Any"), ("needs-reply", "Needs Reply"), ("not-started", "Not Started"), ("waiting", "Waiting"),
        ("closed", "Closed"), ("opted-out", "Opted Out"),
    ]

    static func options(selected: String?) -> [Option] {
        all.map { Option(value: $0.value, label: $0.label, selected: $0.value == (selected ?? "any")) }
    }

    static func label(_ value: String) -> String {
        all.first { $0.value == value || $0.value == value.replacingOccurrences(of: "_", with: "-") }?.label ?? value
    }
}

struct ErrorPage {
    let title: String
    let heading: String
    let message: String
    let user: UserView?
    let csrf: String

    init(heading: String, message: String, session: ConsoleAuth.Session?) {
        title = heading
        self.heading = heading
        self.message = message
        user = session.map { UserView($0.user) }
        csrf = session?.csrfToken ?? ""
    }
}

struct SignInPage {
    let title = "Sign in"
    let next: String
    var handle = ""
    var organization = ""
    var error: String?
}

struct CampaignsPage {
    struct Row {
        let id: Int64
        let name: String
        let total: Int
        let unassigned: Int
        let needsReply: Int
        let link: String
    }

    let title = "Campaigns"
    let user: UserView
    let csrf: String
    let campaigns: [Row]
    let hasCampaigns: Bool
    /// Organizers see counts and setup links; texters see the campaigns they send for.
    let manager: Bool
    let admin: Bool

    init(user: UserView, csrf: String, campaigns: [Row], manager: Bool, admin: Bool) {
        self.user = user
        self.csrf = csrf
        self.campaigns = campaigns
        hasCampaigns = !campaigns.isEmpty
        self.manager = manager
        self.admin = admin
    }
}

struct OverviewPage {
    struct SenderRow {
        let label: String
        let link: String
        let selected: Bool
        let deactivated: Bool
        var away = false
        let progress: String
        let needsReply: Int
        let notStarted: Int
        let waiting: Int
        let closed: Int
        let optedOut: Int
        let lastActive: String
        /// How long the oldest Needs Reply has waited ("3h 5m"), empty when none waits.
        var oldestNeedsReply = ""
    }

    struct Target {
        let handle: String
        let label: String
        let checked: Bool
    }

    /// One action's form: Reassign All, Reassign Some or Unassign All, of one sender or in bulk.
    struct ActionForm {
        let title: String
        let op: String
        let from: String
        let back: String
        let hasCount: Bool
        let count: String
        let statuses: [Option]
        let hasTargets: Bool
        let toAll: Bool
        /// Check boxes for a few senders; past `OverviewPage.checkBoxLimit`, a field of handles instead.
        let targets: [Target]
        let manyTargets: Bool
        let toText: String
        let balance: Bool
        let button: String
        let open: Bool
        /// The filter bar's values (and ticked conversations), carried to the preview.
        var selection: [PreviewPage.Field] = []
        /// "Acts on the conversations matching tag=vip." when the filter bar narrows.
        var scope: String?
        /// The organization's teams, offered as a target beside the senders.
        var teams: [Option] = []
        var hasTeams = false
    }

    struct Banner {
        let text: String
        let undoBatchID: Int64?
        let back: String
    }

    struct ConversationRow {
        let id: Int64
        let name: String
        let phone: String
        let status: String
        let unread: Bool
        let activity: String
    }

    struct List {
        let heading: String
        let sender: String
        let statuses: [Option]
        let rows: [ConversationRow]
        let next: String?
        /// The filter bar.
        let status: String
        let back: String
        let tag: String
        let withoutTag: String
        let before: String
        let after: String
        let field: String
        let search: String
        let filtered: Bool
        let clear: String
        /// How many match across every page, for "Select all N matching".
        let matching: Int
        let matchingText: String
        /// The filter bar's values as hidden fields of the selection form.
        let selection: [PreviewPage.Field]
        /// Who "Reassign selected" can give to.
        let targets: [Target]
        let canUnassign: Bool
        let canPick: Bool
    }

    /// Above this many active senders, targets are typed (with suggestions), not ticked.
    static let checkBoxLimit = 30
    /// The Senders table shows this many rows unless asked for all.
    static let senderRows = 100

    let title = "Conversations Overview"
    let user: UserView
    let csrf: String
    let campaign: CampaignView
    let banner: Banner?
    let senders: [SenderRow]
    let sortSender: String
    let sortProgress: String
    let sortNeedsReply: String
    let sortOldest: String
    let bulk: Bool
    let selectedLabel: String
    let error: String?
    let forms: [ActionForm]
    /// Every active sender's handle, for the handles field's suggestions (only with many senders).
    let handles: [String]
    let list: List?
    let tabs: [Tab]
    /// The sender filter's text, and the sort it keeps.
    let find: String
    let sort: String
    /// "Showing 100 of 1,000 senders." and the link to all of them, when the table is cut.
    let shown: String?
    let showAll: String?
    /// Whether the filter box is worth showing.
    let manySenders: Bool
    /// The selected sender's messenger, for "Viewing as".
    let viewAs: String?
    /// The campaign's routing and its backlog, in a sentence.
    var routing = ""
    /// The campaign's Needs Reply by how long they have waited, e.g. "Needs Reply waiting: under 1 h 5 · …".
    var needsReplyAges = ""
}

struct PreviewPage {
    struct Field {
        let name: String
        let value: String
    }

    let title: String
    let user: UserView
    let csrf: String
    let campaign: CampaignView
    let back: String
    let summary: String
    let chart: String
    let canConfirm: Bool
    let confirmButton: String
    let confirmWord: String?
    let fields: [Field]
    let error: String?
}

struct ConversationPage {
    struct MessageRow {
        let direction: String
        let who: String
        let body: String
        let at: String
    }

    struct Move {
        let at: String
        let actor: String
        let from: String
        let to: String
        let kind: String
        let batchID: Int64
    }

    let title: String
    let user: UserView
    let csrf: String
    let campaign: CampaignView
    let back: String
    let id: Int64
    let contact: String
    let phone: String
    let status: String
    let assignee: String
    let assigned: Bool
    let messages: [MessageRow]
    let targets: [OverviewPage.Target]
    let history: [Move]
    let error: String?
    /// The conversation's tags, joined by commas (skill routing matches them to senders' skills).
    var tags = ""
    var teams: [Option] = []
    var hasTeams = false
}

struct HistoryPage {
    struct Row {
        let id: Int64
        let at: String
        let actor: String
        let kind: String
        let statusFilter: String
        let moved: Int
        let unchanged: Int
        let undoneBy: Int64?
        let canUndo: Bool
        let note: String?
    }

    let title = "History"
    let user: UserView
    let csrf: String
    let campaign: CampaignView
    let tabs: [Tab]
    let batches: [Row]
    let hasBatches: Bool
    /// The next page of older batches, if any.
    let older: String?

    init(user: UserView, csrf: String, campaign: CampaignView, batches: [Row], older: String?) {
        self.user = user
        self.csrf = csrf
        self.campaign = campaign
        tabs = Console.tabs(campaign.id, current: "history")
        self.batches = batches
        hasBatches = !batches.isEmpty
        self.older = older
    }
}

struct BatchPage {
    struct Move {
        let conversationID: Int64
        let from: String
        let to: String
    }

    let title: String
    let user: UserView
    let csrf: String
    let campaign: CampaignView
    let batch: HistoryService.Batch
    let at: String
    let moves: [Move]
    let next: String?
    /// The selection's filter, as History records it (nil when the batch had none).
    var filter: String?
}

enum Words {
    /// "2026-11-30 07:41 UTC"
    static func time(_ date: Date?) -> String {
        guard let date else { return "" }
        // "2026-11-30T09:48:41Z" → "2026-11-30 09:48 UTC", without a DateFormatter per call (the Senders
        // table formats one per sender).
        let iso = date.ISO8601Format()
        return "\(iso.prefix(10)) \(iso.dropFirst(11).prefix(5)) UTC"
    }

    static func operation(_ kind: String) -> String {
        switch kind {
        case "reassign_all", "reassign-all": "Reassign All"
        case "reassign_some", "reassign-some": "Reassign Some"
        case "unassign_all", "unassign-all": "Unassign All"
        case "reassign": "Reassign"
        case "self_assign": "Request"
        case "release": "Release"
        case "claim": "Claim by reply"
        case "undo": "Undo"
        case "route": "Routed reply"
        case "handoff": "Shift handoff"
        case "release_stale": "Released stale replies"
        case "request": "Approved request"
        default: kind
        }
    }

    static func policy(_ policy: RoutingPolicy) -> String {
        switch policy {
        case .manual: "manual"
        case .roundRobin: "round robin"
        case .leastLoaded: "least loaded"
        case .skill: "by skill"
        }
    }

    static func requestStatus(_ status: RequestService.Status) -> String {
        switch status {
        case .pending: "Waiting"
        case .approved: "Approved"
        case .denied: "Denied"
        case .expired: "Expired unanswered"
        }
    }

    static func conversations(_ count: Int) -> String { count == 1 ? "1 conversation" : "\(count) conversations" }

    static func source(_ source: String) -> String {
        switch source {
        case "unassigned": "Unassigned"
        case "anyone": "everyone"
        default: source
        }
    }
}
