import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchboardCore

/// An `application/x-www-form-urlencoded` body: every field in order, a name may repeat (check boxes).
struct FormBody: Sendable {
    let fields: [(name: String, value: String)]

    static func read(_ request: Request, context: AppRequestContext) async throws -> FormBody {
        FormBody(encoded: String(buffer: try await request.collectedBody(context)))
    }

    init(fields: [(name: String, value: String)]) { self.fields = fields }

    init(encoded: String) {
        fields = encoded.split(separator: "&").compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String? {
                String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
            }
            guard let name = decode(parts[0]) else { return nil }
            return (name, parts.count > 1 ? decode(parts[1]) ?? "" : "")
        }
    }

    /// The first value of `name`, checked as text (no NUL), or nil when absent or empty.
    func value(_ name: String) throws -> String? {
        guard let value = fields.first(where: { $0.name == name })?.value, !value.isEmpty else { return nil }
        try Text.check(value, field: "field '\(name)'", maximum: 10_000)
        return value
    }

    /// Every non-empty value of `name`.
    func values(_ name: String) throws -> [String] {
        try fields.filter { $0.name == name && !$0.value.isEmpty }.map { field in
            try Text.check(field.value, field: "field '\(name)'", maximum: 10_000)
            return field.value
        }
    }

    func flag(_ name: String) -> Bool { fields.contains { $0.name == name && $0.value == "on" } }
}

/// The console's session cookie.
enum SessionCookie {
    static let name = "sb_session"

    static func token(in request: Request) -> String? {
        request.cookies[name]?.value
    }

    /// HttpOnly, SameSite=Lax, Secure unless the server serves plain HTTP on loopback. The server ends an idle
    /// session after 12 hours whatever the browser keeps.
    static func set(_ token: String, secure: Bool) -> Cookie {
        Cookie(name: name, value: token, maxAge: Int(ConsoleAuth.idleLifetime), path: "/", secure: secure,
               httpOnly: true, sameSite: .lax)
    }

    static func clear(secure: Bool) -> Cookie {
        Cookie(name: name, value: "", maxAge: 0, path: "/", secure: secure, httpOnly: true, sameSite: .lax)
    }
}

/// A file sent to the console: from a `multipart/form-data` form (no script), or as the whole body with the
/// CSRF token, file name and progress key in headers (the page's script, which shows progress).
struct Upload: Sendable {
    let data: Data
    let fileName: String
    /// The key the page polls progress under.
    let key: String?

    static let maximumSize = 64 << 20

    /// The upload (nil when no file was chosen) and the CSRF token it carried.
    static func read(_ request: Request) async throws -> (upload: Upload?, csrf: String?) {
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: maximumSize)
        } catch is NIOTooManyBytesError {
            throw SwitchboardError(.invalid, "file_too_large", "The file is larger than 64 MiB; split it and upload the parts.")
        }
        let data = Data(buffer: body)
        let type = request.headers[.contentType] ?? ""
        guard type.lowercased().hasPrefix("multipart/form-data") else {
            let name = request.headers[HTTPField.Name("X-File-Name")!].flatMap { $0.removingPercentEncoding } ?? "upload.csv"
            try Text.check(name, field: "file name", maximum: 255)
            return (data.isEmpty ? nil : Upload(data: data, fileName: name,
                                                key: request.headers[HTTPField.Name("X-Upload-Key")!]),
                    request.headers[HTTPField.Name("X-CSRF-Token")!])
        }
        guard let boundary = type.components(separatedBy: "boundary=").last?
            .trimmingCharacters(in: CharacterSet(charactersIn: "\" ")), !boundary.isEmpty
        else { throw SwitchboardError(.invalid, "invalid_form", "The upload form has no boundary.") }
        var fields: [String: String] = [:]
        var file: (name: String, data: Data)?
        for part in parts(of: data, boundary: boundary) {
            guard let split = part.range(of: Data("\r\n\r\n".utf8)) else { continue }
            let head = String(decoding: part[..<split.lowerBound], as: UTF8.self)
            let content = part[split.upperBound...]
            guard let name = parameter("name", in: head) else { continue }
            if let fileName = parameter("filename", in: head) {
                if name == "file", !content.isEmpty { file = (fileName.isEmpty ? "upload.csv" : fileName, Data(content)) }
            } else {
                fields[name] = String(decoding: content, as: UTF8.self)
            }
        }
        if let name = file?.name { try Text.check(name, field: "file name", maximum: 255) }
        return (file.map { Upload(data: $0.data, fileName: $0.name, key: fields["upload_key"]) }, fields["csrf"])
    }

    /// The parts between `--boundary` lines, without the line breaks around them.
    static func parts(of data: Data, boundary: String) -> [Data] {
        let delimiter = Data("--\(boundary)".utf8)
        var parts: [Data] = []
        var start = data.range(of: delimiter)?.upperBound
        while let from = start, let next = data.range(of: Data("\r\n".utf8) + delimiter, in: from..<data.endIndex) {
            var part = data[from..<next.lowerBound]
            if part.starts(with: Data("\r\n".utf8)) { part = part.dropFirst(2) }
            parts.append(Data(part))
            start = next.upperBound
        }
        return parts
    }

    /// `name="value"` from a part's Content-Disposition header.
    static func parameter(_ name: String, in head: String) -> String? {
        guard let range = head.range(of: "; \(name)=\"") else { return nil }
        let rest = head[range.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<end])
    }
}
