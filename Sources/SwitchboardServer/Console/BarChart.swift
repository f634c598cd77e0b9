/// The preview's horizontal bar chart, server-rendered SVG: per sender, a bar for before and one for after, each
/// with its number written on it, so the chart reads without colour and without JavaScript.
enum BarChart {
    struct Row {
        /// Written beside the bars (a handle: short).
        let label: String
        /// Read out by the chart's accessible label (name and handle).
        let spoken: String
        let before: Int
        let after: Int
        /// Written right of the bars instead of "before → after (change)".
        var side: String? = nil
    }

    /// `words` name the two bars of each row (the preview's before and after; a report's sent and answered).
    static func svg(_ rows: [Row], words: (String, String) = ("before", "after")) -> String {
        // Compact, so that on a phone (scaled to ~340 px) the numbers stay readable.
        let labelWidth = 130.0, barArea = 210.0, rowHeight = 50.0, barHeight = 18.0
        let width = labelWidth + barArea + (rows.contains { $0.side != nil } ? 140 : 100)
        let height = max(1, Double(rows.count)) * rowHeight + 8
        let largest = Double(max(1, rows.map { max($0.before, $0.after) }.max() ?? 1))
        let summary = rows.map { row in
            row.side == nil ? "\(row.spoken): \(row.before) to \(row.after)"
                : "\(row.spoken): \(words.0) \(row.before), \(words.1) \(row.after), \(row.side ?? "")"
        }.joined(separator: "; ")
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(Int(width)) \(Int(height))" width="\(Int(width))" \
            height="\(Int(height))" role="img" aria-label="\(escape(summary))" font-family="system-ui, sans-serif" font-size="15">
            """
        for (index, row) in rows.enumerated() {
            let top = Double(index) * rowHeight + 6
            svg += """
                <text x="0" y="\(top + 22)" font-weight="600">\(escape(truncated(row.label)))</text>
                """
            for (offset, (word, value, fill)) in [(words.0, row.before, "#c9d1d9"), (words.1, row.after, "#0b5cad")].enumerated() {
                let y = top + Double(offset) * (barHeight + 4)
                let length = max(2, Double(value) / largest * barArea)
                let text = offset == 0 ? "#1b1f24" : "#ffffff"
                let inside = length > 80
                svg += """
                    <rect x="\(labelWidth)" y="\(y)" width="\(length)" height="\(barHeight)" fill="\(fill)" stroke="#1b1f24" \
                    stroke-width="0.5"><title>\(word): \(value)</title></rect>
                    <text x="\(inside ? labelWidth + 6 : labelWidth + length + 6)" y="\(y + 14)" \
                    fill="\(inside ? text : "#1b1f24")">\(word) \(value)</text>
                    """
            }
            let change = row.after - row.before
            if let side = row.side {
                svg += "<text x=\"\(labelWidth + barArea + 10)\" y=\"\(top + 22)\" font-weight=\"600\">\(escape(side))</text>"
                continue
            }
            svg += """
                <text x="\(labelWidth + barArea + 10)" y="\(top + 22)" font-weight="600">\(row.before) → \(row.after)\
                \(change == 0 ? "" : change > 0 ? " (+\(change))" : " (\(change))")</text>
                """
        }
        return svg + "</svg>"
    }

    static func truncated(_ label: String) -> String {
        label.count > 14 ? String(label.prefix(13)) + "…" : label
    }

    static func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
