import Foundation

/// A plan: batch operations to run in order, each as its own batch (`switchboard apply`, `POST /v1/plans/preview`).
/// Read from the JSON or YAML document of a file, every step checked for shape before anything runs; what only the
/// database can judge (handles, ids, rules) fails at its step.
public struct Plan: Sendable {
    public let steps: [Step]
    /// The plan as JSON (`{"campaign"?, "steps": [...]}`), as sent to the API.
    public let json: Data

    public struct Step: Sendable {
        public let number: Int
        public let operation: Operation
        /// "reassign-all from: kevin, to: rebecca": the step as reports name it.
        public let summary: String
        /// Unassign All and Undo are confirmed before a plan runs.
        public var needsConfirmation: Bool {
            switch operation {
            case .unassignAll, .undo: true
            default: false
            }
        }
    }

    public enum Operation: Sendable {
        case bulk(AssignmentService.BulkRequest)
        case unassignAll(campaignID: Int64, from: String?, status: StatusFilter, note: String?, filter: ConversationFilter)
        case reassign(conversationID: Int64, to: String?, campaignID: Int64?, note: String?)
        case undo(batchID: Int64, note: String?)
        case handoff(RoutingService.HandoffRequest)

        public var campaignID: Int64? {
            switch self {
            case .bulk(let request): request.campaignID
            case .unassignAll(let campaignID, _, _, _, _): campaignID
            case .reassign(_, _, let campaignID, _): campaignID
            case .undo: nil
            case .handoff(let request): request.campaignID
            }
        }
    }

