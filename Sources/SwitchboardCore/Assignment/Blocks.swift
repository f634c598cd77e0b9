import Logging
import PostgresNIO

extension AssignmentService {
    /// Where each target's block begins, so that a conversation finds its target from its own key
    /// (created_at, id) while the UPDATE scans it: no numbering of the rows, no join back to them.
    ///
    /// Block `i` begins at the key `(t[i], d[i])` of the conversation at position `starts[i]`, and a row `(t, id)`
    /// belongs to the number of block keys at or below its own, compared as pairs. Three scalar `width_bucket`s
    /// count that, provided the block ids `d` never decrease:
    /// - `low`, the keys whose time is before `t` (`t[i] <= t - 1 µs`: times are whole microseconds);
    /// - `high`, the keys whose time is at or before `t`;
    /// - `byID`, the keys whose id is at or below `id`.
    /// Every key in `low` is below the row and every key past `high` above it. The keys between share the
    /// row's time and so compare by id; with ids in order, exactly those up to `byID` are at or below it. So the
    /// block is `greatest(low, least(high, byID))`. Imports and the API create conversations in id order, so
    /// the condition holds but for interleaved imports; when it fails, `find` says so and the caller numbers the
    /// rows instead.
    enum Blocks {
        /// One target takes every selected conversation.
        case all
        /// Block keys in target order (a target that takes nothing repeats the next key), and with a limit, the
        /// key of the first conversation past it, if there is one.
        case keys(times: [String], ids: [Int64], end: (time: String, id: Int64)?)

        /// The block keys for dealing `matched` conversations of the selection from `starts`; nil if the
        /// keys cannot be used (ids out of creation order, an infinite time).
        static func find(_ selection: Selection, starts: [Int], matched: Int, on connection: PostgresConnection,
                         logger: Logger) async throws -> Blocks? {
            // Targets whose block begins at `matched` take nothing, and have no key.
            var positions = Set(starts.filter { $0 < matched })
            if selection.limit != nil { positions.insert(matched) }
            var statement = SQLStatement()
            statement.append("""
                SELECT position, created_at::text, id, isfinite(created_at) FROM (
                    SELECT created_at, id, row_number() OVER (ORDER BY created_at, id) - 1 AS position
                    FROM (SELECT c.created_at, c.id FROM conversations c WHERE 
                """)
            selection.conditions(&statement)
            statement.append("""
                 ORDER BY c.created_at, c.id LIMIT \(statement.bind(matched + 1))) taken
                ) numbered WHERE position = ANY(\(statement.bind(positions.sorted().map(Int64.init)))::bigint[])
                """)
            var keys: [Int: (time: String, id: Int64)] = [:]
            for try await (position, time, id, finite) in try await connection.query(statement.query, logger: logger)
                .decode((Int, String, Int64, Bool).self)
            {
                guard finite else { return nil }
                keys[position] = (time, id)
            }
            var times: [String] = []
            var ids: [Int64] = []
            for start in starts where start < matched {
                guard let key = keys[start] else { return nil }
                times.append(key.time)
                ids.append(key.id)
            }
            guard zip(ids, ids.dropFirst()).allSatisfy({ $0 <= $1 }) else { return nil }
            return .keys(times: times, ids: ids, end: selection.limit == nil ? nil : keys[matched])
        }

        /// The SQL expression for a row's 1-based target index, over `conversations c`.
        func bucket(in statement: inout SQLStatement) -> String {
            guard case .keys(let times, let ids, _) = self else { return "1" }
            let keyTimes = "\(statement.bind(times))::timestamptz[]"
            return """
                greatest(width_bucket(c.created_at - interval '1 microsecond', \(keyTimes)),
                         least(width_bucket(c.created_at, \(keyTimes)), width_bucket(c.id, \(statement.bind(ids))::bigint[])))
                """
        }

        /// The SQL condition, to append to the selection's, that leaves out the conversations past a limit.
        func end(in statement: inout SQLStatement) -> String {
            guard case .keys(_, _, let end?) = self else { return "" }
            return " AND (c.created_at, c.id) < (\(statement.bind(end.time))::timestamptz, \(statement.bind(end.id)))"
        }
    }
}
