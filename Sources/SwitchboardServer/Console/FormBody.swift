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

/// A file sent to the console: from a `multipart/form-data` form (no script), or as the whole body with the file
/// name and progress key in headers (the page's script, which shows progress). Either way its CSRF token comes in
/// the `X-CSRF-Token` header or the `csrf` query parameter, so that it is checked before any of the body is read
/// (`Console.page`).
struct Upload: Sendable {
    let data: Data
    let fileName: String
    /// The key the page polls progress under.
    let key: String?

    static let maximumSize = 64 << 20
    /// RFC 2046's limit on a multipart boundary.
    static let maximumBoundary = 70

    /// The CSRF token an upload carries, from its header or its query, read without touching the body.
    static func csrfToken(of request: Request) -> String? {
        if let header = request.headers[HTTPField.Name("X-CSRF-Token")!] { return header }
        return request.uri.queryParameters.get("csrf")
    }

    /// The upload (nil when no file was chosen). Call it only once the sender is authorized.
    static func read(_ request: Request) async throws -> Upload? {
        let type = request.headers[.contentType] ?? ""
        let boundary = type.lowercased().hasPrefix("multipart/form-data") ? try Self.boundary(in: type) : nil
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: maximumSize)
        } catch is NIOTooManyBytesError {
            throw SwitchboardError(.invalid, "file_too_large", "The file is larger than 64 MiB; split it and upload the parts.")
        }
        let data = Data(buffer: body)
        guard let boundary else {
            let name = request.headers[HTTPField.Name("X-File-Name")!].flatMap { $0.removingPercentEncoding } ?? "upload.csv"
            try Text.check(name, field: "file name", maximum: 255)
            return data.isEmpty ? nil : Upload(data: data, fileName: name,
                                               key: request.headers[HTTPField.Name("X-Upload-Key")!])
        }
        var fields: [String: String] = [:]
        var file: (name: String, data: Data)?
        for part in parts(of: data, boundary: boundary) {
            guard let split = find(Data("\r\n\r\n".utf8), in: part, from: part.startIndex) else { continue }
            let head = String(decoding: part[..<split], as: UTF8.self)
            let content = part[(split + 4)...]
            guard let name = parameter("name", in: head) else { continue }
            if let fileName = parameter("filename", in: head) {
                if name == "file", !content.isEmpty { file = (fileName.isEmpty ? "upload.csv" : fileName, Data(content)) }
            } else if content.count <= 1024 {
                fields[name] = String(decoding: content, as: UTF8.self)
            }
        }
        if let name = file?.name { try Text.check(name, field: "file name", maximum: 255) }
        return file.map { Upload(data: $0.data, fileName: $0.name, key: fields["upload_key"]) }
    }

    /// The `boundary` parameter of a multipart Content-Type: 1 to 70 characters (RFC 2046), quoted or not.
    static func boundary(in type: String) throws -> String {
        guard let range = type.range(of: "boundary=", options: .caseInsensitive) else {
            throw SwitchboardError(.invalid, "invalid_form", "The upload form has no boundary.")
        }
        var boundary = type[range.upperBound...].prefix { $0 != ";" }.trimmingCharacters(in: .whitespaces)
        if boundary.count >= 2, boundary.hasPrefix("\""), boundary.hasSuffix("\"") {
            boundary = String(boundary.dropFirst().dropLast())
        }
        guard (1...maximumBoundary).contains(boundary.utf8.count) else {
            throw SwitchboardError(.invalid, "invalid_form",
                                   "The upload form's boundary has \(boundary.utf8.count) bytes; it must have 1 to \(maximumBoundary).")
        }
        return boundary
    }

    /// The parts between `--boundary` lines, without the line breaks around them. Linear in the body's size:
    /// each search starts where the last one ended and never looks at a byte twice (Knuth–Morris–Pratt).
    static func parts(of data: Data, boundary: String) -> [Data] {
        let delimiter = Data("--\(boundary)".utf8)
        let between = Data("\r\n".utf8) + delimiter
        var parts: [Data] = []
        var start = find(delimiter, in: data, from: data.startIndex).map { $0 + delimiter.count }
        while let from = start, let next = find(between, in: data, from: from) {
            var part = data[from..<next]
            if part.starts(with: Data("\r\n".utf8)) { part = part.dropFirst(2) }
            parts.append(Data(part))
            start = next + between.count
        }
        return parts
    }

    /// Where `needle` first occurs in `data` at or after `from`, in time linear in what is scanned.
    static func find(_ needle: Data, in data: Data, from: Data.Index) -> Data.Index? {
        let pattern = [UInt8](needle)
        guard !pattern.isEmpty, from <= data.endIndex else { return nil }
        // failure[i]: the length of the longest proper prefix of pattern[...i] that is also its suffix.
        var failure = [Int](repeating: 0, count: pattern.count)
        var k = 0
        for i in 1..<max(1, pattern.count) {
            while k > 0 && pattern[i] != pattern[k] { k = failure[k - 1] }
            if pattern[i] == pattern[k] { k += 1 }
            failure[i] = k
        }
        let found: Int? = data[from...].withUnsafeBytes { bytes in
            var matched = 0
            for (offset, byte) in bytes.enumerated() {
                while matched > 0 && byte != pattern[matched] { matched = failure[matched - 1] }
                if byte == pattern[matched] { matched += 1 }
                if matched == pattern.count { return offset - pattern.count + 1 }
            }
            return nil
        }
        return found.map { from + $0 }
    }

    /// `name="value"` from a part's Content-Disposition header.
    static func parameter(_ name: String, in head: String) -> String? {
        guard let range = head.range(of: "; \(name)=\"") else { return nil }
        let rest = head[range.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<end])
    }
}
