import Foundation

/// Runs `body`, which blocks its thread (initdb, pg_ctl, a socket read), on a thread of its own and waits for it
/// without holding one of the cooperative pool's threads: on a two-core machine the pool has two, and every
/// test and live server of the process shares them.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
