import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The built `switchboard` binary, run as a person runs it: its own process, arguments, environment, stdin.
public enum SwitchboardBinary {
    public struct Run: Sendable, CustomStringConvertible {
        public let status: Int32
        public let out: String
        public let err: String
        public var description: String { "exit \(status)\nstdout: \(out)\nstderr: \(err)" }
    }

    /// Next to the test bundle (`.build/debug/`), where `swift build --build-tests` and `swift test` put it.
    public static var url: URL {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("switchboard")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/switchboard")
    }

    /// Runs it with only `environment` (plus PATH and a throwaway HOME), stdin `input` or nothing (not a terminal);
    /// killed after two minutes.
    public static func run(_ arguments: [String], environment: [String: String] = [:], input: String? = nil,
                    executable: URL = url) async throws -> Run {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sb-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let outFile = folder.appendingPathComponent("out"), errFile = folder.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: outFile.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
                               "HOME": folder.path, "USER": "tester", "XDG_CONFIG_HOME": folder.path]
            .merging(environment) { $1 }
        process.standardOutput = try FileHandle(forWritingTo: outFile)
        process.standardError = try FileHandle(forWritingTo: errFile)
        let stdin = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
                return
            }
            if let input {
                stdin.fileHandleForWriting.write(Data(input.utf8))
                try? stdin.fileHandleForWriting.close()
            }
            let pid = process.processIdentifier
            DispatchQueue.global().asyncAfter(deadline: .now() + 120) { if process.isRunning { kill(pid, SIGKILL) } }
        }
        return Run(status: status, out: String(decoding: try Data(contentsOf: outFile), as: UTF8.self),
                   err: String(decoding: try Data(contentsOf: errFile), as: UTF8.self))
    }

    /// Times, and the page cursors made of them, vary between two runs; everything else must not.
    public static func normalized(_ text: String) -> String {
        text.replacingOccurrences(of: #"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z"#, with: "<time>",
                                  options: .regularExpression)
            .replacingOccurrences(of: #"\b\d{13,}_\d+\b"#, with: "<cursor>", options: .regularExpression)
            .replacingOccurrences(of: #"\bpv_[0-9a-f]{48}\b"#, with: "<preview token>", options: .regularExpression)
    }
}
