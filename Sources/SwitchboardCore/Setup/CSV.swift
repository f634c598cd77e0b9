/// A small RFC 4180 reader: comma-separated, double-quoted fields with `""` escapes, LF or CRLF line ends.
struct CSVReader: Sequence, IteratorProtocol {
    struct Record {
        /// The 1-based line of the file on which the record starts.
        let line: Int
        let fields: [String]
    }

    private var scalars: String.UnicodeScalarView.Iterator
    private var pending: Unicode.Scalar?
    private var line = 1
    private var finished = false

    init(_ text: String) {
        var view = text.unicodeScalars
        if view.first == "\u{FEFF}" { view.removeFirst() }
        scalars = view.makeIterator()
    }

    private mutating func nextScalar() -> Unicode.Scalar? {
        if let scalar = pending {
            pending = nil
            return scalar
        }
        return scalars.next()
    }

    mutating func next() -> Record? {
        guard !finished else { return nil }
        let start = line
        var fields: [String] = []
        var field = String.UnicodeScalarView()
        var quoted = false
        var sawAnything = false
        while true {
            guard let scalar = nextScalar() else {
                finished = true
                if !sawAnything { return nil }
                fields.append(String(field))
                return Record(line: start, fields: fields)
            }
            sawAnything = true
            if quoted {
                if scalar == "\"" {
                    if let after = nextScalar() {
                        if after == "\"" {
                            field.append("\"")
                        } else {
                            quoted = false
                            pending = after
                        }
                    } else {
                        quoted = false
                    }
                } else {
                    if scalar == "\n" { line += 1 }
                    field.append(scalar)
                }
                continue
            }
            switch scalar {
            case "\"" where field.isEmpty:
                quoted = true
            case ",":
                fields.append(String(field))
                field.removeAll()
            case "\r":
                continue
            case "\n":
                line += 1
                fields.append(String(field))
                return Record(line: start, fields: fields)
            default:
                field.append(scalar)
            }
        }
    }
}
