import Crypto
import Foundation
import PostgresNIO

/// Preview binds the set (contract): a dry run stores the exact conversations it matched, as ranges of ids, under
/// a token; a run with the token moves only those that still match. The sets live in an unlogged table
/// (`preview_sets`): a crash loses only previews, which are made again in a second.
extension AssignmentService {
    public static let previewLifetime: TimeInterval = 10 * 60

    /// What a preview token is bound to besides its actor and campaign: the operation and every parameter that
    /// chooses or deals the conversations, written canonically and hashed.
    static func binding(_ parts: [String: String], filter: ConversationFilter) -> String {
        var parts = parts
        parts["filter"] = String(decoding: (try? JSONEncoder.sorted.encode(filter)) ?? Data(), as: UTF8.self)
        let text = String(decoding: (try? JSONEncoder.sorted.encode(parts)) ?? Data(), as: UTF8.self)
        return SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Stores the selection's conversations (the oldest `limit` when it has one) under a new token, and returns
    /// the token and when it expires. Expired sets are cleared on the way.
    func issuePreview(_ selection: Selection, binding: String, actor: String, token: String? = nil,
                      on connection: PostgresConnection) async throws -> (token: String, expiresAt: Date) {
        let token = token ?? "pv_" + (0..<24).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        try await connection.query("DELETE FROM preview_sets WHERE expires_at < now()", logger: logger)
        var statement = SQLStatement()
        statement.append("""
            INSERT INTO preview_sets (token_hash, campaign_id, actor, binding, ids, size, expires_at)
            SELECT \(statement.bind(Directory.hash(token))), \(statement.bind(selection.campaignID)),
                   \(statement.bind(actor)), \(statement.bind(binding)),
                   coalesce(range_agg(int8range(c.id, c.id, '[]')), '{}'::int8multirange), count(*),
                   now() + make_interval(secs => \(statement.bind(Self.previewLifetime)))
            FROM (SELECT c.id FROM conversations c WHERE 
            """)
        selection.conditions(&statement)
        if let limit = selection.limit {
            statement.append(" ORDER BY c.created_at, c.id LIMIT \(statement.bind(limit))")
        }
        statement.append(") c RETURNING expires_at")
        let rows = try await connection.rows(statement.query, logger: logger)
        return (token, try rows[0].decode(Date.self))
    }

    /// Checks a preview token for a run: it must exist, be unexpired, and have been issued to this actor for this
    /// campaign with the same parameters. Returns its hash (to narrow the selection) and how many it held.
    func checkPreview(_ token: String, campaignID: Int64, actor: String, binding: String,
                      on connection: PostgresConnection) async throws -> (hash: ByteBuffer, size: Int) {
        let hash = Directory.hash(token)
        let rows = try await connection.rows("""
            SELECT campaign_id, actor, binding, size, expires_at <= now() FROM preview_sets WHERE token_hash = \(hash)
            FOR UPDATE
            """, logger: logger)
        guard let row = rows.first else {
            throw SwitchboardError.conflict("preview_expired",
                                            "The preview token is unknown, used or expired; preview again to get a new one.")
        }
        let (campaign, issuedTo, bound, size, expired) = try row.decode((Int64, String, String, Int, Bool).self)
        guard !expired else {
            throw SwitchboardError.conflict("preview_expired", "The preview token has expired; preview again to get a new one.")
        }
        guard campaign == campaignID, issuedTo == actor, bound == binding else {
            throw SwitchboardError.conflict("preview_mismatch",
                                            "The preview token was issued for another operation, campaign, actor or filter; run with the previewed parameters or preview again.")
        }
        return (hash, size)
    }

    /// A used token is gone with the batch's commit.
    func usePreview(_ hash: ByteBuffer, on connection: PostgresConnection) async throws {
        try await connection.query("DELETE FROM preview_sets WHERE token_hash = \(hash)", logger: logger)
    }
}
