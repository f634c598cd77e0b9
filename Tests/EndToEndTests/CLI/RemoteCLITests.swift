import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SwitchboardServer
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore

/// Remote mode (issue 22): the same commands through the API with a token.
@Suite("CLI through the API")
struct RemoteCLITests {
    /// Two identical worlds: one the CLI reaches directly, one behind a live server on loopback.
    struct Worlds: Sendable {
        let direct: DatabaseURL
        let remote: Database
        let server: String
        let ada: String, kevin: String
        let campaign: String

        func direct(_ arguments: [String], batch: Bool = false, input: String? = nil) async throws -> SwitchboardBinary.Run {
            try await SwitchboardBinary.run(arguments + ["--database-url", direct.connectionString]
                                            + (batch ? ["--actor", "ada"] : []), input: input)
        }

        func remote(_ arguments: [String], token: String? = nil, input: String? = nil,
                    server: String? = nil) async throws -> SwitchboardBinary.Run {
            try await SwitchboardBinary.run(arguments, environment: ["SWITCHBOARD_SERVER": server ?? self.server,
                                                                     "SWITCHBOARD_TOKEN": token ?? ada], input: input)
        }
    }

    func withWorlds(_ body: @escaping @Sendable (Worlds) async throws -> Void) async throws {
        #expect(FileManager.default.isExecutableFile(atPath: SwitchboardBinary.url.path),
                "the switchboard binary is built next to the tests")
        let directURL = try await TestDatabase.make()
        try await TestDatabase.open(directURL) { direct in
            _ = try await Fixture.make(direct)
        }
        try await TestDatabase.with { database in
            let f = try await Fixture.make(database)
            let ada = try await Directory(database).createToken(orgID: f.org.id, handle: "ada")
            let kevin = try await Directory(database).createToken(orgID: f.org.id, handle: "kevin")
            try await withLiveServer(database, settings: .init()) { client in
                try await body(Worlds(direct: directURL, remote: database, server: "http://127.0.0.1:\(client.port)",
                                      ada: ada, kevin: kevin, campaign: String(f.campaign.id)))
            }
        }
    }

    @Test("every batch job of the README prints the same and exits the same, directly and through the API")
    func sameOutputs() async throws {
        try await withWorlds { w in
            let c = w.campaign
            let csv = FileManager.default.temporaryDirectory.appendingPathComponent("sb-contacts-\(UUID().uuidString).csv")
            try "phone,name,tags\n+15557000001,Ann,spanish\n+15557000002,\"Bo, Jr\",\n".write(to: csv, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: csv) }
            let steps: [(arguments: [String], batch: Bool, exit: Int32?)] = [
                (["senders", "--campaign", c], false, 0),
                (["reassign-some", "--campaign", c, "--from-unassigned", "--to", "kevin,rebecca", "--count", "4",
                  "--note", "first wave"], true, 0),
                (["senders", "--campaign", c, "--json"], false, 0),
                (["reassign-all", "--campaign", c, "--from", "kevin", "--to", "rebecca", "--status", "not-started",
                  "--dry-run"], true, 0),
                (["reassign-all", "--campaign", c, "--from", "kevin", "--to", "nobody"], true, 2),
                (["reassign-some", "--campaign", c, "--from-unassigned", "--to", "kevin", "--count", "0"], true, 2),
                (["reassign-all", "--campaign", "999", "--from", "kevin", "--to", "rebecca"], true, 2),
                (["reassign-all", "--campaign", c, "--from-anyone", "--to-all", "--balance", "--json"], true, 0),
                (["conversations", "--campaign", c, "--assignee", "rebecca", "--limit", "2"], false, 0),
                (["reassign", "--conversation", "1", "--to", "kevin", "--note", "asked for it"], true, 0),
                (["reassign", "--conversation", "2", "--unassign", "--json"], true, 0),
                (["reassign", "--conversation", "1", "--to", "kevin", "--campaign", "999"], true, 2),
                (["unassign-all", "--campaign", c, "--from", "rebecca"], true, 3),
                (["unassign-all", "--campaign", c, "--from", "rebecca", "--dry-run", "--json"], true, 0),
                (["unassign-all", "--campaign", c, "--from", "rebecca", "--yes"], true, 0),
                (["undo", "--batch", "1", "--yes"], true, 0),
                (["undo", "--batch", "1", "--yes"], true, 3),
                (["history", "--campaign", c], false, 0),
                (["history", "--batch", "2"], false, 0),
                (["history", "--conversation", "1", "--json"], false, 0),
                (["history", "--batch", "999"], false, 2),
                (["campaign", "show", c, "--json"], false, 0),
                (["message", "--conversation", "3", "--direction", "in", "--body", "Hi there"], false, 0),
                (["close", "--conversation", "3"], false, 0),
                (["export", "--campaign", c], false, 0),
                (["sender", "away", "--campaign", c, "rebecca"], false, 0),
                (["sender", "available", "--campaign", c, "rebecca"], false, 0),
                (["handoff", "--campaign", c, "--from", "kevin", "--to", "rebecca", "--json"], true, 0),
                (["backlog", "--campaign", c], false, 0),
                (["skill", "add", "--campaign", c, "rebecca", "spanish", "billing"], false, 0),
                (["skill", "remove", "--campaign", c, "rebecca", "billing"], false, 0),
                (["skill", "list", "--campaign", c], false, 0),
                (["tag", "add", "--conversation", "4", "spanish"], false, 0),
                (["tag", "list", "--conversation", "4"], false, 0),
                (["reassign", "--conversation", "4", "--to-skill", "spanish"], true, nil),
                (["campaign", "create", "--org", "Acme", "Second", "--self-assign", "--batch-size", "2"], false, 0),
                (["campaign", "set", "2", "--max-open", "50", "--routing-policy", "least_loaded", "--json"], false, 0),
                (["campaign", "set", "2", "--batch-size", "0"], false, 2),
                (["sender", "add", "--campaign", "2", "kevin", "rebecca"], false, 0),
                (["sender", "add", "--campaign", "2", "nobody"], false, 2),
                (["contacts", "import", "--campaign", "2", csv.path], false, 0),
                (["contacts", "import", "--campaign", "2", csv.path], false, 2),
                (["sender", "deactivate", "--campaign", "2", "rebecca"], false, 0),
                (["mark-read", "--conversation", "3", "--sender", "ada"], false, 0),
                (["queue", "--sender", "ada", "--campaign", c, "--status", "open"], false, 0),
                (["senders", "--campaign", c], false, 0),
            ]
            for step in steps {
                let direct = try await w.direct(step.arguments, batch: step.batch)
                let remote = try await w.remote(step.arguments)
                let command = step.arguments.joined(separator: " ")
                if let exit = step.exit { #expect(direct.status == exit, "direct \(command): \(direct)") }
                #expect(remote.status == direct.status, "\(command): direct \(direct)\nremote \(remote)")
                #expect(SwitchboardBinary.normalized(remote.out) == SwitchboardBinary.normalized(direct.out),
                        "\(command): direct \(direct)\nremote \(remote)")
                #expect(remote.err == direct.err, "\(command): direct \(direct)\nremote \(remote)")
                // A --json output has the shape openapi.yaml gives the same thing over the API.
                if step.arguments.contains("--json"), direct.status == 0, let schema = Self.schema(of: step.arguments) {
                    let problems = SpecCheck.shared.problems(Data(direct.out.utf8), schema: schema)
                    #expect(problems.isEmpty, "\(command): \(problems)")
                }
            }
            // History names the token's user for every remote batch.
            let actors = try await w.remote.query("SELECT DISTINCT actor FROM assignment_batches")
            #expect(try actors.map { try $0.decode(String.self) } == ["ada"])
        }
    }

    /// The component of openapi.yaml that a command's `--json` output is.
    static func schema(of arguments: [String]) -> String? {
        switch arguments.first {
        case "senders": "SenderList"
        case "reassign-all", "reassign-some", "reassign", "unassign-all", "handoff", "undo": "BatchResult"
        case "campaign" where ["show", "set", "create"].contains(arguments.dropFirst().first ?? ""): "Campaign"
        default: nil
        }
    }

    @Test("remote refusals: a texter's token, --actor, a command with no route, no token, an unreachable server")
    func refusals() async throws {
        try await withWorlds { w in
            let c = w.campaign
            var run = try await w.remote(["reassign-all", "--campaign", c, "--from-unassigned", "--to", "kevin"], token: w.kevin)
            #expect(run.status == 3 && run.err == "Only admins and organizers may do this.\n", "\(run)")
            run = try await w.remote(["request-more", "--campaign", c, "--sender", "rebecca"], token: w.kevin)
            #expect(run.status == 3 && run.err.contains("only request or release conversations for yourself"), "\(run)")
            run = try await w.remote(["release", "--campaign", c, "--sender", "kevin"], token: w.kevin)
            #expect(run.status == 0 && run.out.contains("Moved 0 of 0"), "\(run)")
            run = try await w.remote(["reassign-all", "--campaign", c, "--from", "kevin", "--to", "rebecca", "--actor", "bob"])
            #expect(run.status == 2 && run.err == "--actor is refused with --server: history records the token's user.\n", "\(run)")
            run = try await w.remote(["migrate"])
            #expect(run.status == 2 && run.err.contains("has no API route"), "\(run)")
            run = try await w.remote(["message", "--conversation", "1", "--direction", "out", "--sender", "kevin",
                                      "--body", "hi"])
            #expect(run.status == 2 && run.err.contains("you act as 'ada'"), "\(run)")
            run = try await SwitchboardBinary.run(["senders", "--campaign", c, "--server", w.server])
            #expect(run.status == 2 && run.err.contains("No token for server"), "\(run)")
            run = try await w.remote(["senders", "--campaign", c], token: "sb_wrong")
            #expect(run.status == 3 && run.err == "The bearer token is unknown or revoked.\n", "\(run)")
            run = try await w.remote(["senders", "--campaign", c], server: "http://127.0.0.1:1")
            #expect(run.status == 1 && run.err.contains("cannot be reached"), "\(run)")
            run = try await w.remote(["senders", "--campaign", c, "--database-url", w.direct.connectionString])
            #expect(run.status == 2 && run.err == "Give --server or --database-url, not both.\n", "\(run)")
            // Nothing the refusals touched changed.
            let batches = try await w.remote.query("SELECT count(*)::int FROM assignment_batches")
            #expect(try batches[0].decode(Int.self) == 0)
        }
    }

    @Test("remote Unassign All shows the server's count and asks for the handle at a terminal; a wrong answer changes nothing")
    func confirmAtTerminal() async throws {
        try await withWorlds { w in
            let c = w.campaign
            #expect(try await w.remote(["reassign-some", "--campaign", c, "--from-unassigned", "--to", "kevin",
                                        "--count", "3"]).status == 0)
            // util-linux `script` gives the command a terminal, as a person at a shell has.
            func atTerminal(_ answer: String) async throws -> SwitchboardBinary.Run {
                let command = ([SwitchboardBinary.url.path, "unassign-all", "--campaign", c, "--from", "kevin"])
                    .joined(separator: " ")
                return try await SwitchboardBinary.run(["-qec", command, "/dev/null"],
                                                       environment: ["SWITCHBOARD_SERVER": w.server,
                                                                     "SWITCHBOARD_TOKEN": w.ada],
                                                       input: answer + "\n", executable: URL(fileURLWithPath: "/usr/bin/script"))
            }
            var run = try await atTerminal("rebecca")
            #expect(run.status == 3, "\(run)")
            #expect(run.out.contains("This unassigns 3 conversations (status any) from 'kevin' in campaign \(c)."), "\(run)")
            #expect(run.out.contains("Not confirmed; nothing was changed."), "\(run)")
            let held = try await w.remote.query("SELECT count(*)::int FROM conversations WHERE assignee_id IS NOT NULL")
            #expect(try held[0].decode(Int.self) == 3)
            run = try await atTerminal("kevin")
            #expect(run.status == 0 && run.out.contains("Moved 3 of 3"), "\(run)")
            let after = try await w.remote.query("SELECT count(*)::int FROM conversations WHERE assignee_id IS NOT NULL")
            #expect(try after[0].decode(Int.self) == 0)
        }
    }

    @Test("login stores the token with mode 600 after the server accepts it; logout removes it; a bad token stores nothing")
    func loginLogout() async throws {
        try await withWorlds { w in
            let config = FileManager.default.temporaryDirectory.appendingPathComponent("sb-login-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: config) }
            let environment = ["XDG_CONFIG_HOME": config.path]
            let file = config.appendingPathComponent("switchboard/credentials.json")
            var run = try await SwitchboardBinary.run(["login", "--server", w.server], environment: environment,
                                                      input: "sb_wrong\n")
            #expect(run.status == 3 && !FileManager.default.fileExists(atPath: file.path), "\(run)")
            run = try await SwitchboardBinary.run(["login", "--server", w.server + "/"], environment: environment,
                                                  input: w.ada + "\n")
            #expect(run.status == 0 && run.out.contains("as ada (organizer, Acme)"), "\(run)")
            let mode = try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? Int
            #expect(mode == 0o600)
            #expect(try String(contentsOf: file, encoding: .utf8).contains(w.ada))
            run = try await SwitchboardBinary.run(["senders", "--campaign", w.campaign, "--server", w.server],
                                                  environment: environment)
            #expect(run.status == 0 && run.out.contains("kevin"), "\(run)")
            run = try await SwitchboardBinary.run(["logout"], environment: environment)
            #expect(run.status == 0 && !FileManager.default.fileExists(atPath: file.path), "\(run)")
            run = try await SwitchboardBinary.run(["senders", "--campaign", w.campaign, "--server", w.server],
                                                  environment: environment)
            #expect(run.status == 2 && run.err.contains("No token for server"), "\(run)")
        }
    }

    @Test("a connection dropped after the server applied a batch: the retry with the same Idempotency-Key applies it once")
    func droppedConnection() async throws {
        try await withWorlds { w in
            let upstream = Int(w.server.split(separator: ":").last!)!
            let proxy = try DroppingProxy(upstream: upstream, drop: 1)
            defer { proxy.stop() }
            let run = try await w.remote(["reassign-some", "--campaign", w.campaign, "--from-unassigned", "--to", "kevin",
                                          "--count", "2", "--json"], server: "http://127.0.0.1:\(proxy.port)")
            #expect(run.status == 0, "\(run)")
            #expect(proxy.forwarded == 2, "the first answer was dropped and the request sent again")
            let rows = try await w.remote.query("SELECT count(*)::int, coalesce(sum(moved), 0)::int FROM assignment_batches")
            #expect(try rows[0].decode((Int, Int).self) == (1, 2), "one batch, two conversations")
            #expect(run.out.contains(#""batch_id":1"#), "\(run)")
        }
    }

    @Test("apply: --dry-run changes nothing and rehearses each step on the ones before; a bad third step stops after two batches")
    func applyFile() async throws {
        try await withWorlds { w in
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sb-apply-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let plan = folder.appendingPathComponent("evening.yaml")
            try """
                campaign: \(w.campaign)
                steps:
                  - {operation: reassign-some, from-unassigned: true, to: [kevin], count: 4, note: first wave}
                  - operation: reassign-all
                    from: kevin
                    to: rebecca
                  - {operation: reassign-all, from: rebecca, to: [nobody]}
                  - {operation: unassign-all, from: rebecca}
                """.write(to: plan, atomically: true, encoding: .utf8)
            for mode in ["direct", "remote"] {
                func run(_ arguments: [String]) async throws -> SwitchboardBinary.Run {
                    mode == "direct" ? try await w.direct(arguments, batch: true) : try await w.remote(arguments)
                }
                let database = mode == "remote" ? w.remote : nil
                func snapshot() async throws -> [Int] {
                    if let database {
                        let row = try await database.query("""
                            SELECT (SELECT count(*) FROM assignment_batches)::int,
                                   (SELECT count(*) FROM conversations WHERE assignee_id IS NULL)::int
                            """)[0].decode((Int, Int).self)
                        return [row.0, row.1]
                    }
                    return try await TestDatabase.open(w.direct) { database in
                        let row = try await database.query("""
                            SELECT (SELECT count(*) FROM assignment_batches)::int,
                                   (SELECT count(*) FROM conversations WHERE assignee_id IS NULL)::int
                            """)[0].decode((Int, Int).self)
                        return [row.0, row.1]
                    }
                }
                let before = try await snapshot()
                var result = try await run(["apply", plan.path, "--dry-run"])
                #expect(result.status == 2, "\(mode): \(result)")
                // Step 2 sees step 1's four conversations with kevin, and moves them on.
                #expect(result.out.contains("2. reassign-all from: kevin, to: rebecca: would move 4 of 4."), "\(mode): \(result)")
                #expect(result.out.contains("3. reassign-all from: rebecca, to: nobody: FAILED: User 'nobody' does not exist"),
                        "\(mode): \(result)")
                #expect(result.out.contains("4. unassign-all from: rebecca: not run."), "\(mode): \(result)")
                #expect(result.out.contains("rebecca       0       4      +4"), "\(mode): \(result)")
                #expect(try await snapshot() == before, "\(mode): a dry run changes nothing")

                result = try await run(["apply", plan.path, "--yes"])
                #expect(result.status == 2, "\(mode): \(result)")
                // (The rehearsal drew batch ids from the sequence too: ids have gaps, never repeats.)
                #expect(result.out.range(of: #"Stopped at step 3\. Ran: 1 \(batch \d+\), 2 \(batch \d+\)"#,
                                         options: .regularExpression) != nil, "\(mode): \(result)")
                #expect(result.err.hasPrefix("User 'nobody' does not exist"), "\(mode): \(result)")
                #expect(try await snapshot() == [2, before[1] - 4], "\(mode): two batches ran")
            }
        }
    }
}

