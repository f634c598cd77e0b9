import Foundation
import Yams

/// `openapi.yaml` as a checker: a JSON answer of the API, or a `--json` output of the CLI, against the schema the
/// document gives it. It reads the keywords the document uses (`$ref`, `type` with `null`, `properties`,
/// `required`, `additionalProperties`, `items`, `enum`, `const`, `allOf`, `oneOf`, bounds, `pattern`, date-time),
/// so that one shape written once in the document is held against what every front end prints.
public struct SpecCheck: Sendable {
    public static let shared: SpecCheck = {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/SwitchboardServer/openapi.yaml")
        guard let text = try? String(contentsOf: file, encoding: .utf8),
              let document = (try? Yams.load(yaml: text)).flatMap({ $0 as? [String: Any] })
        else { preconditionFailure("openapi.yaml does not load from \(file.path)") }
        return SpecCheck(document: Box(document))
    }()

    /// The parsed document, read only.
    final class Box: @unchecked Sendable {
        let value: [String: Any]
        init(_ value: [String: Any]) { self.value = value }
    }

    let document: Box

    /// What is wrong with `body`, the answer to `method path` with `status`, measured against the document; empty
    /// when it conforms, or when the document gives no JSON schema for it (a CSV, an event stream).
    public func problems(method: String, path: String, status: Int, body: Data) -> [String] {
        let route = path.split(separator: "?").first.map(String.init) ?? path
        guard let operation = operation(method: method.lowercased(), path: route) else {
            return ["\(method) \(route) is not in openapi.yaml"]
        }
        let responses = operation["responses"] as? [String: Any] ?? [:]
        guard var response = responses[String(status)] as? [String: Any] else {
            return ["\(method) \(route) answered \(status), which openapi.yaml does not list"]
        }
        if let reference = response["$ref"] as? String, let resolved = resolve(reference) { response = resolved }
        guard let content = response["content"] as? [String: Any],
              let json = content["application/json"] as? [String: Any], let schema = json["schema"]
        else { return [] }
        guard let value = try? JSONDecoder().decode(JSONNode.self, from: body) else {
            return ["\(method) \(route) \(status): the body is not JSON"]
        }
        return check(value, against: schema, at: "\(method) \(route) \(status)")
    }

    /// What is wrong with `body` measured against the component schema `name` (`BatchResult`, `Campaign`…).
    public func problems(_ body: Data, schema name: String) -> [String] {
        guard let value = try? JSONDecoder().decode(JSONNode.self, from: body) else {
            return ["not JSON: \(String(decoding: body.prefix(200), as: UTF8.self))"]
        }
        return check(value, against: ["$ref": "#/components/schemas/\(name)"], at: name)
    }

    /// The schema of a list: `{"<key>": [<item schema>]}`.
    public func problems(_ body: Data, listOf item: String, key: String) -> [String] {
        guard let value = try? JSONDecoder().decode(JSONNode.self, from: body) else { return ["not JSON"] }
        let schema: [String: Any] = ["type": "object", "required": [key], "additionalProperties": false,
                                     "properties": [key: ["type": "array", "items": ["$ref": "#/components/schemas/\(item)"]]]]
        return check(value, against: schema, at: key)
    }

    private func operation(method: String, path: String) -> [String: Any]? {
        let paths = document.value["paths"] as? [String: Any] ?? [:]
        let segments = path.split(separator: "/")
        for (template, item) in paths {
            let parts = template.split(separator: "/")
            guard parts.count == segments.count,
                  zip(parts, segments).allSatisfy({ $0.hasPrefix("{") || $0 == $1 })
            else { continue }
            if let operation = (item as? [String: Any])?[method] as? [String: Any] { return operation }
        }
        return nil
    }

    private func resolve(_ reference: String) -> [String: Any]? {
        guard reference.hasPrefix("#/") else { return nil }
        var node: Any = document.value
        for part in reference.dropFirst(2).split(separator: "/") {
            guard let next = (node as? [String: Any])?[String(part)] else { return nil }
            node = next
        }
        return node as? [String: Any]
    }

