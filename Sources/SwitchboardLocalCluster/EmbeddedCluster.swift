import Crypto
import Foundation
import NIOConcurrencyHelpers
import SwitchboardCore

/// A local PostgreSQL cluster made with the machine's own binaries, kept in a git-ignored folder of the project
/// (or, when the `postgres` user cannot enter the project's folder, in the system temp directory keyed by the
/// project's path). It listens on a Unix socket in its folder and on a free loopback port, never elsewhere, and
/// only its owner can reach it: the socket's folder and the socket are mode 0700, and every connection, local
/// ones included, needs the password kept in `cluster.conf` (mode 0600).
public struct EmbeddedCluster: Sendable {
    /// The folder holding the cluster: `data/` (PostgreSQL's), the socket, and `cluster.conf` (port, password).
    public let directory: URL
    /// Tuned for throwaway test clusters: no fsync, no durability.
    public let ephemeral: Bool

    public static let databaseName = "switchboard"

    public init(directory: URL, ephemeral: Bool = false) {
        self.directory = directory
        self.ephemeral = ephemeral
    }

    /// The cluster of the project that contains `start` (the nearest folder with a `Package.swift`, else `start`),
    /// or of `SWITCHBOARD_HOME` when set.
    public static func forProject(from start: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        -> EmbeddedCluster
    {
        let environment = ProcessInfo.processInfo.environment
        let root = environment["SWITCHBOARD_HOME"].map { URL(fileURLWithPath: $0) } ?? projectRoot(from: start)
        let inside = root.appendingPathComponent(".switchboard")
        if !Shell.isRoot || postgresCanEnter(root) {
            return EmbeddedCluster(directory: inside)
        }
        let key = SHA256.hash(data: Data(root.standardizedFileURL.path.utf8)).prefix(6)
            .map { String(format: "%02x", $0) }.joined()
        return EmbeddedCluster(directory: URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("switchboard-\(key)"))
    }

    private static func projectRoot(from start: URL) -> URL {
        var candidate = start.standardizedFileURL
        while candidate.path != "/" {
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("Package.swift").path) {
                return candidate
            }
            candidate = candidate.deletingLastPathComponent()
        }
        return start
    }

    private static func postgresCanEnter(_ folder: URL) -> Bool {
        (try? Shell.run("/usr/bin/test", ["-x", folder.path, "-a", "-r", folder.path], as: "postgres"))?.status == 0
    }

    public var dataDirectory: URL { directory.appendingPathComponent("data") }
    public var socketDirectory: URL { directory.appendingPathComponent("run") }
    var configFile: URL { directory.appendingPathComponent("cluster.conf") }
    var logFile: URL { socketDirectory.appendingPathComponent("postgres.log") }
    var runAs: String? { Shell.isRoot ? "postgres" : nil }

    public var isInitialized: Bool {
        FileManager.default.fileExists(atPath: configFile.path)
            && FileManager.default.fileExists(atPath: dataDirectory.appendingPathComponent("PG_VERSION").path)
    }

    /// Whether the cluster's server is up.
    public func isRunning() throws -> Bool {
        guard isInitialized else { return false }
        let pgCtl = try Self.binary("pg_ctl")
        return try Shell.run(pgCtl, ["-D", dataDirectory.path, "status"], as: runAs).status == 0
    }

    /// The address of the cluster's `switchboard` database.
    public func url() throws -> DatabaseURL {
        let settings = try readSettings()
        return DatabaseURL(user: "postgres", password: settings.password, host: "127.0.0.1", port: settings.port,
                           database: Self.databaseName, socketDirectory: nil, sslMode: "disable")
    }

