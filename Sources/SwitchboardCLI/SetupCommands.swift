import ArgumentParser
import Foundation
import SwitchboardCore

/// `switchboard org create NAME`
struct Org: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage organizations.", subcommands: [Create.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an organization.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The organization's name.") var name: String

        func run() async throws {
            let org = try await options.withDatabase { try await Directory($0).createOrganization(name: name) }
            try options.emit(org) { "Created organization \(org.id) '\(org.name)'." }
        }
    }
}

/// `switchboard user add --org ORG HANDLE [--name NAME] [--role …]`
struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "user", abstract: "Manage users.",
                                                    subcommands: [Add.self, List.self, Set.self, Password.self,
                                                                  Deactivate.self, Activate.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user to an organization.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Organization id or name.") var org: String
        @Argument(help: "Handle: 1–64 of a-z, 0-9, '.', '_', '-'.") var handle: String
        @Option(help: "Display name (default: the handle).") var name: String?
        @Option(help: "admin, organizer or texter.") var role: String = "texter"

        func run() async throws {
            guard let role = Role(rawValue: role) else {
                throw SwitchboardError(.invalid, "invalid_role", "Role '\(role)' is unknown; use admin, organizer or texter.")
            }
            let user = try await options.withDatabase { database in
                let org = try await Directory(database).organization(self.org)
                return try await Directory(database).addUser(orgID: org.id, handle: handle, name: name, role: role)
            }
            try options.emit(user) { "Added \(user.role.rawValue) '\(user.handle)' (user \(user.id))." }
        }
    }

    struct Deactivate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deactivate a user: their sessions and tokens stop working at once, and they are taken off duty on every campaign; their history stays.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Organization id or name.") var org: String
        @Argument(help: "The user's handle.") var handle: String

        func run() async throws {
            let user = try await options.withDatabase { database in
                let org = try await Directory(database).organization(self.org)
                return try await Directory(database).deactivate(orgID: org.id, handle: handle)
            }
            try options.emit(user) { "Deactivated '\(user.handle)': signed out everywhere, tokens revoked, off duty on every campaign." }
        }
    }

    struct Activate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Let a deactivated user sign in again (give them a new password link or token).")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Organization id or name.") var org: String
        @Argument(help: "The user's handle.") var handle: String

        func run() async throws {
            let user = try await options.withDatabase { database in
                let org = try await Directory(database).organization(self.org)
                return try await Directory(database).activate(orgID: org.id, handle: handle)
            }
            try options.emit(user) { "Activated '\(user.handle)'." }
        }
    }

    struct Password: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set a user's web console password (asked twice on a terminal, else read from stdin); their sessions and unused set-password links end.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Organization id or name.") var org: String
        @Argument(help: "The user's handle.") var handle: String

        func run() async throws {
            let password = try Self.readPassword()
            try await options.withDatabase { database in
                let org = try await Directory(database).organization(self.org)
                try await ConsoleAuth(database).setPassword(orgID: org.id, handle: handle, password: password)
            }
            try options.emit(JSONObject(["handle": .string(handle), "password_set": .bool(true)])) {
                "Set the console password of '\(handle)'."
            }
        }

        /// Never an argument (it would show in the process list and the shell's history).
        static func readPassword() throws -> String {
            guard isatty(STDIN_FILENO) != 0 else {
                guard let line = readLine(strippingNewline: true) else {
                    throw SwitchboardError(.invalid, "missing_password", "No password was given on standard input.")
                }
                return line
            }
            let first = String(cString: getpass("New password: "))
            let second = String(cString: getpass("Same password again: "))
            guard first == second else {
                throw SwitchboardError(.invalid, "password_mismatch", "The two passwords differ; nothing was changed.")
            }
            return first
        }
    }
}

/// `switchboard token create|revoke`
struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage API bearer tokens.",
                                                    subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a bearer token; it is printed once.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "Organization id or name.") var org: String
        @Option(help: "The user's handle.") var user: String
        @Option(help: "The token stops working after this long: 30m, 12h, 90d (default: until revoked).")
        var expiresIn: String?

        func run() async throws {
            let seconds = try expiresIn.map { try Age.seconds(parsing: $0, field: "--expires-in") }
            let token = try await options.withDatabase { database in
                let org = try await Directory(database).organization(self.org)
                return try await Directory(database).createToken(orgID: org.id, handle: user, expiresIn: seconds)
            }
            try options.emit(JSONObject(["token": .string(token), "user": .string(user)])) { token }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a bearer token.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The token.") var token: String

        func run() async throws {
            try await options.withDatabase { try await Directory($0).revokeToken(token) }
            try options.emit(JSONObject(["revoked": .bool(true)])) { "Revoked." }
        }
    }
}
