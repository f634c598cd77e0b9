/// Phone numbers in E.164 (`+15551234567`). Numbers written without a country code are taken as North American
/// (+1), as US texting tools do. A leading `'` is dropped: Switchboard's own export writes `'+1555…` so that a
/// spreadsheet does not read the phone as a formula, and such a file imports again as it was.
public enum Phone {
    public static func normalize(_ raw: String) -> String? {
        var digits = ""
        var international = false
        var text = raw.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("'") { text.removeFirst() }
        for character in text {
            if character == "+", digits.isEmpty, !international {
                international = true
            } else if character.isASCII, character.isNumber {
                digits.append(character)
            } else if !" -().".contains(character) {
                return nil
            }
        }
        if international {
            guard (7...15).contains(digits.count), digits.first != "0" else { return nil }
            return "+" + digits
        }
        if digits.count == 10, let first = digits.first, first != "0", first != "1" { return "+1" + digits }
        if digits.count == 11, digits.first == "1", digits.dropFirst().first.map({ $0 != "0" && $0 != "1" }) == true {
            return "+" + digits
        }
        return nil
    }
}
