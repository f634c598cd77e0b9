/// Bounds how many tasks of this process run a section at once, per key, and admits waiters first come,
/// first served.
///
/// Self-assign uses it to bound the requests of one campaign that reach PostgreSQL. A request that waits here
/// holds no connection, no snapshot and no row lock; one that waited inside PostgreSQL (on an advisory lock)
/// would hold all three, and the snapshots of many waiters keep the dead index entries at the head of the pool
/// from being cleaned, so every claimer scans more of them as requesters multiply.
public actor AdmissionGate {
    /// A task waited longer than it was allowed to.
    public struct TimedOut: Error {}

    private struct Waiter {
        let id: Int
        let continuation: CheckedContinuation<Bool, Never>
        let timer: Task<Void, Never>?
    }

    private struct Line {
        var running = 0
        var waiting: [Waiter] = []
    }

    private var lines: [Int64: Line] = [:]
    private var nextWaiter = 0

    public init() {}

    /// Runs `body` once fewer than `limit` others of `key` are running it; throws `TimedOut` instead when that
    /// takes longer than `timeout`.
    public nonisolated func run<T: Sendable>(_ key: Int64, limit: Int, timeout: Duration? = nil,
                                             _ body: () async throws -> T) async throws -> T {
        guard await enter(key, limit: limit, timeout: timeout) else { throw TimedOut() }
        do {
            let value = try await body()
            await leave(key)
            return value
        } catch {
            await leave(key)
            throw error
        }
    }

    /// How many tasks of `key` wait for a slot (for tests).
    func waiting(_ key: Int64) -> Int { lines[key]?.waiting.count ?? 0 }

    /// True once admitted; false when `timeout` passed first.
    private func enter(_ key: Int64, limit: Int, timeout: Duration?) async -> Bool {
        var line = lines[key, default: Line()]
        if line.running < limit {
            line.running += 1
            lines[key] = line
            return true
        }
        let id = nextWaiter
        nextWaiter += 1
        let timer = timeout.map { timeout in
            Task {
                try? await Task.sleep(for: timeout)
                if !Task.isCancelled { self.expire(key, id) }
            }
        }
        return await withCheckedContinuation { continuation in
            line.waiting.append(Waiter(id: id, continuation: continuation, timer: timer))
            lines[key] = line
            queued(by: 1)
        }
    }

    /// Tasks waiting in every line, for the queue-depth gauge.
    private var depth = 0

    private func queued(by change: Int) {
        depth += change
        Telemetry.selfAssignQueue(depth: depth)
    }

    /// Takes a waiter whose time ran out out of line.
    private func expire(_ key: Int64, _ id: Int) {
        guard var line = lines[key], let index = line.waiting.firstIndex(where: { $0.id == id }) else { return }
        let waiter = line.waiting.remove(at: index)
        lines[key] = line
        queued(by: -1)
        waiter.continuation.resume(returning: false)
    }

    /// Hands the slot straight to the longest waiter, or frees it.
    private func leave(_ key: Int64) {
        guard var line = lines[key] else { return }
        if line.waiting.isEmpty {
            line.running -= 1
            lines[key] = line.running == 0 ? nil : line
        } else {
            let waiter = line.waiting.removeFirst()
            lines[key] = line
            queued(by: -1)
            waiter.timer?.cancel()
            waiter.continuation.resume(returning: true)
        }
    }
}
