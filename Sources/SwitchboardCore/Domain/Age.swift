/// A span of time written as a whole number and a unit: `30m`, `6h`, `90d` (minutes, hours, days).
public enum Age {
    /// The span in seconds; `field` names the value in the error (`--expires-in`, say).
    public static func seconds(parsing text: String, field: String) throws(SwitchboardError) -> Int {
        let units: [Character: Int] = ["m": 60, "h": 3600, "d": 86_400]
        guard let unit = text.last.flatMap({ units[$0] }), let count = Int(text.dropLast()), count > 0,
              count <= 100 * 365 * 86_400 / unit
        else {
            throw SwitchboardError(.invalid, "invalid_age",
                                   "\(field) '\(text)' is not a span of time; write a whole number and m, h or d (30m, 6h, 90d).")
        }
        return count * unit
    }
}