    /// `document` as loaded from JSON or YAML: `{campaign?, steps: [...]}` or a bare list of steps. `name` is what
    /// errors call it ("File 'plan.yaml'", "The plan").
    public init(document: Any?, name: String) throws {
        var campaign: Int64? = nil
        let list: [Any]
        if let top = document as? [String: Any] {
            let unknown = Set(top.keys).subtracting(["campaign", "steps"])
            if let key = unknown.sorted().first {
                throw SwitchboardError(.invalid, "invalid_plan", "\(name) has an unknown key '\(key)'; give 'campaign' and 'steps'.")
            }
            campaign = try top["campaign"].map { try Self.integer($0, "campaign", step: nil) }
            guard let steps = top["steps"] as? [Any] else {
                throw SwitchboardError(.invalid, "invalid_plan", "\(name) has no list of 'steps'.")
            }
            list = steps
        } else if let steps = document as? [Any] {
            list = steps
        } else {
            throw SwitchboardError(.invalid, "invalid_plan", "\(name) holds neither a list of steps nor 'steps'.")
        }
        guard !list.isEmpty else { throw SwitchboardError(.invalid, "invalid_plan", "\(name) has no steps.") }
        steps = try list.enumerated().map { index, value in try Self.step(number: index + 1, value, campaign: campaign) }
        var document: [String: Any] = ["steps": list]
        if let campaign { document["campaign"] = Int(campaign) }
        guard JSONSerialization.isValidJSONObject(document),
              let json = try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys]) else {
            throw SwitchboardError(.invalid, "invalid_plan", "\(name) holds values that are not plain text, numbers or lists.")
        }
        self.json = json
    }

    /// A plan sent as JSON (the API's body).
    public init(json data: Data) throws {
        guard let document = try? JSONDecoder().decode(Native.self, from: data) else {
            throw SwitchboardError(.invalid, "invalid_json", "The plan is not valid JSON.")
        }
        try self.init(document: document.value, name: "The plan")
    }

    /// JSON read into the plain Swift values a YAML loader gives (Bool, Int, Double, String, arrays, dictionaries),
    /// so that a plan reads the same from a file and from the API: `true` stays a Bool, `1` an Int.
    struct Native: Decodable {
        let value: Any

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() { value = NSNull() }
            else if let flag = try? container.decode(Bool.self) { value = flag }
            else if let number = try? container.decode(Int.self) { value = number }
            else if let number = try? container.decode(Double.self) { value = number }
            else if let text = try? container.decode(String.self) { value = text }
            else if let list = try? container.decode([Native].self) { value = list.map(\.value) }
            else { value = try container.decode([String: Native].self).mapValues(\.value) }
        }
    }

    // MARK: Reading a step

    static let keys: [String: Set<String>] = [
        "reassign-all": selection.union(["campaign", "from", "from-unassigned", "from-anyone", "status", "to", "to-all",
                                         "to-team", "balance", "available-only", "note"]),
        "reassign-some": selection.union(["campaign", "from", "from-unassigned", "from-anyone", "status", "to", "to-all",
                                          "to-team", "balance", "available-only", "note", "count"]),
        "unassign-all": selection.union(["campaign", "from", "from-anyone", "status", "note"]),
        "reassign": ["campaign", "conversation", "to", "unassign", "note"],
        "undo": ["batch", "note"],
        "handoff": ["campaign", "from", "to", "policy", "status", "note"],
    ]

    /// The filter keys a bulk step takes, as the CLI's flags name them.
    static let selection: Set<String> = ["tag", "without-tag", "last-message-before", "last-message-after", "field",
                                         "search", "conversations"]

    static func step(number: Int, _ value: Any, campaign defaultCampaign: Int64?) throws -> Step {
        guard let raw = value as? [String: Any] else {
            throw invalid(number, "is not a mapping of an operation and its options")
        }
        // `from_unassigned` and `from-unassigned` both read as the CLI's flag.
        let fields = Dictionary(raw.map { ($0.key.replacingOccurrences(of: "_", with: "-"), $0.value) },
                                uniquingKeysWith: { first, _ in first })
        guard let name = fields["operation"] as? String else {
            throw invalid(number, "names no 'operation' (reassign-all, reassign-some, unassign-all, reassign, undo or handoff)")
        }
        guard let allowed = keys[name] else {
            throw invalid(number, "has an unknown operation '\(name)'")
        }
        if let key = Set(fields.keys).subtracting(allowed).subtracting(["operation"]).sorted().first {
            throw invalid(number, "has an unknown key '\(key)' for \(name)")
        }
        let read = Reader(number: number, fields: fields)
        let note = try read.string("note")
        let status = try StatusFilter(parsing: try read.string("status") ?? "any")
        func campaign() throws -> Int64 {
            guard let campaign = try read.integer("campaign") ?? defaultCampaign else {
                throw invalid(number, "names no campaign (give 'campaign' in the step or at the top of the file)")
            }
            return campaign
        }
        let operation: Operation
        switch name {
        case "reassign-all", "reassign-some":
            var request = AssignmentService.BulkRequest(
                campaignID: try campaign(), source: try read.source(), status: status, target: try read.target(),
                distribution: try read.bool("balance") ? .balance : .even, actor: "", note: note,
                availableOnly: try read.bool("available-only"))
            request.filter = try read.filter()
            if name == "reassign-some" {
                guard let count = try read.integer("count") else { throw invalid(number, "needs a 'count'") }
                request.count = Int(count)
            }
            operation = .bulk(request)
        case "unassign-all":
            let from = try read.string("from")
            guard (from != nil) != (try read.bool("from-anyone")) else {
                throw invalid(number, "needs exactly one of 'from' and 'from-anyone'")
            }
            operation = .unassignAll(campaignID: try campaign(), from: from, status: status, note: note,
                                     filter: try read.filter())
        case "reassign":
            guard let conversation = try read.integer("conversation") else { throw invalid(number, "needs a 'conversation'") }
            let to = try read.string("to")
            guard (to != nil) != (try read.bool("unassign")) else {
                throw invalid(number, "needs exactly one of 'to' and 'unassign'")
            }
            operation = .reassign(conversationID: conversation, to: to,
                                  campaignID: try read.integer("campaign") ?? defaultCampaign, note: note)
        case "undo":
            guard let batch = try read.integer("batch") else { throw invalid(number, "needs a 'batch'") }
            operation = .undo(batchID: batch, note: note)
        default:
            guard let from = try read.string("from") else { throw invalid(number, "needs 'from'") }
            operation = .handoff(.init(campaignID: try campaign(), from: from, to: try read.string("to"),
                                       policy: try read.string("policy").map { try RoutingPolicy(parsing: $0) },
                                       status: status, actor: "", note: note))
        }
        return Step(number: number, operation: operation, summary: summary(name, fields))
    }

    /// "reassign-all from: kevin, to: rebecca,maria": the step as the report names it.
    static func summary(_ name: String, _ fields: [String: Any]) -> String {
        let shown = fields.keys.filter { $0 != "operation" && $0 != "note" }.sorted().map { key -> String in
            let value = fields[key]!
            if let list = value as? [Any] { return "\(key): \(list.map { "\($0)" }.joined(separator: ","))" }
            return "\(key): \(value)"
        }
        return ([name] + (shown.isEmpty ? [] : [shown.joined(separator: ", ")])).joined(separator: " ")
    }

    static func invalid(_ number: Int, _ problem: String) -> SwitchboardError {
        SwitchboardError(.invalid, "invalid_plan", "Step \(number) \(problem).")
    }

    static func integer(_ value: Any, _ key: String, step: Int?) throws -> Int64 {
        if let number = value as? Int { return Int64(number) }
        if let text = value as? String, let number = Int64(text) { return number }
        let place = step.map { "Step \($0)" } ?? "The file"
        throw SwitchboardError(.invalid, "invalid_plan", "\(place): '\(key)' must be a whole number, not '\(value)'.")
    }

    /// Typed reads of one step's fields, each error naming the step and the key.
    struct Reader {
        let number: Int
        let fields: [String: Any]

        func string(_ key: String) throws -> String? {
            guard let value = fields[key] else { return nil }
            if let text = value as? String {
                try Text.check(text, field: "'\(key)' of step \(number)")
                return text
            }
            if value is Int || value is Double { return "\(value)" }
            throw Plan.invalid(number, "has '\(key)' that is not text")
        }

        func integer(_ key: String) throws -> Int64? {
            try fields[key].map { try Plan.integer($0, key, step: number) }
        }

        /// A list of text, or one text (`tag: vip` and `tag: [vip, donor]` read alike).
        func strings(_ key: String) throws -> [String] {
            switch fields[key] {
            case nil: return []
            case let list as [Any]: return try list.map { item in
                guard let text = item as? String else { throw Plan.invalid(number, "has '\(key)' that is not a list of text") }
                return text
            }
            default: return try string(key).map { [$0] } ?? []
            }
        }

        /// The step's filter: `tag`, `without-tag`, `last-message-before`, `last-message-after`, `field` (a
        /// mapping of name to value), `search` and `conversations` (a list of ids).
        func filter() throws -> ConversationFilter {
            var fieldPairs: [String] = []
            switch fields["field"] {
            case nil: break
            case let mapping as [String: Any]: fieldPairs = mapping.map { "\($0.key)=\($0.value)" }
            default: fieldPairs = try strings("field")
            }
            var conversations: String?
            switch fields["conversations"] {
            case nil: break
            case let list as [Any]: conversations = list.map { "\($0)" }.joined(separator: ",")
            default: conversations = try string("conversations")
            }
            return try ConversationFilter(tags: try strings("tag"), withoutTags: try strings("without-tag"),
                                          lastMessageBefore: try string("last-message-before"),
                                          lastMessageAfter: try string("last-message-after"), fields: fieldPairs,
                                          search: try string("search"), conversations: conversations)
        }

        func bool(_ key: String) throws -> Bool {
            guard let value = fields[key] else { return false }
            guard let flag = value as? Bool else { throw Plan.invalid(number, "has '\(key)' that is not true or false") }
            return flag
        }

        func source() throws -> Source {
            let from = try string("from")
            let given = [from != nil, try bool("from-unassigned"), try bool("from-anyone")].filter { $0 }.count
            guard given == 1 else { throw Plan.invalid(number, "needs exactly one of 'from', 'from-unassigned' and 'from-anyone'") }
            if let from { return .sender(from) }
            return try bool("from-unassigned") ? .unassigned : .anyone
        }

        /// `to: [a, b]`, `to: a,b`, `to: all`, `to-all: true`, or `to-team: NAME`.
        func target() throws -> Target {
            let all = try bool("to-all")
            if let team = try string("to-team") {
                guard fields["to"] == nil && !all else {
                    throw Plan.invalid(number, "needs exactly one target: 'to', 'to-all' or 'to-team'")
                }
                return .team(team)
            }
            switch fields["to"] {
            case nil where all: return .allActive
            case let list as [Any] where !all:
                let handles = list.map { "\($0)" }
                guard !handles.isEmpty else { throw Plan.invalid(number, "has an empty 'to'") }
                return .senders(handles)
            case let text as String where !all:
                if text == "all" { return .allActive }
                let handles = text.split(separator: ",", omittingEmptySubsequences: false).map {
                    $0.trimmingCharacters(in: .whitespaces)
                }
                guard !handles.contains(where: \.isEmpty) else { throw Plan.invalid(number, "has an empty handle in 'to'") }
                return .senders(handles)
            default:
                throw Plan.invalid(number, "needs exactly one target: 'to' (handles, or all) or 'to-all'")
            }
        }
    }
}