    /// Creates the cluster if needed, starts it if stopped, makes sure the `switchboard` database exists,
    /// and returns its address.
    @discardableResult
    public func start() throws -> DatabaseURL {
        if !isInitialized { try initialize() }
        let restrict = try restrictAccess()
        if try !isRunning() {
            var settings = try readSettings()
            if Shell.isListening(port: settings.port), let port = Shell.freeLoopbackPort() {
                settings.port = port
                try writeSettings(settings)
            }
            let pgCtl = try Self.binary("pg_ctl")
            let options = "-p \(settings.port) -c listen_addresses=127.0.0.1 -c unix_socket_directories='\(socketDirectory.path)'"
                + " -c unix_socket_permissions=0700"
            let result = try Shell.run(pgCtl, ["-D", dataDirectory.path, "-l", logFile.path, "-o", options, "-w", "-t", "60",
                                               "start"], as: runAs)
            guard result.status == 0 else {
                throw SwitchboardError(.unavailable, "cluster_start_failed",
                                       "The local PostgreSQL cluster in \(directory.path) did not start; see \(logFile.path).")
            }
        } else if restrict {
            // A cluster made before access was restricted, running: it reads the new pg_hba.conf now.
            try Shell.run(try Self.binary("pg_ctl"), ["-D", dataDirectory.path, "reload"], as: runAs)
        }
        let settings = try readSettings()
        let psql = try Self.binary("psql")
        let socket = socketDirectory.path
        let password = ["PGPASSWORD": settings.password]
        let exists = try Shell.run(psql, ["-h", socket, "-p", "\(settings.port)", "-U", "postgres", "-d", "postgres",
                                          "-tAc", "SELECT 1 FROM pg_database WHERE datname = '\(Self.databaseName)'"],
                                   as: runAs, environment: password)
        if !exists.output.contains("1") {
            try Shell.run(psql, ["-h", socket, "-p", "\(settings.port)", "-U", "postgres", "-d", "postgres",
                                 "-c", "CREATE DATABASE \(Self.databaseName)"], as: runAs, environment: password)
        }
        return try url()
    }

    /// Who may connect: password (SCRAM) on the socket and on loopback, nothing else.
    static let accessRules = """
        # Switchboard's embedded cluster: its owner only, with the password in cluster.conf.
        local all all scram-sha-256
        host all all 127.0.0.1/32 scram-sha-256
        host all all ::1/128 scram-sha-256

        """

