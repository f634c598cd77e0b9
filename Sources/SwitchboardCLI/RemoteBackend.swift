import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchboardCore

/// The commands over the HTTP API with a bearer token: the CLI's remote mode (issue 22). History records the
/// token's user; organization isolation and roles apply as they do to every API client.
///
/// The client is async-http-client rather than Foundation's `URLSession`: on Linux `URLSession` goes through
/// libcurl (one more system library in the image) and cannot stream a response body, which `export` needs; the
/// NIO client is the one the rest of the stack already runs on, with explicit connect and read deadlines.
struct RemoteBackend: Backend {
    let server: URL
    let token: String
    /// Sent on every POST that changes assignments; one per command run, so the one retry cannot apply twice.
    let idempotencyKey: String
    var isRemote: Bool { true }

    /// A batch over a million conversations can take a minute; nothing waits longer than this.
    static let deadline: TimeAmount = .minutes(15)

    /// One client for the process. A refused connection fails at once (the command's own single retry covers a
    /// flaky network) rather than being retried by the pool until the deadline; an unanswered one after 10 s.
    static let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration(read: nil))

    static func configuration(read: TimeAmount?) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(10), read: read))
        configuration.connectionPool.retryConnectionEstablishment = false
        return configuration
    }

    // MARK: The requests

    enum Retry { case never, once }

    /// One call: JSON in, JSON out. An error body becomes the server's `SwitchboardError` (so the exit code is that
    /// of the same Core error); a dropped connection or a 503 is retried once when `retry` allows it.
    func call<Answer: Decodable>(_ method: HTTPMethod, _ path: String, query: [String: String?] = [:],
                                 repeated: [URLQueryItem] = [], body: [String: JSONValue]? = nil, retry: Retry = .never,
                                 as: Answer.Type = Answer.self) async throws -> Answer {
        let data = try await send(method, path, query: query, repeated: repeated, body: body, retry: retry)
        return try decoded(Answer.self, data, method, path)
    }

    func decoded<Answer: Decodable>(_ type: Answer.Type, _ data: Data, _ method: HTTPMethod, _ path: String) throws
        -> Answer {
        do {
            return try JSONDecoder.switchboard.decode(Answer.self, from: data)
        } catch {
            throw SwitchboardError(.unavailable, "unexpected_answer",
                                   "The server at \(server.absoluteString) answered \(method) \(path) with something this CLI cannot read.")
        }
    }

    func send(_ method: HTTPMethod, _ path: String, query: [String: String?] = [:], repeated: [URLQueryItem] = [],
              body: [String: JSONValue]? = nil, raw: Data? = nil, contentType: String = "application/json",
              retry: Retry) async throws -> Data {
        let request = try makeRequest(method, path, query: query, repeated: repeated,
                                      body: try raw ?? body.map { try JSONEncoder.switchboard.encode(JSONObject($0)) },
                                      contentType: contentType)
        do {
            return try await execute(request)
        } catch let error as Transient where retry == .once {
            try await Task.sleep(for: .seconds(min(error.retryAfter ?? 1, 5)))
            do { return try await execute(request) } catch let again as Transient { throw again.error }
        } catch let error as Transient {
            throw error.error
        }
    }

    /// Streams a text body line by line (the CSV export, the event stream) with `client`.
    func lines(_ path: String, repeated: [URLQueryItem] = [], client: HTTPClient = RemoteBackend.client,
               deadline: NIODeadline = .now() + RemoteBackend.deadline,
               _ line: (String) async throws -> Void) async throws {
        let request = try makeRequest(.GET, path, query: [:], repeated: repeated, body: nil)
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, deadline: deadline)
        } catch {
            throw unreachable(error).error
        }
        guard response.status == .ok else {
            throw failure(status: Int(response.status.code), body: try await collect(response), retryAfter: nil).error
        }
        var pending = Data()
        for try await chunk in response.body {
            pending.append(contentsOf: chunk.readableBytesView)
            // Every whole line of the chunk, then what is left kept once (not shifted line by line).
            var start = pending.startIndex
            while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                try await line(String(decoding: pending[start..<newline], as: UTF8.self))
                start = pending.index(after: newline)
            }
            pending = Data(pending[start...])
        }
        if !pending.isEmpty { try await line(String(decoding: pending, as: UTF8.self)) }
    }

    private func makeRequest(_ method: HTTPMethod, _ path: String, query: [String: String?],
                             repeated: [URLQueryItem] = [], body: Data?,
                             contentType: String = "application/json") throws -> HTTPClientRequest {
        var components = URLComponents(url: server.appendingPathComponent("v1" + path), resolvingAgainstBaseURL: false)!
        let items = query.compactMap { name, value in value.map { URLQueryItem(name: name, value: $0) } } + repeated
        if !items.isEmpty { components.queryItems = items.sorted { $0.name < $1.name } }
        var request = HTTPClientRequest(url: components.url!.absoluteString)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "User-Agent", value: "switchboard-cli")
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            if method == .POST { request.headers.add(name: "Idempotency-Key", value: idempotencyKey) }
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        return request
    }

    /// A failure worth one more try (the connection dropped, or the server said 503), holding the error to report
    /// if the retry fails too.
    struct Transient: Error {
        let error: SwitchboardError
        let retryAfter: Int?
    }

    private func execute(_ request: HTTPClientRequest) async throws -> Data {
        let response: HTTPClientResponse
        let data: Data
        do {
            response = try await Self.client.execute(request, deadline: .now() + Self.deadline)
            data = try await collect(response)
        } catch let error as HTTPClientError where error == .deadlineExceeded {
            // Not retried: waiting the whole deadline again would double an already long wait.
            throw SwitchboardError(.unavailable, "server_timeout",
                                   "The server at \(server.absoluteString) did not answer within \(Self.deadline.nanoseconds / 60_000_000_000) minutes; check the batch's outcome with 'switchboard history'.")
        } catch {
            throw unreachable(error)
        }
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else {
            throw failure(status: status, body: data, retryAfter: response.headers.first(name: "Retry-After").flatMap { Int($0) })
        }
        return data
    }

    private func collect(_ response: HTTPClientResponse) async throws -> Data {
        Data(buffer: try await response.body.collect(upTo: 256 << 20))
    }

    private func unreachable(_ error: any Error) -> Transient {
        Transient(error: SwitchboardError(.unavailable, "server_unreachable",
                                          "The server at \(server.absoluteString) cannot be reached: \(Self.reason(error))."),
                  retryAfter: nil)
    }

    /// What went wrong on the wire, short: "connection refused", "connection closed", "timed out".
    static func reason(_ error: any Error) -> String {
        let text = String(describing: error)
        for (needle, reason) in [("refused", "connection refused"), ("Timeout", "timed out"), ("timeout", "timed out"),
                                 ("closed", "connection closed"), ("reset", "connection reset")] where text.contains(needle) {
            return reason
        }
        return text.trimmingCharacters(in: CharacterSet(charactersIn: "."))
    }

    /// Non-2xx: the server's sentence with the kind of its status. Throws `Transient` for a 503, else the error.
    private func failure(status: Int, body: Data, retryAfter: Int?) -> Transient {
        let error = SwitchboardError(body: body, status: status)
            ?? SwitchboardError(status >= 500 ? .unavailable : .invalid, "http_\(status)",
                                "The server at \(server.absoluteString) answered HTTP \(status).")
        return Transient(error: error, retryAfter: status == 503 ? (retryAfter ?? 1) : nil)
    }

    // MARK: Backend

    func bulk(_ request: AssignmentService.BulkRequest, onStart: (@Sendable (Int) -> Void)?) async throws -> BatchResult {
        var body: [String: JSONValue] = [
            "source": .object(Self.source(request.source)), "status": .string(request.status.name),
            "dry_run": .bool(request.dryRun), "balance": .bool(request.distribution == .balance),
            "available_only": .bool(request.availableOnly),
        ]
        switch request.target {
        case .allActive: body["to"] = .string("all")
        case .senders(let handles): body["to"] = .array(handles.map { .string($0) })
        case .team(let team): body["to"] = .object(["team": .string(team)])
        }
        if let note = request.note { body["note"] = .string(note) }
        if let count = request.count { body["count"] = .int(Int64(count)) }
        body.merge(Self.selection(request.filter, previewToken: request.previewToken)) { $1 }
        let path = "/campaigns/\(request.campaignID)/\(request.count == nil ? "reassign-all" : "reassign-some")"
        onStart?(-1)  // the count is the server's to know: the ticker just says it waits
        return try await call(.POST, path, body: body, retry: .once)
    }

    static func source(_ source: Source) -> [String: JSONValue] {
        switch source {
        case .sender(let handle): ["sender": .string(handle)]
        case .unassigned: ["unassigned": .bool(true)]
        case .anyone: ["anyone": .bool(true)]
        }
    }

    /// A filter as the API's bodies take it: `"filter": {…}` and `"conversation_ids"` at the top level.
    static func selection(_ filter: ConversationFilter, previewToken: String? = nil) -> [String: JSONValue] {
        var body: [String: JSONValue] = [:]
        var inner: [String: JSONValue] = [:]
        if !filter.tags.isEmpty { inner["tags"] = .array(filter.tags.map { .string($0) }) }
        if !filter.withoutTags.isEmpty { inner["without_tags"] = .array(filter.withoutTags.map { .string($0) }) }
        if let when = filter.lastMessageBefore { inner["last_message_before"] = .string(when.description) }
        if let when = filter.lastMessageAfter { inner["last_message_after"] = .string(when.description) }
        if !filter.fields.isEmpty { inner["fields"] = .object(filter.fields.mapValues { .string($0) }) }
        if let search = filter.search { inner["search"] = .string(search) }
        if !inner.isEmpty { body["filter"] = .object(inner) }
        if let ids = filter.conversationIDs { body["conversation_ids"] = .array(ids.map { .int($0) }) }
        if let previewToken { body["preview_token"] = .string(previewToken) }
        return body
    }

    /// The same filter as a list's or export's query string.
    static func selectionQuery(_ filter: ConversationFilter) -> [URLQueryItem] {
        var items = filter.tags.map { URLQueryItem(name: "tag", value: $0) }
        items += filter.withoutTags.map { URLQueryItem(name: "without_tag", value: $0) }
        if let when = filter.lastMessageBefore { items.append(URLQueryItem(name: "last_message_before", value: when.description)) }
        if let when = filter.lastMessageAfter { items.append(URLQueryItem(name: "last_message_after", value: when.description)) }
        items += filter.fields.sorted { $0.key < $1.key }.map { URLQueryItem(name: "field", value: "\($0.key)=\($0.value)") }
        if let search = filter.search { items.append(URLQueryItem(name: "search", value: search)) }
        if let ids = filter.conversationIDs {
            items.append(URLQueryItem(name: "conversation_ids", value: ids.map(String.init).joined(separator: ",")))
        }
        return items
    }

    static func unassignSource(_ from: String?) -> [String: JSONValue] {
        from.map { ["from": .string($0)] } ?? ["from_anyone": .bool(true)]
    }

    func previewUnassignAll(campaignID: Int64, from: String?, status: StatusFilter, actor: String,
                            filter: ConversationFilter) async throws -> (count: Int, token: String) {
        struct Preview: Decodable { let count: Int; let confirmation_token: String }
        var body = Self.unassignSource(from).merging(Self.selection(filter)) { $1 }
        body["status"] = .string(status.name)
        let preview = try await call(.POST, "/campaigns/\(campaignID)/unassign-all/preview", body: body, retry: .once,
                                     as: Preview.self)
        return (preview.count, preview.confirmation_token)
    }

    func unassignAll(campaignID: Int64, from: String?, status: StatusFilter, actor: String, token: String?,
                     dryRun: Bool, note: String?, filter: ConversationFilter, previewToken: String?) async throws
        -> BatchResult {
        var body = Self.unassignSource(from).merging(Self.selection(filter, previewToken: previewToken)) { $1 }
        body["status"] = .string(status.name)
        body["dry_run"] = .bool(dryRun)
        if let token { body["confirmation_token"] = .string(token) }
        if let note { body["note"] = .string(note) }
        return try await call(.POST, "/campaigns/\(campaignID)/unassign-all", body: body, retry: .once)
    }

    func reassign(conversationID: Int64, to: String?, actor: String, dryRun: Bool, note: String?, campaignID: Int64?)
        async throws -> BatchResult {
        var body: [String: JSONValue] = ["handle": .string(to), "dry_run": .bool(dryRun)]
        if let note { body["note"] = .string(note) }
        if let campaignID { body["campaign_id"] = .int(campaignID) }
        // PUT is idempotent by itself: the second of two identical moves finds nothing to change.
        return try await call(.PUT, "/conversations/\(conversationID)/assignee", body: body, retry: .once)
    }

    func escalate(conversationID: Int64, skill: String, actor: String, dryRun: Bool, note: String?) async throws
        -> BatchResult {
        var body: [String: JSONValue] = ["skill": .string(skill), "dry_run": .bool(dryRun)]
        if let note { body["note"] = .string(note) }
        // Not retried: a second escalation could pick another sender.
        return try await call(.PUT, "/conversations/\(conversationID)/assignee", body: body)
    }

    func escalate(conversationID: Int64, toTeam team: String, actor: String, dryRun: Bool, note: String?) async throws
        -> BatchResult {
        var body: [String: JSONValue] = ["team": .string(team), "dry_run": .bool(dryRun)]
        if let note { body["note"] = .string(note) }
        // Not retried: a second escalation could pick another sender.
        return try await call(.PUT, "/conversations/\(conversationID)/assignee", body: body)
    }

    func undo(batchID: Int64, actor: String, dryRun: Bool, note: String?) async throws -> BatchResult {
        var body: [String: JSONValue] = ["dry_run": .bool(dryRun)]
        if let note { body["note"] = .string(note) }
        return try await call(.POST, "/batches/\(batchID)/undo", body: body, retry: .once)
    }

    func handoff(_ request: RoutingService.HandoffRequest) async throws -> BatchResult {
        var body: [String: JSONValue] = ["from": .string(request.from), "status": .string(request.status.name),
                                         "dry_run": .bool(request.dryRun)]
        if let to = request.to { body["to"] = .string(to) }
        if let policy = request.policy { body["policy"] = .string(policy.rawValue) }
        if let note = request.note { body["note"] = .string(note) }
        if let team = request.toTeam {
            body["to_team"] = .string(team)
            body["balance"] = .bool(request.distribution == .balance)
            body["available_only"] = .bool(request.availableOnly)
        }
        return try await call(.POST, "/campaigns/\(request.campaignID)/handoff", body: body, retry: .once)
    }

    func releaseStale(campaignID: Int64?, actor: String, dryRun: Bool) async throws -> [BatchResult] {
        guard let campaignID else {
            throw SwitchboardError(.invalid, "missing_campaign",
                                   "With --server, release-stale needs --campaign: the API releases one campaign at a time.")
        }
        // Not retried: conversations released and routed by the first try could be stale again for the second.
        return [try await call(.POST, "/campaigns/\(campaignID)/release-stale", body: ["dry_run": .bool(dryRun)])]
    }

    func skills(campaignID: Int64) async throws -> [String: [String]] {
        struct Answer: Decodable { let skills: [String: [String]] }
        return try await call(.GET, "/campaigns/\(campaignID)/skills", retry: .once, as: Answer.self).skills
    }

    func changeSkills(campaignID: Int64, handle: String, skills: [String], add: Bool) async throws -> [String] {
        try await changeList("/campaigns/\(campaignID)/senders/\(Self.segment(handle))/skills", "skills", skills,
                             add: add) { try await self.skills(campaignID: campaignID)[handle] ?? [] }
    }

    func tags(conversationID: Int64) async throws -> [String] {
        struct Answer: Decodable { let tags: [String] }
        return try await call(.GET, "/conversations/\(conversationID)/tags", retry: .once, as: Answer.self).tags
    }

    func changeTags(campaignID: Int64, tags: [String], add: Bool, status: ConversationStatus?,
                    filter: ConversationFilter) async throws -> Int {
        struct Answer: Decodable { let changed: Int }
        var body = Self.selection(filter)
        body[add ? "add" : "remove"] = .array(tags.map { .string($0) })
        if let status { body["status"] = .string(status.filterName) }
        // Tagging twice changes nothing the second time: safe to retry.
        return try await call(.POST, "/campaigns/\(campaignID)/tags", body: body, retry: .once, as: Answer.self).changed
    }

    func changeTags(conversationID: Int64, tags: [String], add: Bool) async throws -> [String] {
        try await changeList("/conversations/\(conversationID)/tags", "tags", tags, add: add) {
            try await self.tags(conversationID: conversationID)
        }
    }

    /// Skills and tags alike: adding is one POST of the list under `key`; removing is one DELETE per value. Each
    /// answers with the list after; `current` reads it when nothing was sent.
    private func changeList(_ path: String, _ key: String, _ values: [String], add: Bool,
                            current: () async throws -> [String]) async throws -> [String] {
        struct Listed: Decodable {
            let skills: [String]?
            let tags: [String]?
            var values: [String] { skills ?? tags ?? [] }
        }
        if add {
            return try await call(.POST, path, body: [key: .array(values.map { .string($0) })], retry: .once,
                                  as: Listed.self).values
        }
        var after: [String]? = nil
        for value in values {
            after = try await call(.DELETE, path + "/" + Self.segment(value), retry: .once, as: Listed.self).values
        }
        if let after { return after }
        return try await current()
    }

    /// A handle, skill or tag as one path segment.
    static func segment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~"))) ?? text
    }

    func preview(_ plan: Plan, actor: String) async throws -> PlanPreview {
        let data = try await send(.POST, "/plans/preview", raw: plan.json, retry: .once)
        do {
            return try JSONDecoder.switchboard.decode(PlanPreview.self, from: data)
        } catch {
            throw SwitchboardError(.unavailable, "unexpected_answer",
                                   "The server at \(server.absoluteString) answered the plan preview with something this CLI cannot read.")
        }
    }

    func batch(id: Int64) async throws -> HistoryService.Batch { try await call(.GET, "/batches/\(id)", retry: .once) }

    func batchChanges(id: Int64, limit: Int) async throws -> HistoryService.BatchChanges {
        try await call(.GET, "/batches/\(id)/changes", query: ["limit": String(limit)], retry: .once)
    }

    func conversationHistory(id: Int64) async throws -> HistoryService.ConversationHistory {
        try await call(.GET, "/conversations/\(id)/history", retry: .once)
    }

    func campaignHistory(id: Int64, limit: Int) async throws -> HistoryService.CampaignHistory {
        try await call(.GET, "/campaigns/\(id)/history", query: ["limit": String(limit)], retry: .once)
    }

    func campaign(id: Int64) async throws -> Campaign { try await call(.GET, "/campaigns/\(id)", retry: .once) }

    /// Not retried: a second try could make a second campaign.
    /// Over the API one acts in the token's organization: `--org` must name it.
    func requireOrg(_ org: String) async throws {
        let identity: Identity = try await call(.GET, "/me", retry: .once)
        guard org == identity.organization || org == String(identity.org_id) else {
            throw SwitchboardError(.invalid, "org_refused",
                                   "With --server you act in '\(identity.organization)', the token's organization; --org '\(org)' is refused.")
        }
    }

    func organizations() async throws -> [Organization] {
        try await call(.GET, "/organizations", retry: .once, as: Listing<Organization>.self).items
    }

    func users(org: String) async throws -> [Directory.Member] {
        try await requireOrg(org)
        return try await call(.GET, "/users", retry: .once, as: Listing<Directory.Member>.self).items
    }

    func campaigns(org: String) async throws -> [Campaign] {
        try await requireOrg(org)
        return try await call(.GET, "/campaigns", retry: .once, as: Listing<Campaign>.self).items
    }

    func tokens(org: String, user: String?) async throws -> [Directory.TokenInfo] {
        try await requireOrg(org)
        return try await call(.GET, "/tokens", query: ["user": user], retry: .once, as: Listing<Directory.TokenInfo>.self).items
    }

    func invites(campaignID: Int64) async throws -> [InviteService.Invite] {
        try await call(.GET, "/campaigns/\(campaignID)/invites", retry: .once, as: Listing<InviteService.Invite>.self).items
    }

    func createCampaign(org: String, name: String, settings: SelfAssignSettings) async throws -> Campaign {
        try await requireOrg(org)
        var body: [String: JSONValue] = ["name": .string(name), "self_assign": .bool(settings.selfAssign),
                                         "batch_size": .int(Int64(settings.batchSize)),
                                         "require_finished_batch": .bool(settings.requireFinishedBatch)]
        if let maxOpen = settings.maxOpen { body["max_open"] = .int(Int64(maxOpen)) }
        return try await call(.POST, "/campaigns", body: body)
    }

    /// Routing through `PUT …/routing`, self-assign through `PATCH`; each sets absolute values, so both retry.
    func updateCampaign(id: Int64, _ change: CampaignChange) async throws -> Campaign {
        var updated: Campaign? = nil
        if change.touchesRouting {
            var body: [String: JSONValue] = [:]
            if let policy = change.policy { body["policy"] = .string(policy.rawValue) }
            if let fallback = change.fallback { body["fallback"] = .string(fallback.rawValue) }
            if let minutes = change.releaseStaleAfter { body["release_stale_after"] = .int(Int64(minutes)) }
            if change.clearReleaseStale { body["release_stale_after"] = .int(nil) }
            updated = try await call(.PUT, "/campaigns/\(id)/routing", body: body, retry: .once)
        }
        if change.touchesTeams || change.touchesSelfAssign {
            // One PATCH: the server checks the team names before it changes anything.
            var body: [String: JSONValue] = [:]
            if let selfAssign = change.selfAssign { body["self_assign"] = .bool(selfAssign) }
            if let batchSize = change.batchSize { body["batch_size"] = .int(Int64(batchSize)) }
            if let maxOpen = change.maxOpen { body["max_open"] = .int(Int64(maxOpen)) }
            if change.clearMaxOpen { body["max_open"] = .int(nil) }
            if let finished = change.requireFinishedBatch { body["require_finished_batch"] = .bool(finished) }
            if let approval = change.requestApproval { body["request_approval"] = .bool(approval) }
            if let teams = change.teams { body["teams"] = .array(teams.map { .string($0) }) }
            if let team = change.routingTeam { body["routing_team"] = .string(team) }
            if change.clearRoutingTeam { body["routing_team"] = .string(nil) }
            updated = try await call(.PATCH, "/campaigns/\(id)", body: body, retry: .once)
        }
        if let updated { return updated }
        return try await campaign(id: id)
    }

    func addSenders(campaignID: Int64, handles: [String]) async throws {
        struct Answer: Decodable { let added: [String] }
        _ = try await call(.POST, "/campaigns/\(campaignID)/senders", body: ["handles": .array(handles.map { .string($0) })],
                           retry: .once, as: Answer.self)
    }

    func deactivateSender(campaignID: Int64, handle: String) async throws {
        struct Answer: Decodable { let deactivated: String }
        _ = try await call(.DELETE, "/campaigns/\(campaignID)/senders/\(Self.segment(handle))", retry: .once, as: Answer.self)
    }

    /// The file as the body. Not retried: an import that committed before the connection dropped would be
    /// refused the second time (its phones exist), which reads as a failure of a run that worked.
    func importContacts(campaignID: Int64, data: Data, fileName: String, progress: @escaping @Sendable (Int) -> Void)
        async throws -> Int {
        struct Answer: Decodable { let imported: Int }
        // The name as given, so that the server's sentences name the file as a direct import does.
        let answer = try JSONDecoder.switchboard.decode(
            Answer.self, from: try await send(.POST, "/campaigns/\(campaignID)/contacts", query: ["file_name": fileName],
                                              raw: data, contentType: "text/csv", retry: .never))
        return answer.imported
    }

    func senders(campaignID: Int64) async throws -> SenderList {
        try await call(.GET, "/campaigns/\(campaignID)/senders", retry: .once)
    }

    func conversations(campaignID: Int64, assignee: ConversationService.AssigneeFilter, status: ConversationStatus?,
                       filter: ConversationFilter, limit: Int, cursor: String?) async throws -> ConversationService.Page {
        struct Page: Decodable { let conversations: [Conversation]; let next_cursor: String? }
        let assigneeQuery: String? = switch assignee {
        case .anyone, .mineOrUnassigned: nil
        case .unassigned: "unassigned"
        case .sender(let handle): handle
        }
        let page = try await call(.GET, "/campaigns/\(campaignID)/conversations",
                                  query: ["assignee": assigneeQuery, "status": status?.filterName,
                                          "limit": String(limit), "cursor": cursor],
                                  repeated: Self.selectionQuery(filter), retry: .once, as: Page.self)
        return .init(conversations: page.conversations, nextCursor: page.next_cursor)
    }

    func backlog(campaignID: Int64, limit: Int) async throws -> RoutingService.Backlog {
        try await call(.GET, "/campaigns/\(campaignID)/routing/backlog", query: ["limit": String(limit)], retry: .once)
    }

    func setAvailability(campaignID: Int64, handle: String, available: Bool) async throws {
        struct Answer: Decodable { let available: Bool }
        _ = try await call(.POST, "/campaigns/\(campaignID)/me/availability",
                           body: ["handle": .string(handle), "available": .bool(available)], retry: .once, as: Answer.self)
    }

    func export(campaignID: Int64, status: ConversationStatus?, filter: ConversationFilter,
                line: (String) async throws -> Void) async throws {
        var query = Self.selectionQuery(filter)
        if let status { query.append(URLQueryItem(name: "status", value: status.filterName)) }
        try await lines("/campaigns/\(campaignID)/export", repeated: query, line)
    }

    func requestMore(campaignID: Int64, sender: String, count: Int?, actor: String?) async throws
        -> (result: BatchResult, pending: Int64?) {
        var body: [String: JSONValue] = ["sender": .string(sender)]
        if let count { body["count"] = .int(Int64(count)) }
        let data = try await send(.POST, "/campaigns/\(campaignID)/requests", body: body, retry: .once)
        struct Pending: Decodable { let request_id: Int64; let status: String }
        if let pending = try? JSONDecoder.switchboard.decode(Pending.self, from: data), pending.status == "pending" {
            let result = BatchResult(batchID: nil, operation: .selfAssign, campaignID: campaignID,
                                     statusFilter: "not_started", matched: 0, moved: 0, unchanged: 0, dryRun: false,
                                     perSender: [], requested: count)
            return (result, pending.request_id)
        }
        return (try decoded(BatchResult.self, data, .POST, "/campaigns/\(campaignID)/requests"), nil)
    }

    func report(campaignID: Int64) async throws -> ReportService.Report {
        try await call(.GET, "/campaigns/\(campaignID)/report", retry: .once)
    }

    func teams(org: String) async throws -> [TeamService.Team] {
        try await requireOrg(org)
        return try await call(.GET, "/teams", retry: .once, as: Listing<TeamService.Team>.self).items
    }

    func createTeam(org: String, name: String) async throws -> TeamService.Team {
        try await requireOrg(org)
        return try await call(.POST, "/teams", body: ["name": .string(name)])
    }

    func changeTeam(org: String, team: String, handles: [String], add: Bool) async throws -> TeamService.Team {
        try await requireOrg(org)
        try TeamService.validate(name: team)
        return try await call(.POST, "/teams/\(team)/members",
                              body: [add ? "add" : "remove": .array(handles.map { .string($0) })], retry: .once)
    }

    func requests(campaignID: Int64, status: RequestService.Status?) async throws -> [RequestService.Request] {
        try await call(.GET, "/campaigns/\(campaignID)/requests", query: ["status": status?.rawValue], retry: .once,
                       as: Listing<RequestService.Request>.self).items
    }

    static func decision(ids: [Int64], allOf campaignID: Int64?) -> [String: JSONValue] {
        if let campaignID { return ["campaign_id": .int(campaignID), "all": .bool(true)] }
        return ["request_ids": .array(ids.map { .int($0) })]
    }

    func approve(ids: [Int64], allOf campaignID: Int64?, count: Int?, actor: String) async throws
        -> [RequestService.Decision] {
        var body = Self.decision(ids: ids, allOf: campaignID)
        if let count { body["count"] = .int(Int64(count)) }
        // Not retried: a decided request answers 409 the second time.
        return try await call(.POST, "/requests/approve", body: body, as: Listing<RequestService.Decision>.self).items
    }

    func deny(ids: [Int64], allOf campaignID: Int64?, note: String?, actor: String) async throws -> [RequestService.Request] {
        var body = Self.decision(ids: ids, allOf: campaignID)
        if let note { body["note"] = .string(note) }
        return try await call(.POST, "/requests/deny", body: body, as: Listing<RequestService.Request>.self).items
    }

    func release(campaignID: Int64, sender: String, actor: String?) async throws -> BatchResult {
        try await call(.POST, "/campaigns/\(campaignID)/release", body: ["sender": .string(sender)], retry: .once)
    }

    func message(_ address: MessageService.Address, direction: MessageService.Direction, body: String, sender: String?,
                 leaveUnassigned: Bool) async throws -> MessageService.Recorded {
        guard case .conversation(let id) = address else {
            throw SwitchboardError(.invalid, "no_route",
                                   "Addressing a message by --campaign and --phone has no API route; use --conversation ID.")
        }
        try await requireSelf(sender)
        struct Answer: Decodable { let message_id: Int64; let conversation: Conversation; let claim_batch_id: Int64? }
        // Not retried: a message has no idempotency key, and a retry could record it twice.
        let answer = try await call(.POST, "/conversations/\(id)/messages", body: [
            "direction": .string(direction == .inbound ? "in" : "out"), "body": .string(body),
            "leave_unassigned": .bool(leaveUnassigned),
        ], as: Answer.self)
        return .init(messageID: answer.message_id, conversation: answer.conversation, claimBatchID: answer.claim_batch_id)
    }

    func close(conversationID: Int64, sender: String?) async throws -> Conversation {
        try await requireSelf(sender)
        return try await call(.POST, "/conversations/\(conversationID)/close", body: [:])
    }

    func markRead(conversationID: Int64, sender: String) async throws -> Conversation {
        try await requireSelf(sender)
        return try await call(.POST, "/conversations/\(conversationID)/read", body: [:], retry: .once)
    }

    /// `GET /v1/me/conversations`: the token's user's queue. The unassigned view has no route.
    func queue(sender: String?, org: String?, campaignID: Int64?, status: String?, limit: Int, cursor: String?)
        async throws -> ConversationService.Page {
        guard sender != nil else {
            throw SwitchboardError(.invalid, "no_api_route",
                                   "The unassigned queue has no API route; use 'conversations --campaign C --unassigned' with --server.")
        }
        try await requireSelf(sender)
        struct Page: Decodable { let conversations: [Conversation]; let next_cursor: String? }
        let page = try await call(.GET, "/me/conversations",
                                  query: ["status": status, "campaign": campaignID.map(String.init), "limit": String(limit),
                                          "cursor": cursor],
                                  retry: .once, as: Page.self)
        return .init(conversations: page.conversations, nextCursor: page.next_cursor)
    }

    /// `GET /v1/me/events`: the server sends a heartbeat every 15 seconds, so a stream silent for 45 is dead
    /// (exit 1) rather than waited on for ever.
    func watch(_ event: (Notifications.Event) async throws -> Void) async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: Self.configuration(read: .seconds(45)))
        do {
            // No overall deadline: it runs until stopped; the read timeout catches a dead stream.
            try await lines("/me/events", client: client, deadline: .distantFuture) { line in
                guard line.hasPrefix("data: ") else { return }
                let data = String(line.dropFirst(6))
                guard let decoded = try? Notifications.Event(payload: data) else { return }
                try await event(decoded)
            }
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    /// Step N of a plan sends its own Idempotency-Key, so that a retried step replays only itself.
    func forStep(_ number: Int) -> any Backend {
        RemoteBackend(server: server, token: token, idempotencyKey: "\(idempotencyKey)-\(number)")
    }

    /// Over the API one acts as the token's user: `--sender` may only name them.
    func requireSelf(_ sender: String?) async throws {
        guard let sender else { return }
        let identity: Identity = try await call(.GET, "/me", retry: .once)
        guard identity.handle == sender else {
            throw SwitchboardError(.invalid, "sender_refused",
                                   "With --server you act as '\(identity.handle)', the token's user; --sender '\(sender)' is refused.")
        }
    }
}
