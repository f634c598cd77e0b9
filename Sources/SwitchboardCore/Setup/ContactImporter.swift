import Foundation
import PostgresNIO

/// Loads a CSV of contacts (`phone,name,…`) into a campaign as `not_started`, unassigned conversations, in file
/// order, streamed with COPY. A file with any invalid row imports nothing, and the error names the lines.
public struct ContactImporter: Sendable {
    let database: Database

    public init(_ database: Database) { self.database = database }

    public struct Report: Sendable, Equatable {
        public let campaignID: Int64
        public let imported: Int
    }

    /// Imports `data`; `progress` is called now and then with the rows sent so far.
    public func importCSV(campaignID: Int64, data: Data, fileName: String,
                          progress: (@Sendable (Int) -> Void)? = nil) async throws -> Report {
        guard let text = String(data: data, encoding: .utf8) else {
            throw SwitchboardError.invalid("invalid_csv", "File '\(fileName)' is not UTF-8 text.")
        }
        if let nul = data.firstIndex(of: 0) {
            let line = data[..<nul].reduce(1) { $1 == 10 ? $0 + 1 : $0 }
            throw SwitchboardError.invalid("invalid_csv",
                                           "File '\(fileName)' has a NUL character on line \(line), which cannot be stored.")
        }
        var reader = CSVReader(text)
        guard let header = reader.next(), header.fields.contains(where: { !$0.isEmpty }) else {
            throw SwitchboardError.invalid("invalid_csv", "File '\(fileName)' is empty; it needs a header line 'phone,name'.")
        }
        let columns = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard let phoneColumn = columns.firstIndex(of: "phone") else {
            throw SwitchboardError.invalid("invalid_csv", "File '\(fileName)' has no 'phone' column in its header line.")
        }
        let nameColumn = columns.firstIndex(of: "name")
        _ = try await CampaignService(database).campaign(id: campaignID)

        return try await database.transaction { connection in
            let logger = database.logger
            try await connection.query("""
                CREATE TEMP TABLE import_rows (line integer NOT NULL, phone text, raw_phone text, name text,
                                               fields jsonb) ON COMMIT DROP
                """, logger: logger)
            var invalid: [String] = []
            var rowCount = 0
            try await connection.copyFrom(table: "import_rows", columns: ["line", "phone", "raw_phone", "name", "fields"],
                                          logger: logger) { writer in
                var buffer = ByteBuffer()
                while let record = reader.next() {
                    if record.fields.count == 1, record.fields[0].trimmingCharacters(in: .whitespaces).isEmpty { continue }
                    rowCount += 1
                    let raw = phoneColumn < record.fields.count ? record.fields[phoneColumn] : ""
                    let phone = Phone.normalize(raw)
                    if phone == nil, invalid.count < 10 { invalid.append("line \(record.line) ('\(raw)')") }
                    var extra: [String: String] = [:]
                    for (index, value) in record.fields.enumerated()
                    where index != phoneColumn && index != nameColumn && index < columns.count && !columns[index].isEmpty {
                        extra[columns[index]] = value
                    }
                    let fields = String(decoding: try JSONEncoder.sorted.encode(extra), as: UTF8.self)
                    let name = nameColumn.flatMap { $0 < record.fields.count ? record.fields[$0] : nil } ?? ""
                    buffer.writeString([String(record.line), phone.map(Self.copyEscaped) ?? "\\N",
                                        Self.copyEscaped(raw), Self.copyEscaped(name), Self.copyEscaped(fields)]
                        .joined(separator: "\t") + "\n")
                    if buffer.readableBytes > 1 << 20 {
                        try await writer.write(buffer)
                        buffer.clear()
                        progress?(rowCount)
                    }
                }
                if buffer.readableBytes > 0 { try await writer.write(buffer) }
                progress?(rowCount)
            }
            guard rowCount > 0 else {
                throw SwitchboardError.invalid("invalid_csv", "File '\(fileName)' has a header but no contacts.")
            }
            guard invalid.isEmpty else {
                throw SwitchboardError.invalid("invalid_phone",
                                               "File '\(fileName)' has malformed phone numbers at \(invalid.joined(separator: ", ")); nothing was imported.")
            }
            let duplicates = try await connection.rows("""
                SELECT phone, array_agg(line ORDER BY line) FROM import_rows GROUP BY phone HAVING count(*) > 1
                ORDER BY min(line) LIMIT 5
                """, logger: logger)
            if !duplicates.isEmpty {
                let described = try duplicates.map { row in
                    let (phone, lines) = try row.decode((String, [Int32]).self)
                    return "\(phone) on lines \(lines.map(String.init).joined(separator: " and "))"
                }
                throw SwitchboardError.invalid("duplicate_phone",
                                               "File '\(fileName)' repeats \(described.joined(separator: "; ")); nothing was imported.")
            }
            let existing = try await connection.rows("""
                SELECT i.phone, i.line FROM import_rows i
                JOIN contacts c ON c.campaign_id = \(campaignID) AND c.phone = i.phone
                ORDER BY i.line LIMIT 5
                """, logger: logger)
            if !existing.isEmpty {
                let described = try existing.map { row in
                    let (phone, line) = try row.decode((String, Int32).self)
                    return "\(phone) (line \(line))"
                }
                throw SwitchboardError.invalid("duplicate_phone",
                                               "Campaign \(campaignID) already has \(described.joined(separator: ", ")); nothing was imported.")
            }
            // A `tags` column tags the conversations (separated by spaces, commas, semicolons or bars).
            let tags = "regexp_split_to_table(lower(btrim(i.fields->>'tags')), '[[:space:],;|]+') AS t(tag)"
            if columns.contains("tags") {
                let bad = try await connection.rows("""
                    SELECT i.line, t.tag FROM import_rows i CROSS JOIN LATERAL \(unescaped: tags)
                    WHERE t.tag <> '' AND t.tag !~ '^[a-z0-9._-]{1,64}$' ORDER BY i.line LIMIT 5
                    """, logger: logger)
                if !bad.isEmpty {
                    let described = try bad.map { row in
                        let (line, tag) = try row.decode((Int32, String).self)
                        return "line \(line) ('\(tag)')"
                    }
                    throw SwitchboardError.invalid("invalid_tag",
                                                   "File '\(fileName)' has invalid tags at \(described.joined(separator: ", ")); use 1 to 64 of a-z, 0-9, '.', '_' and '-'; nothing was imported.")
                }
            }
            try await connection.query("""
                WITH added AS (
                    INSERT INTO contacts (campaign_id, phone, name, fields)
                    SELECT \(campaignID), phone, name, fields FROM import_rows ORDER BY line
                    RETURNING id
                )
                INSERT INTO conversations (campaign_id, id) SELECT \(campaignID), id FROM added ORDER BY id
                """, logger: logger)
            if columns.contains("tags") {
                try await connection.query("""
                    INSERT INTO conversation_tags (campaign_id, conversation_id, tag)
                    SELECT DISTINCT \(campaignID), p.id, t.tag FROM import_rows i
                    JOIN contacts p ON p.campaign_id = \(campaignID) AND p.phone = i.phone
                    CROSS JOIN LATERAL \(unescaped: tags)
                    WHERE t.tag <> ''
                    """, logger: logger)
            }
            return Report(campaignID: campaignID, imported: rowCount)
        }
    }

    /// Escapes a value for COPY's text format, scalar by scalar: a quoted field's CR LF is one `Character` in
    /// Swift, which a check by character would let through unescaped.
    static func copyEscaped(_ value: String) -> String {
        guard value.unicodeScalars.contains(where: { $0 == "\\" || $0 == "\t" || $0 == "\n" || $0 == "\r" }) else {
            return value
        }
        var escaped = String.UnicodeScalarView()
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": escaped.append(contentsOf: "\\\\".unicodeScalars)
            case "\t": escaped.append(contentsOf: "\\t".unicodeScalars)
            case "\n": escaped.append(contentsOf: "\\n".unicodeScalars)
            case "\r": escaped.append(contentsOf: "\\r".unicodeScalars)
            default: escaped.append(scalar)
            }
        }
        return String(escaped)
    }
}

extension JSONEncoder {
    static let sorted: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}