/// What a plan would do: every step run for real inside one transaction that is rolled back (a rehearsal), so each
/// step sees the ones before it, as `apply` would run them. The first failing step ends it, as it ends `apply`.
public struct PlanPreview: Sendable, Codable {
    public var steps: [StepOutcome] = []
    /// Every sender of each campaign the plan touches (and the unassigned pool, handle "(unassigned)"), in
    /// conversations held: before the plan and after all of its steps.
    public var counts: [Count] = []

    public static let pool = "(unassigned)"

    public struct StepOutcome: Sendable, Codable {
        public let step: Int
        public let operation: String
        /// done, failed or not_run
        public let state: String
        /// As a dry run reports it: no batch id.
        public var result: BatchResult?
        public var error: Failure?

        public init(step: Int, operation: String, state: String, result: BatchResult? = nil, error: Failure? = nil) {
            self.step = step
            self.operation = operation
            self.state = state
            self.result = result
            self.error = error
        }
    }

    /// A step's error: its code and sentence, and the kind that sets the exit code.
    public struct Failure: Sendable, Codable {
        public let code: String
        public let message: String
        public let kind: String

        public init(_ error: SwitchboardError) {
            code = error.code
            message = error.message
            kind = "\(error.kind)"
        }

        public var error: SwitchboardError {
            let kinds: [String: SwitchboardError.Kind] = [
                "invalid": .invalid, "notFound": .notFound, "refused": .refused, "conflict": .conflict,
                "forbidden": .forbidden, "unauthorized": .unauthorized, "unavailable": .unavailable,
            ]
            return SwitchboardError(kinds[kind] ?? .invalid, code, message)
        }
    }

