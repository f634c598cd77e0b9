import Foundation
import Hummingbird
import NIOCore
import SwitchboardCore

/// The request context: Hummingbird's, plus the user the bearer token belongs to.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `AuthMiddleware` on `/v1` routes.
    public var user: User?
    /// The client's connection, watched so that a request whose client went away stops its work.
    public let channel: any Channel
    /// Console pages: the signed-in session, its cookie's token, and a POST's form (CSRF already checked).
    var console: ConsoleAuth.Session?
    var sessionToken: String?
    var form = FormBody(fields: [])
    /// A console upload (the contacts page's CSV), CSRF already checked.
    var upload: Upload?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.user = nil
        self.channel = source.channel
    }

    /// Bodies are limited to 1 MiB.
    public var maxUploadSize: Int { 1 << 20 }

    /// The authenticated user (always set behind `AuthMiddleware`).
    func requireUser() throws -> User {
        guard let user else { throw SwitchboardError(.unauthorized, "unauthorized", "A bearer token is required.") }
        return user
    }

    /// The caller, who must be an admin or organizer.
    func requireManager() throws -> User {
        let user = try requireUser()
        guard user.role.canManage else {
            throw SwitchboardError(.forbidden, "forbidden", "Only admins and organizers may do this.")
        }
        return user
    }
}
