import Foundation

/// Splits a `.sql` file into statements, since the extended query protocol runs one statement at a time.
/// Respects single quotes, double quotes, dollar quoting (`$$ … $$`, `$tag$ … $tag$`) and both comment styles.
enum SQLScript {
    static func statements(in text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        var statements: [String] = []
        var current = String.UnicodeScalarView()
        var index = 0

        func flush() {
            let statement = String(current).trimmingCharacters(in: .whitespacesAndNewlines)
            if !statement.isEmpty, !isOnlyComments(statement) { statements.append(statement) }
            current.removeAll()
        }

        while index < scalars.count {
            let scalar = scalars[index]
            let next = index + 1 < scalars.count ? scalars[index + 1] : nil
            switch scalar {
            case "-" where next == "-":
                while index < scalars.count, scalars[index] != "\n" {
                    current.append(scalars[index])
                    index += 1
                }
                continue
            case "/" where next == "*":
                let end = find(["*", "/"], in: scalars, from: index + 2)
                current.append(contentsOf: scalars[index..<end])
                index = end
                continue
            case "'", "\"":
                let end = find([scalar], in: scalars, from: index + 1)
                current.append(contentsOf: scalars[index..<end])
                index = end
                continue
            case "$":
                if let tagEnd = dollarTagEnd(scalars, from: index) {
                    let tag = Array(scalars[index...tagEnd])
                    let end = find(tag, in: scalars, from: tagEnd + 1)
                    current.append(contentsOf: scalars[index..<end])
                    index = end
                    continue
                }
            case ";":
                flush()
                index += 1
                continue
            default:
                break
            }
            current.append(scalar)
            index += 1
        }
        flush()
        return statements
    }

    /// The index just past the next occurrence of `pattern`, or the end of the text.
    private static func find(_ pattern: [Unicode.Scalar], in scalars: [Unicode.Scalar], from start: Int) -> Int {
        var index = start
        while index + pattern.count <= scalars.count {
            if Array(scalars[index..<index + pattern.count]) == pattern { return index + pattern.count }
            index += 1
        }
        return scalars.count
    }

    /// If a dollar-quote tag (`$$` or `$name$`) starts at `start`, the index of its closing `$`.
    private static func dollarTagEnd(_ scalars: [Unicode.Scalar], from start: Int) -> Int? {
        var index = start + 1
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == "$" { return index }
            guard scalar.properties.isAlphabetic || scalar == "_" || (index > start + 1 && ("0"..."9").contains(scalar))
            else { return nil }
            index += 1
        }
        return nil
    }

    private static func isOnlyComments(_ statement: String) -> Bool {
        statement.split(separator: "\n").allSatisfy {
            let line = $0.trimmingCharacters(in: .whitespaces)
            return line.isEmpty || line.hasPrefix("--")
        }
    }
}
