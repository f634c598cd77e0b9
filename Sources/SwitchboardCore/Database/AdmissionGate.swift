/// Bounds how many tasks of this process run a section at once, per key, and admits waiters first come,
/// first served.
///
/// Self-assign uses it to bound the requests of one campaign that reach PostgreSQL. A request that waits here
/// holds no connection, no snapshot and no row lock; one that waited inside PostgreSQL (on an advisory lock)
/// would hold all three, and the snapshots of many waiters keep the dead index entries at the head of the pool
/// from being cleaned, so every claimer scans more of them as requesters multiply.
public actor AdmissionGate {
    private struct Line {
        var running = 0
        var waiting: [CheckedContinuation<Void, Never>] = []
        var next = 0
    }

    private var lines: [Int64: Line] = [:]

    public init() {}

    /// Runs `body` once fewer than `limit` others of `key` are running it.
    public nonisolated func run<T: Sendable>(_ key: Int64, limit: Int, _ body: () async throws -> T) async throws -> T {
        await enter(key, limit: limit)
        do {
            let value = try await body()
            await leave(key)
            return value
        } catch {
            await leave(key)
            throw error
        }
    }

    private func enter(_ key: Int64, limit: Int) async {
        var line = lines[key, default: Line()]
        if line.running < limit {
            line.running += 1
            lines[key] = line
            return
        }
        await withCheckedContinuation { continuation in
            line.waiting.append(continuation)
            lines[key] = line
        }
    }

    /// How many tasks of `key` wait for a slot (for tests).
    func waiting(_ key: Int64) -> Int {
        guard let line = lines[key] else { return 0 }
        return line.waiting.count - line.next
    }

    /// Hands the slot straight to the longest waiter, or frees it.
    private func leave(_ key: Int64) {
        guard var line = lines[key] else { return }
        if line.next < line.waiting.count {
            let waiter = line.waiting[line.next]
            line.next += 1
            if line.next == line.waiting.count {
                line.waiting.removeAll(keepingCapacity: true)
                line.next = 0
            }
            lines[key] = line
            waiter.resume()
        } else {
            line.running -= 1
            lines[key] = line.running == 0 ? nil : line
        }
    }
}
