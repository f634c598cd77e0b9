import Synchronization
import Testing
@testable import SwitchboardCore

@Suite("Admission gate")
struct AdmissionGateTests {
    /// Counts the tasks inside the gate and remembers the most seen at once.
    final class Occupancy: Sendable {
        private let state = Mutex((inside: 0, most: 0, order: [Int]()))

        func enter(_ id: Int) {
            state.withLock {
                $0.inside += 1
                $0.most = max($0.most, $0.inside)
                $0.order.append(id)
            }
        }

        func leave() { state.withLock { $0.inside -= 1 } }
        var most: Int { state.withLock { $0.most } }
        var order: [Int] { state.withLock { $0.order } }
    }

    @Test("200 tasks at once: never more than the limit inside per key, every task runs, keys do not share slots")
    func bounds() async throws {
        let gate = AdmissionGate()
        let perKey = [1: Occupancy(), 2: Occupancy()]
        let finished = try await withThrowingTaskGroup(of: Int.self) { group in
            for task in 0..<200 {
                group.addTask {
                    let key = Int64(task % 2 + 1)
                    return try await gate.run(key, limit: 3) {
                        perKey[Int(key)]!.enter(task)
                        try await Task.sleep(for: .milliseconds(2))
                        perKey[Int(key)]!.leave()
                        return task
                    }
                }
            }
            return try await group.reduce(into: Set<Int>()) { $0.insert($1) }
        }
        #expect(finished == Set(0..<200))
        #expect(perKey[1]!.most == 3 && perKey[2]!.most == 3)
    }

    @Test("a failing body gives its slot back, and waiters are admitted first come, first served")
    func fifoAndErrors() async throws {
        struct Boom: Error {}
        let gate = AdmissionGate()
        await #expect(throws: Boom.self) { try await gate.run(7, limit: 1) { throw Boom() } }
        let occupancy = Occupancy()
        let (holding, release) = AsyncStream.makeStream(of: Void.self)
        let started = AsyncStream.makeStream(of: Void.self)
        // One task holds the only slot until told to go; the others queue in a known order behind it.
        let holder = Task {
            try await gate.run(7, limit: 1) {
                started.continuation.yield()
                for await _ in holding { break }
            }
        }
        for await _ in started.stream { break }
        var waiters: [Task<Void, any Error>] = []
        for id in 0..<20 {
            waiters.append(Task { try await gate.run(7, limit: 1) { occupancy.enter(id); occupancy.leave() } })
            // Each waiter is in line before the next one starts.
            while await gate.waiting(7) < id + 1 { await Task.yield() }
        }
        release.yield()
        try await holder.value
        for waiter in waiters { try await waiter.value }
        #expect(occupancy.order == Array(0..<20))
        #expect(occupancy.most == 1)
    }

    @Test("a waiter whose time runs out leaves the line with TimedOut, and the line goes on without it")
    func timeout() async throws {
        let gate = AdmissionGate()
        let (holding, release) = AsyncStream.makeStream(of: Void.self)
        let (started, entered) = AsyncStream.makeStream(of: Void.self)
        let holder = Task {
            try await gate.run(3, limit: 1) {
                entered.yield()
                for await _ in holding { break }
            }
        }
        for await _ in started { break }
        await #expect(throws: AdmissionGate.TimedOut.self) {
            try await gate.run(3, limit: 1, timeout: .milliseconds(50)) { Issue.record("ran without a slot") }
        }
        #expect(await gate.waiting(3) == 0)
        let patient = Task { try await gate.run(3, limit: 1, timeout: .seconds(30)) { 42 } }
        while await gate.waiting(3) < 1 { await Task.yield() }
        release.yield()
        try await holder.value
        #expect(try await patient.value == 42)
        #expect(await gate.waiting(3) == 0)
    }
}