    /// Makes the socket's folder 0700 and writes `pg_hba.conf` (clusters made by earlier versions trusted local
    /// connections, and their socket folder was 0755). Returns whether the access rules had to change.
    private func restrictAccess() throws -> Bool {
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: socketDirectory.path)
        let rules = dataDirectory.appendingPathComponent("pg_hba.conf")
        guard (try? String(contentsOf: rules, encoding: .utf8)) != Self.accessRules else { return false }
        // Overwritten in place, so the file keeps its owner (the `postgres` user when we are root).
        let handle = try FileHandle(forWritingTo: rules)
        try handle.truncate(atOffset: 0)
        handle.write(Data(Self.accessRules.utf8))
        try handle.close()
        return true
    }

    /// Stops the server (fast shutdown) and returns once its postmaster process has exited, so that a `start` or
    /// a `destroy` right after it never meets the old server; does nothing when it is not running.
    public func stop() throws {
        guard try isRunning() else { return }
        let postmaster = postmasterPID()
        let pgCtl = try Self.binary("pg_ctl")
        try Shell.run(pgCtl, ["-D", dataDirectory.path, "-m", ephemeral ? "immediate" : "fast", "-w", "-t", "60", "stop"],
                      as: runAs)
        guard let postmaster else { return }
        let deadline = ContinuousClock.now + .seconds(60)
        while Self.isAlive(postmaster) {
            guard ContinuousClock.now < deadline else {
                throw SwitchboardError(.unavailable, "cluster_stop_failed",
                                       "PostgreSQL (process \(postmaster)) in \(directory.path) did not exit within a minute; see \(logFile.path).")
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// The postmaster's process id, from the first line of `postmaster.pid`.
    func postmasterPID() -> Int32? {
        let file = dataDirectory.appendingPathComponent("postmaster.pid")
        return (try? String(contentsOf: file, encoding: .utf8))?.split(separator: "\n").first.flatMap { Int32($0) }
    }

    /// Whether process `pid` exists and is not a zombie (an exited child that nobody has reaped yet).
    static func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { return true }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first != "Z"
    }

    /// Waits, up to `timeout`, until the cluster's server accepts connections: a cluster started a moment ago
    /// (or still starting for another process) may need a while. Says so on stderr when it waits.
    public func waitUntilAccepting(timeout: Duration) throws {
        let settings = try readSettings()
        let isReady = try Self.binary("pg_isready")
        let start = ContinuousClock.now
        var told = false
        while true {
            let result = try Shell.run(isReady, ["-h", "127.0.0.1", "-p", "\(settings.port)", "-t", "1"])
            if result.status == 0 { return }
            guard ContinuousClock.now - start < timeout else {
                throw SwitchboardError(.unavailable, "cluster_not_ready",
                                       "The local PostgreSQL cluster in \(directory.path) did not accept connections within \(timeout); see \(logFile.path).")
            }
            if !told {
                FileHandle.standardError.write(Data("Waiting for the local PostgreSQL cluster to accept connections…\n".utf8))
                told = true
            }
            Thread.sleep(forTimeInterval: 0.25)
        }
    }

    /// Stops the server and deletes the cluster's folder, data and all.
    public func destroy() throws {
        if isInitialized { try stop() }
        if FileManager.default.fileExists(atPath: directory.path) {
            try FileManager.default.removeItem(at: directory)
        }
    }

    /// Switchboard clusters left in the system temp directory: those of project folders the `postgres` user
    /// could not enter, and throwaway ones whose process is gone (a watchdog that was killed).
    public static func strays() -> [EmbeddedCluster] {
        let temp = URL(fileURLWithPath: NSTemporaryDirectory())
        let names = (try? FileManager.default.contentsOfDirectory(atPath: temp.path)) ?? []
        return names.filter { $0.hasPrefix("switchboard-") }.sorted().compactMap { name in
            let parts = name.split(separator: "-")
            // switchboard-LABEL-PID-UUID: a throwaway cluster, a stray only once its process is gone.
            if parts.count == 4, let pid = Int32(parts[2]), kill(pid, 0) == 0 { return nil }
            let cluster = EmbeddedCluster(directory: temp.appendingPathComponent(name), ephemeral: parts.count == 4)
            // Only folders that hold a cluster (or the start of one), not other programs' folders of that name.
            let files = FileManager.default
            guard files.fileExists(atPath: cluster.configFile.path) || files.fileExists(atPath: cluster.dataDirectory.path)
            else { return nil }
            return cluster
        }
    }

    /// Stops and deletes the throwaway clusters whose process is gone (a test run or a bench that was killed
    /// before its watchdog could clean up); returns how many. Project clusters are never touched.
    @discardableResult
    public static func removeDeadThrowaways() -> Int {
        strays().filter(\.ephemeral).reduce(0) { removed, stray in
            (try? stray.destroy()) == nil ? removed : removed + 1
        }
    }

    private func initialize() throws {
        let files = FileManager.default
        try? files.removeItem(at: dataDirectory)
        try files.createDirectory(at: directory, withIntermediateDirectories: true,
                                  attributes: [.posixPermissions: 0o755])
        for folder in [dataDirectory, socketDirectory] {
            try files.createDirectory(at: folder, withIntermediateDirectories: true,
                                      attributes: [.posixPermissions: 0o700])
        }
        let password = (0..<24).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let passwordFile = directory.appendingPathComponent("initdb.pw")
        try password.write(to: passwordFile, atomically: true, encoding: .utf8)
        defer { try? files.removeItem(at: passwordFile) }
        if let user = runAs {
            try Shell.run("/bin/chown", ["-R", user, dataDirectory.path, socketDirectory.path, passwordFile.path])
        }
        let initdb = try Self.binary("initdb")
        let result = try Shell.run(initdb, ["-D", dataDirectory.path, "-U", "postgres", "-E", "UTF8", "--no-locale",
                                            "--auth-local=scram-sha-256", "--auth-host=scram-sha-256",
                                            "--pwfile=\(passwordFile.path)"] + (ephemeral ? ["-N"] : []),
                                   as: runAs)
        guard result.status == 0 else {
            throw SwitchboardError(.unavailable, "cluster_init_failed",
                                   "initdb could not create a cluster in \(dataDirectory.path): \(result.output.suffix(300))")
        }
        var tuning = """

            # Switchboard's embedded cluster: loopback only.
            listen_addresses = '127.0.0.1'
            max_connections = 300
            shared_buffers = 512MB
            work_mem = 32MB
            maintenance_work_mem = 256MB
            max_wal_size = 4GB
            """
        if ephemeral {
            tuning += "\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
        }
        let handle = try FileHandle(forWritingTo: dataDirectory.appendingPathComponent("postgresql.conf"))
        handle.seekToEndOfFile()
        handle.write(Data((tuning + "\n").utf8))
        try handle.close()
        guard let port = Shell.freeLoopbackPort() else {
            throw SwitchboardError(.unavailable, "no_free_port", "No free loopback port was found for PostgreSQL.")
        }
        try writeSettings(Settings(port: port, password: password))
    }

    struct Settings {
        var port: Int
        var password: String
    }

    private func readSettings() throws -> Settings {
        guard let text = try? String(contentsOf: configFile, encoding: .utf8) else {
            throw SwitchboardError(.unavailable, "cluster_missing",
                                   "There is no local PostgreSQL cluster in \(directory.path); run 'switchboard db start'.")
        }
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2 { values[parts[0]] = parts[1] }
        }
        guard let port = values["port"].flatMap(Int.init), let password = values["password"] else {
            throw SwitchboardError(.unavailable, "cluster_broken", "The file \(configFile.path) is damaged; remove \(directory.path) and start again.")
        }
        return Settings(port: port, password: password)
    }

    private func writeSettings(_ settings: Settings) throws {
        try "port = \(settings.port)\npassword = \(settings.password)\n"
            .write(to: configFile, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: configFile.path)
    }

    /// Finds a PostgreSQL program: `pg_config --bindir`, then `/usr/lib/postgresql/*/bin` (newest first), then PATH.
    static func binary(_ name: String) throws -> String {
        var candidates: [String] = []
        if let pgConfig = Shell.which("pg_config"),
           let output = try? Shell.run(pgConfig, ["--bindir"]), output.status == 0 {
            candidates.append(output.output.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        candidates += versions.sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }.map { "/usr/lib/postgresql/\($0)/bin" }
        for directory in candidates where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
            return "\(directory)/\(name)"
        }
        if let found = Shell.which(name) { return found }
        throw SwitchboardError(.unavailable, "postgres_not_installed",
                               "PostgreSQL's '\(name)' was not found; install the server (on Debian: apt-get install postgresql-15) or set DATABASE_URL.")
    }
}