/// A loopback TCP proxy in front of the server that, for its first `drop` connections, forwards the request and
/// reads the server's whole answer, then closes the client's connection without passing it on: a network that
/// fails after the server has applied the request.
final class DroppingProxy: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let upstream: Int
    private let lock = NSLock()
    private var dropsLeft: Int
    private var count = 0
    private var stopped = false

    var forwarded: Int { lock.withLock { count } }

    init(upstream: Int, drop: Int) throws {
        self.upstream = upstream
        dropsLeft = drop
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        listen(fd, 16)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread { [self] in serve() }.start()
    }

    func stop() {
        lock.withLock { stopped = true }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func serve() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { return }
            if lock.withLock({ stopped }) { close(client); return }
            Thread { [self] in handle(client) }.start()
        }
    }

    private func handle(_ client: Int32) {
        defer { close(client) }
        guard let request = Self.readMessage(client) else { return }
        guard let server = RawConnection.connectLoopback(port: upstream) else { return }
        defer { close(server) }
        Self.writeAll(server, request)
        guard let response = Self.readMessage(server) else { return }
        let drop = lock.withLock {
            count += 1
            if dropsLeft > 0 { dropsLeft -= 1; return true }
            return false
        }
        if !drop { Self.writeAll(client, response) }
    }

    /// One HTTP/1.1 message: headers, then a Content-Length body.
    static func readMessage(_ fd: Int32) -> Data? {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            if let end = data.range(of: Data("\r\n\r\n".utf8)) {
                let head = String(decoding: data[..<end.lowerBound], as: UTF8.self).lowercased()
                let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                if data.count >= end.upperBound + length { return data }
            }
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { return data.isEmpty ? nil : data }
            data.append(contentsOf: buffer[0..<n])
        }
    }

    static func writeAll(_ fd: Int32, _ data: Data) {
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { return }
                offset += n
            }
        }
    }
}
