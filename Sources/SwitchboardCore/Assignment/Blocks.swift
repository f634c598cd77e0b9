import Logging
import PostgresNIO

extension AssignmentService {
    /// Where each target's block begins, so that a conversation finds its target from its own key
    /// (created_at, id) while the UPDATE scans it: no numbering of the rows, no join back to them.
    ///
    /// Imports and the API create conversations in id order, so in almost every selection creation order is
    /// id order: block `i` then begins at the id `d[i]` of the conversation at position `starts[i]`, and a row
    /// belongs to the number of block ids at or below its own, one `width_bucket`. One pass in id order finds
    /// those ids and checks that creation times never go down along it.
    ///
    /// Otherwise (imports that ran at the same time interleave their ids), block `i` begins at the key
    /// `(t[i], d[i])`, and a row `(t, id)` belongs to the number of block keys at or below its own, compared as
    /// pairs. Three scalar `width_bucket`s count that, provided the block ids `d` never decrease:
    /// - `low`, the keys whose time is before `t` (`t[i] <= t - 1 µs`: times are whole microseconds);
    /// - `high`, the keys whose time is at or before `t`;
    /// - `byID`, the keys whose id is at or below `id`.
    /// Every key in `low` is below the row and every key past `high` above it. The keys between share the
    /// row's time and so compare by id; with ids in order, exactly those up to `byID` are at or below it. So the
    /// block is `greatest(low, least(high, byID))`. When even the block ids are out of order, `find` returns
    /// nil and the caller numbers the rows instead.
    enum Blocks {
        /// One target takes every selected conversation.
        case all
        /// Creation order is id order: each block's first id, in target order (a target that takes nothing
        /// repeats the next one), and with a limit, the id of the first conversation past it, if there is one.
        case ids([Int64], end: Int64?)
        /// Block keys in target order, and with a limit, the key of the first conversation past it.
        case keys(times: [String], ids: [Int64], end: (time: String, id: Int64)?)

        /// How to deal `matched` conversations of the selection from `starts`; nil if neither ids nor keys
        /// can be used.
        static func find(_ selection: Selection, starts: [Int], matched: Int, on connection: PostgresConnection,
                         logger: Logger) async throws -> Blocks? {
            // Targets whose block begins at `matched` take nothing, and have no key.
            let dealt = starts.filter { $0 < matched }
            var positions = Set(dealt)
            if selection.limit != nil { positions.insert(matched) }
            let wanted = positions.sorted().map(Int64.init)
            if let ids = try await ids(selection, at: wanted, on: connection, logger: logger) {
                let firsts = dealt.compactMap { ids[$0] }
                if firsts.count == dealt.count { return .ids(firsts, end: selection.limit == nil ? nil : ids[matched]) }
            }
            return try await keys(selection, dealt: dealt, matched: matched, at: wanted, on: connection, logger: logger)
        }

        /// The ids at the given positions, if creation order is id order in the whole selection.
        private static func ids(_ selection: Selection, at positions: [Int64], on connection: PostgresConnection,
                                logger: Logger) async throws -> [Int: Int64]? {
            var statement = SQLStatement()
            let wanted = statement.bind(positions)
            statement.append("""
                SELECT coalesce(bool_and(created_at >= previous), true),
                       array_agg(position) FILTER (WHERE position = ANY(\(wanted)::bigint[])),
                       array_agg(id) FILTER (WHERE position = ANY(\(wanted)::bigint[]))
                FROM (
                    SELECT c.id, c.created_at, row_number() OVER w - 1 AS position, lag(c.created_at) OVER w AS previous
                    FROM conversations c WHERE 
                """)
            selection.conditions(&statement)
            statement.append(" WINDOW w AS (ORDER BY c.id)) numbered")
            let (inOrder, found, ids) = try await connection.rows(statement.query, logger: logger)[0]
                .decode((Bool, [Int]?, [Int64]?).self)
            guard inOrder else { return nil }
            return Dictionary(uniqueKeysWithValues: zip(found ?? [], ids ?? []))
        }

        /// The keys at the given positions in creation order, if their ids are in order and their times finite.
        private static func keys(_ selection: Selection, dealt: [Int], matched: Int, at positions: [Int64],
                                 on connection: PostgresConnection, logger: Logger) async throws -> Blocks? {
            var statement = SQLStatement()
            statement.append("""
                SELECT position, created_at::text, id, isfinite(created_at) FROM (
                    SELECT created_at, id, row_number() OVER (ORDER BY created_at, id) - 1 AS position
                    FROM (SELECT c.created_at, c.id FROM conversations c WHERE 
                """)
            selection.conditions(&statement)
            statement.append("""
                 ORDER BY c.created_at, c.id LIMIT \(statement.bind(matched + 1))) taken
                ) numbered WHERE position = ANY(\(statement.bind(positions))::bigint[])
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
            for start in dealt {
                guard let key = keys[start] else { return nil }
                times.append(key.time)
                ids.append(key.id)
            }
            guard zip(ids, ids.dropFirst()).allSatisfy({ $0 <= $1 }) else { return nil }
            return .keys(times: times, ids: ids, end: selection.limit == nil ? nil : keys[matched])
        }

        /// The SQL expression for a row's 1-based target index, over `conversations c`.
        func bucket(in statement: inout SQLStatement) -> String {
            switch self {
            case .all:
                return "1"
            case .ids(let ids, _):
                return "width_bucket(c.id, \(statement.bind(ids))::bigint[])"
            case .keys(let times, let ids, _):
                // Cast once, in a subquery: text to timestamptz depends on the session, so PostgreSQL would not
                // fold the cast of a bound array and would repeat it for every row.
                let keyTimes = "(SELECT \(statement.bind(times))::timestamptz[])"
                return """
                    greatest(width_bucket(c.created_at - interval '1 microsecond', \(keyTimes)),
                             least(width_bucket(c.created_at, \(keyTimes)), width_bucket(c.id, \(statement.bind(ids))::bigint[])))
                    """
            }
        }

        /// The SQL condition, to append to the selection's, that leaves out the conversations past a limit.
        func end(in statement: inout SQLStatement) -> String {
            switch self {
            case .ids(_, let end?):
                return " AND c.id < \(statement.bind(end))"
            case .keys(_, _, let end?):
                return " AND (c.created_at, c.id) < ((SELECT \(statement.bind(end.time))::timestamptz), \(statement.bind(end.id)))"
            default:
                return ""
            }
        }
    }
}
