import PostgresNIO

/// A statement assembled from fragments; every value still travels as a bind, never inside the SQL text.
struct SQLStatement {
    private(set) var query = PostgresQuery(unsafeSQL: "")

    /// Appends SQL text (fragments written in this codebase, never user input).
    mutating func append(_ sql: String) {
        query.sql += sql
    }

    /// Adds a bind and returns its placeholder (`$n`).
    mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value) -> String {
        query.binds.append(value)
        return "$\(query.binds.count)"
    }

    mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value?) -> String {
        query.binds.append(value)
        return "$\(query.binds.count)"
    }
}
