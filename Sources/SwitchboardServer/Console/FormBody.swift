import Foundation
import Hummingbird
import NIOCore
import SwitchboardCore

/// An `application/x-www-form-urlencoded` body: every field in order, a name may repeat (check boxes).
struct FormBody: Sendable {
    let fields: [(name: String, value: String)]

    static func read(_ request: Request, context: AppRequestContext) async throws -> FormBody {
        FormBody(encoded: String(buffer: try await request.collectedBody(context)))
    }

    init(fields: [(name: String, value: String)]) { self.fields = fields }

    init(encoded: String) {
        fields = encoded.split(separator: "&").compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String? {
                String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
            }
            guard let name = decode(parts[0]) else { return nil }
            return (name, parts.count > 1 ? decode(parts[1]) ?? "" : "")
        }
    }

    /// The first value of `name`, checked as text (no NUL), or nil when absent or empty.
    func value(_ name: String) throws -> String? {
        guard let value = fields.first(where: { $0.name == name })?.value, !value.isEmpty else { return nil }
        try Text.check(value, field: "field '\(name)'", maximum: 10_000)
        return value
    }

    /// Every non-empty value of `name`.
    func values(_ name: String) throws -> [String] {
        try fields.filter { $0.name == name && !$0.value.isEmpty }.map { field in
            try Text.check(field.value, field: "field '\(name)'", maximum: 10_000)
            return field.value
        }
    }

    func flag(_ name: String) -> Bool { fields.contains { $0.name == name && $0.value == "on" } }
}

/// The console's session cookie.
enum SessionCookie {
    static let name = "sb_session"

    static func token(in request: Request) -> String? {
        request.cookies[name]?.value
    }

    /// HttpOnly, SameSite=Lax, Secure unless the server serves plain HTTP on loopback. The server ends an idle
    /// session after 12 hours whatever the browser keeps.
    static func set(_ token: String, secure: Bool) -> Cookie {
        Cookie(name: name, value: token, maxAge: Int(ConsoleAuth.idleLifetime), path: "/", secure: secure,
               httpOnly: true, sameSite: .lax)
    }

    static func clear(secure: Bool) -> Cookie {
        Cookie(name: name, value: "", maxAge: 0, path: "/", secure: secure, httpOnly: true, sameSite: .lax)
    }
}
