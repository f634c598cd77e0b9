import ArgumentParser
import Foundation
import SwitchboardCore

/// The token `switchboard login` stored for one server, in the user's config directory with mode 600.
struct Credentials: Codable, Equatable {
    let server: String
    let token: String

    /// `$XDG_CONFIG_HOME/switchboard/credentials.json`, else `~/.config/switchboard/credentials.json`.
    static var file: URL {
        let environment = ProcessInfo.processInfo.environment
        let base = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".config")
        return base.appendingPathComponent("switchboard").appendingPathComponent("credentials.json")
    }

    static func load() throws -> Credentials? {
        guard let data = FileManager.default.contents(atPath: file.path) else { return nil }
        guard let credentials = try? JSONDecoder().decode(Credentials.self, from: data) else {
            throw SwitchboardError(.invalid, "unreadable_credentials",
                                   "The credentials file \(file.path) cannot be read; run 'switchboard logout' and log in again.")
        }
        return credentials
    }

    /// Written to a new file created with mode 600, then renamed over the old one: the token is never readable by
    /// others, not even for a moment.
    func save() throws {
        let file = Self.file
        let folder = file.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let temporary = folder.appendingPathComponent(".credentials-\(getpid()).json")
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else {
            throw SwitchboardError(.unavailable, "credentials_not_saved", "Cannot write \(temporary.path).")
        }
        let data = try JSONEncoder.switchboard.encode(self)
        let written = data.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        guard written == data.count, rename(temporary.path, file.path) == 0 else {
            unlink(temporary.path)
            throw SwitchboardError(.unavailable, "credentials_not_saved", "Cannot write \(file.path).")
        }
    }

    /// `http(s)://host[:port][/prefix]`, without a trailing slash.
    static func serverURL(_ text: String) throws(SwitchboardError) -> URL {
        let trimmed = text.hasSuffix("/") ? String(text.dropLast()) : text
        guard let url = URL(string: trimmed), url.scheme == "http" || url.scheme == "https", url.host != nil,
              url.query == nil else {
            throw SwitchboardError(.invalid, "invalid_server", "Server '\(text)' is not an http(s) address.")
        }
        return url
    }
}

/// `switchboard login --server URL`: asks for a token, checks it with the server, and stores it.
struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Store a token for a Switchboard server (asked for, checked with the server, kept with mode 600).")
    @Flag(help: "Print one JSON document on stdout.") var json = false
    @Option(help: "The server's address, e.g. https://switchboard.example.org.") var server: String

    func run() async throws {
        let url = try Credentials.serverURL(server)
        let token = try Self.readToken()
        let backend = RemoteBackend(server: url, token: token, idempotencyKey: "")
        let identity: Identity = try await backend.call(.GET, "/me", retry: .once)
        try Credentials(server: url.absoluteString, token: token).save()
        let options = try GlobalOptions.parse(json ? ["--json"] : [])
        try options.emit(identity) {
            "Logged in to \(url.absoluteString) as \(identity.handle) (\(identity.role), \(identity.organization)); "
                + "the token is in \(Credentials.file.path).\n"
                + "Commands use it with --server \(url.absoluteString) or SWITCHBOARD_SERVER=\(url.absoluteString)."
        }
    }

    /// From the terminal without echo, or the first line of standard input (for scripts).
    static func readToken() throws -> String {
        var token: String?
        if isatty(STDIN_FILENO) != 0 {
            token = getpass("Token (from 'switchboard token create' or your admin): ").map { String(cString: $0) }
        } else {
            token = readLine()
        }
        guard let token = token?.trimmingCharacters(in: .whitespaces), !token.isEmpty else {
            throw SwitchboardError(.invalid, "missing_token", "No token was given; nothing was stored.")
        }
        return token
    }
}

/// `switchboard logout`: removes the stored token.
struct Logout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove the token 'switchboard login' stored.")
    @Flag(help: "Print one JSON document on stdout.") var json = false

    func run() async throws {
        let file = Credentials.file
        let existed = FileManager.default.fileExists(atPath: file.path)
        if existed { try FileManager.default.removeItem(at: file) }
        let options = try GlobalOptions.parse(json ? ["--json"] : [])
        try options.emit(JSONObject(["removed": .bool(existed), "file": .string(file.path)])) {
            existed ? "Logged out: removed \(file.path)." : "No stored token (\(file.path) does not exist)."
        }
    }
}