    public struct Count: Sendable, Codable, Equatable {
        public let campaign_id: Int64
        public let handle: String
        public let before: Int
        public let after: Int
    }

    public init() {}
}

public struct PlanService: Sendable {
    let database: Database

    public init(_ database: Database) { self.database = database }

    /// Rehearses `plan` as `actor`; `orgID` keeps every step inside one organization (the API).
    public func preview(_ plan: Plan, actor: String, orgID: Int64? = nil) async throws -> PlanPreview {
        let database = database
        return try await database.rehearse {
            var preview = PlanPreview()
            var campaigns: [Int64] = []
            for step in plan.steps {
                guard let id = try? await Self.campaign(of: step, database, orgID: orgID), !campaigns.contains(id) else { continue }
                campaigns.append(id)
            }
            var before: [Int64: SenderList] = [:]
            for id in campaigns { before[id] = try await SenderService(database).list(campaignID: id) }
            for step in plan.steps {
                if preview.steps.contains(where: { $0.state == "failed" }) {
                    preview.steps.append(.init(step: step.number, operation: step.summary, state: "not_run"))
                    continue
                }
                do {
                    var result = try await Self.run(step, database, actor: actor, orgID: orgID)
                    result.batchID = nil
                    result.dryRun = true
                    preview.steps.append(.init(step: step.number, operation: step.summary, state: "done", result: result))
                } catch let error as SwitchboardError {
                    preview.steps.append(.init(step: step.number, operation: step.summary, state: "failed",
                                               error: .init(error)))
                }
            }
            for id in campaigns {
                let after = try await SenderService(database).list(campaignID: id)
                let now = Dictionary(after.senders.map { ($0.handle, $0.counts.total) }, uniquingKeysWith: +)
                for sender in before[id]!.senders {
                    preview.counts.append(.init(campaign_id: id, handle: sender.handle, before: sender.counts.total,
                                                after: now[sender.handle, default: 0]))
                }
                preview.counts.append(.init(campaign_id: id, handle: PlanPreview.pool, before: before[id]!.unassigned.total,
                                            after: after.unassigned.total))
            }
            return preview
        }
    }

    /// The campaign a step works on, checked against the organization.
    static func campaign(of step: Plan.Step, _ database: Database, orgID: Int64?) async throws -> Int64 {
        switch step.operation {
        case .undo(let batchID, _): return try await HistoryService(database).batch(id: batchID, orgID: orgID).campaignID
        case .reassign(let conversationID, _, _, _):
            return try await ConversationService(database).conversation(id: conversationID, orgID: orgID).campaignID
        default: return try await CampaignService(database).campaign(id: step.operation.campaignID!, orgID: orgID).id
        }
    }

    /// One step for real (inside the rehearsal).
    static func run(_ step: Plan.Step, _ database: Database, actor: String, orgID: Int64?) async throws -> BatchResult {
        let assignment = AssignmentService(database)
        switch step.operation {
        case .bulk(var request):
            request.actor = actor
            request.orgID = orgID
            return request.count == nil ? try await assignment.reassignAll(request) : try await assignment.reassignSome(request)
        case .unassignAll(let campaignID, let from, let status, let note, let filter):
            let preview = try await assignment.previewUnassignAll(campaignID: campaignID, from: from, status: status,
                                                                  actor: actor, filter: filter, orgID: orgID)
            return try await assignment.unassignAll(campaignID: campaignID, from: from, status: status, actor: actor,
                                                    confirmationToken: preview.confirmationToken, note: note,
                                                    filter: filter, orgID: orgID)
        case .reassign(let conversationID, let to, let campaignID, let note):
            return try await assignment.reassign(conversationID: conversationID, to: to, actor: actor, note: note,
                                                 campaignID: campaignID, orgID: orgID)
        case .undo(let batchID, let note):
            return try await assignment.undo(batchID: batchID, actor: actor, note: note, orgID: orgID)
        case .handoff(var request):
            request.actor = actor
            request.orgID = orgID
            return try await RoutingService(database).handoff(request)
        }
    }
}
