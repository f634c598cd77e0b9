import Foundation
import SwitchboardCore

// The messenger's and the setup pages' view models (see Views.swift for the organizer's).

struct QueuePage {
    struct Filter {
        let label: String
        /// Nil for the Unassigned view, which has no count.
        let count: String?
        let link: String
        let current: Bool
    }

    struct Row {
        let link: String
        let contact: String
        let phone: String
        let status: String
        let unread: Bool
        let at: String
    }

    let title: String
    let user: UserView
    let csrf: String
    let campaign: CampaignView
    let heading: String
    /// The sender an organizer is viewing as (nil: the signed-in texter's own queue).
    let viewingAs: String?
    let manager: Bool
    let senders: [Option]
    let filters: [Filter]
    let unassignedView: Bool
    /// The list's heading: the filter shown ("Open conversations", "Needs Reply"…).
    let listHeading: String
    let conversations: [Row]
    let next: String?
    let banner: String?
    let canRequest: Bool
    /// Why Request Conversations is not offered right now.
    let requestHint: String?
    let formKey: String
    /// The pool's size: what Request Conversations can draw on.
    let upNext: String
    let selfAssign: Bool
    let canRelease: Bool
    let live: String
    let empty: String
    /// The texter's own Away / Available switch (not while viewing as someone).
    var availability: Availability? = nil

    struct Availability {
        let available: Bool
    }
}

struct ReleasePage {
    let title = "Release"
    let user: UserView
    let csrf: String
    let campaign: CampaignView
    let count: String
    let back: String
    let formKey: String
}

struct ThreadPage {
    let title: String
    let user: UserView
    let csrf: String
    let campaign: CampaignView
    let back: String
    let id: Int64
    let contact: String
    let phone: String
    let status: String
    let unassigned: Bool
    let canReply: Bool
    let canClose: Bool
    let messages: [ConversationPage.MessageRow]
    let formKey: String
    let error: String?
}

/// A campaign's settings form (also the New campaign page), with its invite links.
struct SettingsForm {
    struct InviteRow {
        let id: Int64
        let created: String
        let expires: String
        let joined: Int
        let state: String
        let live: Bool
    }

    let title: String
    let user: UserView
    let csrf: String
    let campaign: CampaignView?
    var name: String
    var selfAssign: Bool
    var batchSize: String
    var maxOpen: String
    var requireFinishedBatch: Bool
    var notice: String?
    var error: String?
    var newLink: String?
    var invites: [InviteRow] = [] { didSet { hasInvites = !invites.isEmpty } }
    var hasInvites = false
    var tabs: [Tab] = []
    let defaultDays = InviteService.defaultDays
    /// The routing form (the settings page of an existing campaign only).
    var routing: RoutingForm?
    var teamsForm: TeamsForm?

    init(title: String, user: UserView, csrf: String, campaign: CampaignView?, name: String, settings: SelfAssignSettings) {
        self.title = title
        self.user = user
        self.csrf = csrf
        self.campaign = campaign
        self.name = name
        selfAssign = settings.selfAssign
        batchSize = String(settings.batchSize)
        maxOpen = settings.maxOpen.map(String.init) ?? ""
        requireFinishedBatch = settings.requireFinishedBatch
    }

    /// What was typed, kept after a refusal.
    mutating func kept(_ form: FormBody) {
        name = (try? form.value("name")) ?? name
        selfAssign = form.flag("self_assign")
        batchSize = (try? form.value("batch_size")) ?? ""
        maxOpen = (try? form.value("max_open")) ?? ""
        requireFinishedBatch = form.flag("require_finished_batch")
    }
}

/// How the campaign routes replies nobody owns, as the settings page shows it.
struct RoutingForm {
    let policies: [Option]
    let fallbacks: [Option]
    let releaseStaleAfter: String

    static let labels: [(RoutingPolicy, String)] = [
        (.manual, "Manual: replies wait in Unassigned"), (.roundRobin, "Round robin among available senders"),
        (.leastLoaded, "Least loaded available sender"), (.skill, "By skill, then least loaded"),
    ]

    init(_ routing: RoutingSettings) {
        policies = Self.labels.map { Option(value: $0.0.rawValue, label: $0.1, selected: $0.0 == routing.policy) }
        fallbacks = Self.labels.filter { $0.0 != .skill }.map {
            Option(value: $0.0.rawValue, label: $0.1, selected: $0.0 == routing.fallback)
        }
        releaseStaleAfter = routing.releaseStaleAfter.map(String.init) ?? ""
    }
}

struct SendersPage {
    struct Row {
        let handle: String
        let name: String
        let active: Bool
        let available: Bool
        let skills: String
        let open: Int
        let lastActive: String
        let viewAs: String
    }

    struct Candidate {
        let handle: String
        let name: String
        let role: String
    }

    let title = "Senders"
    let user: UserView
    let csrf: String
    let campaign: CampaignView
    let tabs: [Tab]
    let notice: String?
    let error: String?
    let search: String
    let senders: [Row]
    let candidates: [Candidate]
    let hasCandidates: Bool
    /// The handoff form: shown when there are senders; its routing policy; its double-post guard.
    let hasSenders: Bool
    let policy: String
    /// Handoff to a team, beside the senders.
    var teams: [Option] = []
    let formKey = ConsoleAuth.randomToken(bytes: 16)
}

struct ContactsPage {
    let title = "Contacts"
    let user: UserView
    let csrf: String
    let campaign: CampaignView
    let tabs: [Tab]
    let notice: String?
    let error: String?
    let total: String
    let unassigned: Int
    let unassignedVerb: String
    let uploadKey: String
}

struct UsersPage {
    struct Row {
        let handle: String
        let name: String
        let role: String
        let active: Bool
        let canSignIn: Bool
        let tokens: Int
        let autoApprove: Bool
    }

    let title = "Users"
    let user: UserView
    let csrf: String
    let notice: String?
    let link: String?
    let error: String?
    let handle: String
    let name: String
    let roles: [Option]
    let members: [Row]
}

struct JoinPage {
    let title = "Join"
    let campaign: String
    let token: String
    let user: UserView?
    let csrf: String
    var handle = ""
    var name = ""
    var error: String?

    init(campaign: String, token: String, session: ConsoleAuth.Session?) {
        self.campaign = campaign
        self.token = token
        user = session.map { UserView($0.user) }
        csrf = session?.csrfToken ?? ""
    }
}

struct SetPasswordPage {
    let title = "Set your password"
    let handle: String
    let token: String
    var error: String?
}
