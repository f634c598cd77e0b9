import Foundation
import SwitchboardTestSupport
import Testing
@testable import SwitchboardCore
@testable import SwitchboardLocalCluster

@Suite("Programs we start")
struct ChildProcessTests {
    /// The descriptors a shell started by `start` has open, seen by `ls /proc/$$/fd` and written to `file`.
    func descriptors(written file: String, _ start: (String) throws -> Void) async throws -> Set<Int32> {
        // Written whole, then renamed: once the file exists, its list is complete.
        try start("ls /proc/$$/fd > '\(file).part' && mv '\(file).part' '\(file)'")
        try await waitUntil { FileManager.default.fileExists(atPath: file) }
        let text = try String(contentsOfFile: file, encoding: .utf8)
        return Set(text.split(whereSeparator: \.isWhitespace).compactMap { Int32($0) })
    }

    @Test("a program run or left running inherits none of our descriptors, so it cannot hide another child's exit")
    func noInheritedDescriptors() async throws {
        // Not close-on-exec, like the socket by which Foundation's Process notices a child's exit while it starts one.
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        let folder = NSTemporaryDirectory() + "sb-fds-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }

        let run = try await descriptors(written: "\(folder)/run") { try Shell.run("/bin/sh", ["-c", $0]) }
        let detached = try await descriptors(written: "\(folder)/detached") {
            try Shell.spawnDetached(["/bin/sh", "-c", $0])
        }
        for open in [run, detached] {
            #expect(!open.isEmpty && open.isDisjoint(with: ends), "open: \(open.sorted()), the pipe: \(ends)")
        }
    }
}