    private func check(_ value: JSONNode, against schema: Any, at place: String) -> [String] {
        guard var schema = schema as? [String: Any] else { return [] }
        if let reference = schema["$ref"] as? String {
            guard let resolved = resolve(reference) else { return ["\(place): unknown \(reference)"] }
            schema = resolved
        }
        var found: [String] = []
        if let all = schema["allOf"] as? [Any] {
            for part in all { found += check(value, against: part, at: place) }
        }
        if let one = schema["oneOf"] as? [Any] {
            let matching = one.filter { check(value, against: $0, at: place).isEmpty }.count
            if matching != 1 { found.append("\(place): matches \(matching) of oneOf's \(one.count) schemas") }
        }
        if let types = (schema["type"] as? [String]) ?? (schema["type"] as? String).map({ [$0] }),
           !types.contains(where: value.is) {
            return found + ["\(place): \(value) is not \(types.joined(separator: " or "))"]
        }
        if let options = schema["enum"] as? [Any], !options.contains(where: { value.equals($0) }) {
            found.append("\(place): \(value) is not one of \(options)")
        }
        if let constant = schema["const"], !value.equals(constant) {
            found.append("\(place): \(value) is not \(constant)")
        }
        switch value {
        case .number(let number):
            if let minimum = Self.double(schema["minimum"]), number < minimum { found.append("\(place): below \(minimum)") }
            if let maximum = Self.double(schema["maximum"]), number > maximum { found.append("\(place): above \(maximum)") }
        case .string(let text):
            let length = text.unicodeScalars.count
            if let minimum = schema["minLength"] as? Int, length < minimum { found.append("\(place): shorter than \(minimum)") }
            if let maximum = schema["maxLength"] as? Int, length > maximum { found.append("\(place): longer than \(maximum)") }
            if let pattern = schema["pattern"] as? String, text.range(of: pattern, options: .regularExpression) == nil {
                found.append("\(place): '\(text)' does not match \(pattern)")
            }
            if schema["format"] as? String == "date-time", !Self.isTime(text) {
                found.append("\(place): '\(text)' is not an ISO 8601 time")
            }
        case .object(let object):
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for name in schema["required"] as? [String] ?? [] where object[name] == nil {
                found.append("\(place): '\(name)' is missing")
            }
            for (name, item) in object {
                if let property = properties[name] {
                    found += check(item, against: property, at: "\(place).\(name)")
                } else if let extra = schema["additionalProperties"] {
                    if extra as? Bool == false {
                        found.append("\(place): '\(name)' is not in the schema")
                    } else if extra is [String: Any] {
                        found += check(item, against: extra, at: "\(place).\(name)")
                    }
                }
                if !Self.isSnakeCase(name) && schema["additionalProperties"] == nil {
                    found.append("\(place): key '\(name)' is not snake_case")
                }
            }
        case .array(let array):
            if let minimum = schema["minItems"] as? Int, array.count < minimum { found.append("\(place): fewer than \(minimum) items") }
            if let items = schema["items"] {
                for (index, item) in array.enumerated() { found += check(item, against: items, at: "\(place)[\(index)]") }
            }
        case .null, .bool:
            break
        }
        return found
    }

    static func double(_ value: Any?) -> Double? {
        (value as? Double) ?? (value as? Int).map(Double.init)
    }

    static func isTime(_ text: String) -> Bool {
        if ISO8601DateFormatter().date(from: text) != nil { return true }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text) != nil
    }

    static func isSnakeCase(_ key: String) -> Bool {
        key.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" }
    }
}

/// A JSON value with its kind kept (true is not 1), as Swift's strict decoder reads it.
enum JSONNode: Decodable, CustomStringConvertible {
    case null, bool(Bool), number(Double), string(String), array([JSONNode]), object([String: JSONNode])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONNode].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONNode].self)) }
    }

    func `is`(_ type: String) -> Bool {
        switch (self, type) {
        case (.null, "null"), (.bool, "boolean"), (.string, "string"), (.array, "array"), (.object, "object"),
             (.number, "number"): true
        case (.number(let number), "integer"): number.rounded() == number
        default: false
        }
    }

    /// Against a value of the YAML document (String, Int, Double, Bool).
    func equals(_ other: Any) -> Bool {
        switch self {
        case .string(let text): (other as? String) == text
        case .bool(let flag): (other as? Bool) == flag
        case .number(let number): SpecCheck.double(other) == number
        default: false
        }
    }

    var description: String {
        switch self {
        case .null: "null"
        case .bool(let flag): "\(flag)"
        case .number(let number): "\(number)"
        case .string(let text): "'\(text)'"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
