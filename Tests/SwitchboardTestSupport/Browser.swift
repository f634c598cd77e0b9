import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A headless Chromium driven through chromedriver's W3C WebDriver protocol, over URLSession: no package needed.
/// It finds things the way a person does — by a label, a button's or link's words, a section's heading — never by
/// CSS class or position.
public final class Browser: @unchecked Sendable {
    public enum Failure: Error, CustomStringConvertible {
        case unavailable(String)
        case webDriver(String)
        case notFound(String)

        public var description: String {
            switch self {
            case .unavailable(let text), .webDriver(let text), .notFound(let text): text
            }
        }
    }

    private let driver: Process
    private let endpoint: String
    private let session: String
    /// Where screenshots go: the test run's temporary folder.
    public let folder: URL

    /// Whether chromium and chromedriver are installed (`.ci/run` installs them).
    public static var isInstalled: Bool {
        FileManager.default.isExecutableFile(atPath: driverPath) && FileManager.default.isExecutableFile(atPath: chromiumPath)
    }

    public static let driverPath = "/usr/bin/chromedriver"
    public static let chromiumPath = "/usr/bin/chromium"

    /// Starts chromedriver on a free port and opens a headless window of `width` × `height`.
    public static func start(width: Int = 1280, height: Int = 900) async throws -> Browser {
        guard isInstalled else {
            throw Failure.unavailable("Chromium and chromedriver are not installed (apt-get install chromium chromium-driver).")
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-browser-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // A port the system just handed out and took back; another process can still take it before chromedriver
        // does (it then exits at once), so a failed start tries another port.
        var attempt = 0
        var started: (process: Process, endpoint: String)?
        while started == nil {
            attempt += 1
            let port = try freePort()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: driverPath)
            process.arguments = ["--port=\(port)", "--allowed-ips=127.0.0.1"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            let endpoint = "http://127.0.0.1:\(port)"
            var ready = false
            for _ in 0..<100 where !ready && process.isRunning {
                try await Task.sleep(for: .milliseconds(100))
                if let answer = try? await call("GET", "\(endpoint)/status", nil) as? [String: Any], answer["ready"] as? Bool == true {
                    ready = true
                }
            }
            if ready {
                started = (process, endpoint)
                continue
            }
            let running = process.isRunning
            process.terminate()
            if attempt == 3 {
                throw Failure.unavailable("chromedriver did not start on port \(port) (\(running ? "running" : "exited \(process.terminationStatus)")), 3 tries.")
            }
        }
        guard let (process, endpoint) = started else { throw Failure.unavailable("chromedriver did not start.") }
        var chrome: [String: Any] = [
            "binary": chromiumPath,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=\(max(width, 800)),\(height)", "--no-first-run", "--disable-extensions"],
        ]
        // Headless windows are at least 500 px wide: a phone's width needs Chromium's mobile emulation.
        if width < 500 {
            chrome["mobileEmulation"] = ["deviceMetrics": ["width": width, "height": height, "pixelRatio": 2, "touch": true]]
        }
        let capabilities: [String: Any] = ["capabilities": ["alwaysMatch": [
            "browserName": "chrome", "goog:chromeOptions": chrome,
        ]]]
        let answer = try await call("POST", "\(endpoint)/session", capabilities)
        guard let value = answer as? [String: Any], let session = value["sessionId"] as? String else {
            process.terminate()
            throw Failure.webDriver("chromedriver did not open a session: \(String(describing: answer))")
        }
        let browser = Browser(driver: process, endpoint: endpoint, session: session, folder: folder)
        _ = try await browser.command("POST", "timeouts", ["implicit": 0, "pageLoad": 30_000, "script": 10_000])
        return browser
    }

    /// A TCP port of 127.0.0.1 that was free a moment ago.
    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure.unavailable("No socket for a free port.") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw Failure.unavailable("Could not find a free port.") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private init(driver: Process, endpoint: String, session: String, folder: URL) {
        self.driver = driver
        self.endpoint = endpoint
        self.session = session
        self.folder = folder
    }

    /// Closes the window and stops chromedriver (and its Chromium).
    public func quit() async {
        _ = try? await Self.call("DELETE", "\(endpoint)/session/\(session)", nil)
        driver.terminate()
        // Not waitUntilExit: Foundation's Process can miss the exit of a child that had children of its own.
        for _ in 0..<30 where driver.isRunning { try? await Task.sleep(for: .milliseconds(100)) }
        if driver.isRunning { kill(driver.processIdentifier, SIGKILL) }
    }

    // MARK: The protocol

    /// One WebDriver command over a plain HTTP/1.1 connection (FoundationNetworking's URLSession fails on
    /// chromedriver's answers with "Failed writing header"). Runs off the cooperative pool: the socket blocks.
    private static func call(_ method: String, _ url: String, _ body: Any?) async throws -> Any? {
        let target = URL(string: url)!
        let payload = try body.map { try JSONSerialization.data(withJSONObject: $0) } ?? Data()
        let raw: Data = try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do {
                    let connection = try RawConnection(port: target.port ?? 80)
                    defer { connection.close() }
                    connection.send("\(method) \(target.path) HTTP/1.1\r\nHost: 127.0.0.1:\(target.port ?? 80)\r\n"
                                    + "Content-Type: application/json\r\nContent-Length: \(payload.count)\r\n"
                                    + "Connection: close\r\n\r\n" + String(decoding: payload, as: UTF8.self))
                    continuation.resume(returning: connection.readResponse(for: 60))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
        guard let split = raw.range(of: Data("\r\n\r\n".utf8)) else {
            throw Failure.webDriver("chromedriver gave no answer to \(method) \(target.path).")
        }
        let head = String(decoding: raw[..<split.lowerBound], as: UTF8.self).lowercased()
        var content = Data(raw[split.upperBound...])
        if head.contains("transfer-encoding: chunked") { content = dechunked(content) }
        let json = try JSONSerialization.jsonObject(with: content, options: [.fragmentsAllowed]) as? [String: Any]
        if let value = json?["value"] as? [String: Any], let error = value["error"] as? String {
            throw Failure.webDriver("\(error): \(value["message"] as? String ?? "")")
        }
        return json?["value"] ?? nil
    }

    private static func dechunked(_ data: Data) -> Data {
        var output = Data()
        var rest = data[...]
        while let lineEnd = rest.range(of: Data("\r\n".utf8)),
              let size = Int(String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self), radix: 16), size > 0 {
            let start = lineEnd.upperBound
            output.append(rest[start..<min(rest.endIndex, start + size)])
            rest = rest[min(rest.endIndex, start + size + 2)...]
        }
        return output
    }

    @discardableResult
    private func command(_ method: String, _ path: String, _ body: Any? = nil) async throws -> Any? {
        try await Self.call(method, "\(endpoint)/session/\(session)/\(path)", body)
    }

    /// Runs `script` in the page; `arguments` are JSON values.
    @discardableResult
    public func run(_ script: String, _ arguments: [Any] = []) async throws -> Any? {
        try await command("POST", "execute/sync", ["script": script, "args": arguments])
    }

    // MARK: What a person does

    public func open(_ url: String) async throws {
        try await command("POST", "url", ["url": url])
    }

    /// The page's visible text.
    public func text() async throws -> String {
        try await run("return document.body.innerText;") as? String ?? ""
    }

    public var url: String {
        get async throws { try await command("GET", "url") as? String ?? "" }
    }

    /// Finds, by the words a person reads, the element that `find` (a JavaScript function body given `root`, the
    /// section named by its heading or summary, and `name`) returns; waits up to 5 s for it to appear.
    private func element(_ find: String, _ name: String, in section: String?) async throws -> [String: Any] {
        let script = """
            const [name, section] = arguments;
            function scope(title) {
                if (!title) return document;
                const heads = [...document.querySelectorAll('summary, h1, h2, h3, legend')];
                const head = heads.find(e => e.textContent.trim() === title);
                return head ? (head.closest('details, aside, section, fieldset, form, figure') || head.parentElement) : null;
            }
            const root = scope(section);
            if (!root) return null;
            \(find)
            """
        for _ in 0..<50 {
            if let element = try await run(script, [name, section as Any? ?? NSNull()]) as? [String: Any] {
                return element
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Failure.notFound("Nothing called '\(name)'\(section.map { " in '\($0)'" } ?? "") on \(try await url).")
    }

    private static func id(_ element: [String: Any]) -> String {
        element["element-6066-11e4-a52e-4f735466cecf"] as? String ?? ""
    }

    private func click(_ element: [String: Any]) async throws {
        try await command("POST", "element/\(Self.id(element))/click", [String: Any]())
    }

    /// Clicks the button (or button-styled link) with these words.
    public func press(_ name: String, in section: String? = nil) async throws {
        try await click(try await element("""
            return [...root.querySelectorAll('button, a.button, input[type=submit]')]
                .find(b => (b.textContent || b.value).trim() === name) || null;
            """, name, in: section))
    }

    /// Clicks the button with these words in the table row whose first cell starts with `row`.
    public func press(_ name: String, inRow row: String) async throws {
        try await click(try await element("""
            const [button, rowName] = name.split('\\u0001');
            const tr = [...root.querySelectorAll('tbody tr')]
                .find(r => r.children[0] && r.children[0].textContent.trim().startsWith(rowName));
            return tr ? [...tr.querySelectorAll('button')].find(b => b.textContent.trim() === button) || null : null;
            """, name + "\u{1}" + row, in: nil))
    }

    /// Follows the link with these words.
    public func follow(_ name: String, in section: String? = nil) async throws {
        try await click(try await element("""
            return [...root.querySelectorAll('a')].find(a => a.textContent.trim() === name) || null;
            """, name, in: section))
    }

    /// Follows the first link of a section (say, the first conversation of a list).
    public func followFirstLink(in section: String) async throws {
        try await click(try await element("""
            return root.querySelector('li a, td a') || null;
            """, "the first link", in: section))
    }

    /// Opens a menu entry (a `<details>` summary) with these words.
    public func openMenu(_ name: String, in section: String? = nil) async throws {
        try await click(try await element("""
            return [...root.querySelectorAll('summary')].find(s => s.textContent.trim() === name) || null;
            """, name, in: section))
    }

    private func control(_ label: String, in section: String?) async throws -> [String: Any] {
        try await element("""
            const label = [...root.querySelectorAll('label')].find(l => l.textContent.trim() === name);
            return label ? label.control : null;
            """, label, in: section)
    }

    /// Types into the field with this label (replacing what was there).
    public func fill(_ label: String, with text: String, in section: String? = nil) async throws {
        let field = try await control(label, in: section)
        try await command("POST", "element/\(Self.id(field))/clear", [String: Any]())
        try await command("POST", "element/\(Self.id(field))/value", ["text": text])
    }

    /// Chooses a file for the file field with this label.
    public func attach(_ file: URL, to label: String) async throws {
        let field = try await control(label, in: nil)
        try await command("POST", "element/\(Self.id(field))/value", ["text": file.path])
    }

    /// Ticks the check box with this label.
    public func check(_ label: String, in section: String? = nil) async throws {
        let box = try await control(label, in: section)
        if try await command("GET", "element/\(Self.id(box))/selected") as? Bool != true { try await click(box) }
    }

    /// Chooses the option with these words in the list labelled `label`.
    public func choose(_ option: String, from label: String, in section: String? = nil) async throws {
        let select = try await control(label, in: section)
        let chosen = try await run("""
            const [select, words] = arguments;
            const option = [...select.options].find(o => o.text.trim() === words);
            if (!option) return false;
            select.value = option.value;
            select.dispatchEvent(new Event('change', { bubbles: true }));
            return true;
            """, [select, option])
        guard chosen as? Bool == true else { throw Failure.notFound("No option '\(option)' in '\(label)'.") }
    }

    /// A table cell read the way a person does: the row whose first cell says `row`, the column headed `column`.
    public func cell(row: String, column: String) async throws -> String {
        let value = try await run("""
            const [rowName, columnName] = arguments;
            for (const table of document.querySelectorAll('table')) {
                const heads = [...table.querySelectorAll('thead th')].map(h => h.textContent.trim());
                const index = heads.indexOf(columnName);
                if (index < 0) continue;
                for (const row of table.querySelectorAll('tbody tr')) {
                    const cells = [...row.children];
                    if (cells[0] && cells[0].textContent.trim().startsWith(rowName)) return cells[index].textContent.trim();
                }
            }
            return null;
            """, [row, column])
        guard let text = value as? String else { throw Failure.notFound("No cell '\(column)' for '\(row)'.") }
        return text
    }

    /// The conversations a sender holds, from the Progress column ("sent / total").
    public func total(of row: String) async throws -> Int {
        let progress = try await cell(row: row, column: "Progress")
        return Int(progress.split(separator: "/").last?.trimmingCharacters(in: .whitespaces) ?? "") ?? -1
    }

    /// Waits up to `seconds` for `condition`.
    public func waitFor(_ seconds: Double = 5, _ condition: () async throws -> Bool) async throws -> Bool {
        let end = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < end {
            if (try? await condition()) == true { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }

    /// The session cookie's value, as the browser holds it.
    public func cookie(_ name: String) async throws -> String? {
        let value = try await command("GET", "cookie/\(name)") as? [String: Any]
        return value?["value"] as? String
    }

    /// Saves a screenshot of the page and returns where.
    @discardableResult
    public func screenshot(_ name: String) async throws -> URL {
        let base64 = try await command("GET", "screenshot") as? String ?? ""
        let file = folder.appendingPathComponent("\(name).png")
        try Data(base64Encoded: base64)?.write(to: file)
        return file
    }
}
