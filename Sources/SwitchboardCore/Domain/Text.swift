/// Checks on text from users (HTTP bodies and parameters, CLI arguments, CSV cells) before it reaches SQL.
///
/// PostgreSQL refuses NUL in text, and its `length()` counts Unicode code points, where Swift's `count`
/// counts graphemes (one family emoji is one grapheme and seven code points). So lengths here are counted the
/// way the tables' CHECKs count them, and NUL is refused with a sentence naming the field, never a 500.
public enum Text {
    /// Refuses NUL in `value`, and more than `maximum` code points (or fewer than `minimum`).
    public static func check(_ value: String, field: String, minimum: Int = 0, maximum: Int? = nil,
                             code: String = "invalid_text") throws(SwitchboardError)
    {
        if value.unicodeScalars.contains("\0") {
            throw .invalid(code, "The \(field) contains a NUL character, which cannot be stored.")
        }
        let length = value.unicodeScalars.count
        if length < minimum {
            throw .invalid(code, minimum == 1 ? "The \(field) is empty." : "The \(field) has \(length) characters; at least \(minimum) are needed.")
        }
        if let maximum, length > maximum {
            throw .invalid(code, "The \(field) has \(length) characters; at most \(maximum) are allowed.")
        }
    }

    /// The length PostgreSQL's `length()` gives.
    public static func length(_ value: String) -> Int { value.unicodeScalars.count }
}
