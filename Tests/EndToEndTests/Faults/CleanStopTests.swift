import Foundation
#if canImport(Glibc)
import Glibc
#endif
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SwitchboardCLI
import SwitchboardServer
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore
@testable import SwitchboardLocalCluster

/// The embedded cluster is its owner's alone, and stops cleanly; `serve` stops cleanly; streams and `/metrics`
/// are bounded (issue 33).
@Suite("Security: the embedded cluster, clean stops, streams and metrics")
struct CleanStopTests {
    @Test("the embedded cluster: socket folder and socket 0700, a password on the socket too; stop returns once it is gone")
    func embeddedCluster() async throws {
        try await offPool {
            let (cluster, _) = try EmbeddedCluster.throwaway(label: "owner")
            defer { try? cluster.destroy() }
            let attributes = try FileManager.default.attributesOfItem(atPath: cluster.socketDirectory.path)
            #expect((attributes[.posixPermissions] as? Int) == 0o700)
            let socket = try #require(try FileManager.default.contentsOfDirectory(atPath: cluster.socketDirectory.path)
                .first { $0.hasPrefix(".s.PGSQL.") && !$0.hasSuffix(".lock") })
            let socketMode = try FileManager.default.attributesOfItem(
                atPath: cluster.socketDirectory.appendingPathComponent(socket).path)[.posixPermissions] as? Int
            #expect(socketMode == 0o700)
            let rules = try String(contentsOf: cluster.dataDirectory.appendingPathComponent("pg_hba.conf"), encoding: .utf8)
            #expect(!rules.contains("trust") && rules.contains("local all all scram-sha-256"))
            let port = String(socket.dropFirst(".s.PGSQL.".count))
            let psql = try EmbeddedCluster.binary("psql")
            let arguments = ["-h", cluster.socketDirectory.path, "-p", port, "-U", "postgres", "-d", "postgres", "-w",
                             "-tAc", "SELECT 1"]
            // Its owner without the password: refused by password authentication.
            let owner = try Shell.run(psql, arguments, as: cluster.runAs)
            #expect(owner.status != 0 && owner.output.contains("password"), "\(owner.output)")
            // Another local user cannot even reach the socket.
            if Shell.isRoot {
                let stranger = try Shell.run(psql, arguments, as: "nobody")
                #expect(stranger.status != 0 && stranger.output.contains("Permission denied"), "\(stranger.output)")
            }
            let postmaster = try #require(cluster.postmasterPID())
            #expect(EmbeddedCluster.isAlive(postmaster))
            try cluster.stop()
            #expect(!EmbeddedCluster.isAlive(postmaster))
        }
    }

    @Test("serve stops on SIGTERM with exit 0 and says 'stopped'")
    func serveStops() async throws {
        let url = try await TestDatabase.make()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sb-serve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = folder.appendingPathComponent("serve.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = Process()
        process.executableURL = SwitchboardBinary.url
        process.arguments = ["serve", "--port", "0", "--database-url", url.connectionString, "--release-stale-every", "0"]
        process.environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": folder.path]
        process.standardOutput = try FileHandle(forWritingTo: log)
        process.standardError = try FileHandle(forWritingTo: log)
        process.standardInput = FileHandle.nullDevice
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
                return
            }
            let pid = process.processIdentifier
            // Once it says it listens, SIGTERM; a server that never stops is killed after two minutes.
            DispatchQueue.global().async {
                let end = Date().addingTimeInterval(120)
                while Date() < end, process.isRunning {
                    let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                    if text.contains("listening on") { break }
                    Thread.sleep(forTimeInterval: 0.1)
                }
                kill(pid, SIGTERM)
                DispatchQueue.global().asyncAfter(deadline: .now() + 120) { if process.isRunning { kill(pid, SIGKILL) } }
            }
        }
        let output = try String(contentsOf: log, encoding: .utf8)
        #expect(status == 0, "\(output)")
        #expect(output.contains("stopped") && !output.contains("CancellationError"), "\(output)")
    }

    @Test("--demo is refused off loopback; /metrics off loopback without a token answers this machine only")
    func exposure() async throws {
        #expect(await Switchboard.main(arguments: ["serve", "--demo", "--host", "0.0.0.0"]) == 2)
        #expect(MetricsAccess.choose(listeningOnLoopback: false, token: nil, disabled: false) == .loopbackOnly)
        #expect(MetricsAccess.choose(listeningOnLoopback: true, token: nil, disabled: false) == .open)
        #expect(MetricsAccess.choose(listeningOnLoopback: false, token: "t", disabled: false) == .token("t"))
        try await TestDatabase.with { database in
            var settings = ServerSettings()
            settings.metrics = .loopbackOnly
            // The router's test client has no peer address: not this machine.
            let app = Application(router: buildRouter(database: database, settings: settings))
            try await app.test(.router) { client async throws in
                #expect(try await client.execute(uri: "/metrics", method: .get).status == .unauthorized)
            }
            try await withLiveServer(database, settings: settings) { live async throws in
                #expect(try await live.call("GET", "/metrics", token: nil).status == 200)
            }
        }
    }

    @Test("at most N event streams per user (429 beyond); a closed one frees its place; an idle one ends")
    func streams() async throws {
        try await TestDatabase.with { database in
            let world = try await HTTPWorld.make(database)
            var settings = ServerSettings(heartbeat: .milliseconds(200))
            settings.streamsPerUser = 2
            let hub = EventHub()
            try await withLiveServer(database, settings: settings, hub: hub) { live in
                // Reads block their thread: off the cooperative pool, which the server's handlers share.
                func open(_ token: String) async throws -> (RawConnection, String) {
                    try await offPool {
                        let connection = try RawConnection(port: live.port)
                        connection.send("GET /v1/me/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n\r\n")
                        return (connection, connection.read(until: ["\r\n\r\n"], within: 60))
                    }
                }
                let (first, one) = try await open(world.kevin)
                let (second, two) = try await open(world.kevin)
                #expect(one.hasPrefix("HTTP/1.1 200") && two.hasPrefix("HTTP/1.1 200"))
                let (third, refused) = try await open(world.kevin)
                #expect(refused.hasPrefix("HTTP/1.1 429") && refused.contains("Retry-After"), "\(refused)")
                third.close()
                // Another user's streams are counted apart.
                let (other, theirs) = try await open(world.rebecca)
                #expect(theirs.hasPrefix("HTTP/1.1 200"))
                first.close()
                // Its place is free once the server has seen the connection close.
                #expect(try await waitUntil { await hub.subscriberCount <= 2 })
                let (again, answer) = try await open(world.kevin)
                #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
                for connection in [second, other, again] { connection.close() }
            }
            // A stream that carries no event for the idle limit ends by itself (the browser reconnects).
            var idle = ServerSettings(heartbeat: .milliseconds(100))
            idle.streamIdleTimeout = .milliseconds(500)
            try await withLiveServer(database, settings: idle) { live in
                let text = try await offPool {
                    let connection = try RawConnection(port: live.port)
                    defer { connection.close() }
                    connection.send("GET /v1/me/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(world.kevin)\r\n\r\n")
                    return connection.read(until: ["\r\n0\r\n\r\n"], within: 60)
                }
                #expect(text.hasPrefix("HTTP/1.1 200") && text.hasSuffix("\r\n0\r\n\r\n"), "\(text)")
            }
        }
    }
}