extension EmbeddedCluster {
    /// A throwaway cluster in a new folder of the system temp directory, started, and stopped and deleted by a
    /// detached watchdog as soon as process `pid` exits — however it exits. For tests and benchmarks.
    public static func throwaway(label: String, stopWhenProcessExits pid: Int32 = getpid()) throws -> (EmbeddedCluster, DatabaseURL) {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("switchboard-\(label)-\(pid)-\(UUID().uuidString.prefix(8))")
        let cluster = EmbeddedCluster(directory: directory, ephemeral: true)
        try cluster.watch(pid: pid)
        if pid == getpid() { try cluster.stopAtExit() }
        return (cluster, try cluster.start())
    }

    /// Throwaway clusters to stop as this process exits normally, so that a command run right after
    /// `swift test` never finds a server of the tests still running (the watchdog polls, and may be late).
    private static let stopsAtExit = NIOLockedValueBox<[String]>([])

    private func stopAtExit() throws {
        let pgCtl = try Self.binary("pg_ctl")
        let stop = "'\(pgCtl)' -D '\(dataDirectory.path)' -m immediate -w stop >/dev/null 2>&1"
        let command = (runAs.map { "runuser -u \($0) -- \(stop)" } ?? stop) + "; rm -rf '\(directory.path)'"
        let first = Self.stopsAtExit.withLockedValue { commands in
            commands.append(command)
            return commands.count == 1
        }
        if first {
            atexit {
                for command in EmbeddedCluster.stopsAtExit.withLockedValue({ $0 }) { _ = system(command) }
            }
        }
    }

    /// Spawns `sh` in its own session: it polls `pid`, then stops the server and removes the folder.
    private func watch(pid: Int32) throws {
        let pgCtl = try Self.binary("pg_ctl")
        let script = """
            while kill -0 "$1" 2>/dev/null; do sleep 0.2; done
            if [ -n "$5" ]; then runuser -u "$5" -- "$2" -D "$3" -m immediate -w stop; else "$2" -D "$3" -m immediate -w stop; fi
            rm -rf "$4"
            """
        try Shell.spawnDetached(["/usr/bin/setsid", "/bin/sh", "-c", script, "watchdog", String(pid), pgCtl,
                                 dataDirectory.path, directory.path, runAs ?? ""])
    }
}
