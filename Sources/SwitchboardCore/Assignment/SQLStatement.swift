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

extension SQLStatement {
    /// The SQL text `write` appends, returned instead of appended; its binds stay in this statement, so the text
    /// can be used several times.
    mutating func fragment(_ write: (inout SQLStatement) -> Void) -> String {
        let before = query.sql
        query.sql = ""
        write(&self)
        let fragment = query.sql
        query.sql = before
        return fragment
    }
}
