import NIOConcurrencyHelpers
import PostgresNIO

extension PostgresClient {
    /// Runs `body` with a pooled connection, but waits at most `timeout` for one, and, when `workLimit` is
    /// given, gives up on `body` after that long.
    ///
    /// `PostgresClient` queues a lease for as long as the database stays away, and a queued lease does not
    /// always let go when its task is cancelled. A server must answer 503 instead of hanging, so a helper task
    /// takes the lease and hands the connection over. When the deadline passes first the caller gets
    /// `unavailable()`; a connection that turns up later goes straight back to the pool, unused.
    func withConnection<T>(
        timeout: Duration, workLimit: Duration?, giveUp: @escaping @Sendable (Duration) -> Bool = { _ in false },
        unavailable: @escaping @Sendable () -> any Error,
        _ body: @escaping (PostgresConnection) async throws -> T
    ) async throws -> T {
        let began = ContinuousClock.now
        let deadline = began + timeout
        // The pool can hand out a connection that was closed a moment ago (by the server, or by an abandoned
        // request): lease again rather than fail the request.
        for _ in 0..<3 {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { break }
            // `giveUp` hears the time waited since the first lease: a closed connection leased again does not
            // start its wait over.
            let (connection, handoff) = try await lease(timeout: remaining, giveUp: { giveUp(ContinuousClock.now - began) },
                                                        unavailable: unavailable)
            guard !connection.isClosed else {
                handoff.giveBack()
                continue
            }
            do {
                let value = try await abandonable(on: connection, limit: workLimit, unavailable: unavailable,
                                                  onClose: handoff.markClosing) {
                    try await body(connection)
                }
                handoff.giveBack()
                return value
            } catch {
                // An abandoned connection is still closing on its event loop: give the lease back only once it has
                // closed, so the pool never hands it to the next request as if it were usable. That wait is the
                // pool's, not the caller's: the caller's answer (a 503 at its limit) goes out now.
                if handoff.closing {
                    connection.closeFuture.whenComplete { _ in handoff.giveBack() }
                } else {
                    handoff.giveBack()
                }
                throw error
            }
        }
        throw unavailable()
    }

    /// A pooled connection within `timeout` (or until `giveUp` says so), and the handoff to give it back through.
    private func lease(timeout: Duration, giveUp: @escaping @Sendable () -> Bool,
                       unavailable: @escaping @Sendable () -> any Error) async throws -> (PostgresConnection, LeaseHandoff)
    {
        let handoff = LeaseHandoff()
        let lessee = Task {
            do {
                try await self.withConnection { connection in
                    await withCheckedContinuation { handoff.offer(connection, release: $0) }
                }
            } catch {
                handoff.fail(error)
            }
        }
        let timer = Task {
            let start = ContinuousClock.now
            while ContinuousClock.now - start < timeout, !giveUp() {
                try await Task.sleep(for: min(.milliseconds(50), timeout))
            }
            handoff.fail(unavailable())
        }
        defer { timer.cancel() }
        do {
            let connection = try await withTaskCancellationHandler {
                try await handoff.connection()
            } onCancel: {
                handoff.fail(CancellationError())
            }
            return (connection, handoff)
        } catch {
            lessee.cancel()
            throw error
        }
    }
}

/// Runs `work` on `connection` in a task of its own and returns what it returns, unless, first, `limit` passes,
/// the connection closes, or the caller is cancelled. Then the connection is closed (so an open transaction
/// can only roll back) and the caller gets `unavailable()` (or `CancellationError`) at once, without waiting
/// for `work`.
///
/// Why not simply wait: postgres-nio 1.33.2 writes each statement to its channel with `promise: nil`
/// (`PostgresConnection.query`). A statement written just after the server dropped the connection fails its
/// write, and nothing fails the statement's own promise, so `work` waits forever; closing the connection again
/// does not wake it. That leftover task holds only its closed connection and a little memory.
func abandonable<T>(
    on connection: PostgresConnection, limit: Duration?, unavailable: @escaping @Sendable () -> any Error,
    onClose: @escaping @Sendable () -> Void = {}, _ work: @escaping () async throws -> T
) async throws -> T {
    let waiting = NIOLockedValueBox<CheckedContinuation<Unchecked<T>, any Error>?>(nil)
    // Resumes the caller once; true for the first outcome only.
    let finish: @Sendable (Result<Unchecked<T>, any Error>) -> Bool = { result in
        guard let continuation = waiting.withLockedValue({ state -> CheckedContinuation<Unchecked<T>, any Error>? in
            defer { state = nil }
            return state
        }) else { return false }
        continuation.resume(with: result)
        return true
    }
    let abandon: @Sendable (any Error) -> Void = { error in
        if finish(.failure(error)) {
            onClose()
            connection.close().whenComplete { _ in }
        }
    }
    let job = Unchecked(value: work)
    let result = try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Unchecked<T>, any Error>) in
            waiting.withLockedValue { $0 = continuation }
            // Watches the deadline and the connection; a callback on `closeFuture` would pile up, one per
            // statement, on a connection that lives for hours.
            let watcher = Task {
                let start = ContinuousClock.now
                while !Task.isCancelled {
                    if connection.isClosed {
                        _ = finish(.failure(unavailable()))
                        return
                    }
                    if let limit, ContinuousClock.now - start >= limit {
                        abandon(unavailable())
                        return
                    }
                    try? await Task.sleep(for: .milliseconds(50))
                }
            }
            Task {
                do { _ = finish(.success(Unchecked(value: try await job.value()))) } catch { _ = finish(.failure(error)) }
                watcher.cancel()
            }
        }
    } onCancel: {
        abandon(CancellationError())
    }
    return result.value
}

/// Carries a value across tasks where the compiler cannot see that only one task uses it at a time.
struct Unchecked<Value>: @unchecked Sendable {
    var value: Value
}

/// The meeting point between the task that holds a lease and the caller that uses its connection.
private final class LeaseHandoff: Sendable {
    private enum State {
        /// Neither side has arrived.
        case idle
        /// The caller waits for a connection.
        case callerWaiting(CheckedContinuation<PostgresConnection, any Error>)
        /// A connection arrived before the caller started waiting.
        case offered(PostgresConnection, release: CheckedContinuation<Void, Never>)
        /// The caller has the connection; the lessee holds the lease until it is given back.
        case inUse(release: CheckedContinuation<Void, Never>)
        /// The caller gave up, or the lease failed: nothing more will be handed over.
        case failed(any Error)
        case finished
    }

    private let state = NIOLockedValueBox(State.idle)
    private let closed = NIOLockedValueBox(false)

    /// Whether the caller abandoned its work and closed the connection.
    var closing: Bool { closed.withLockedValue { $0 } }

    @Sendable func markClosing() { closed.withLockedValue { $0 = true } }

    /// Called by the lessee with a leased connection; `release` returns the lease to the pool.
    func offer(_ connection: PostgresConnection, release: CheckedContinuation<Void, Never>) {
        enum Action { case deliver(CheckedContinuation<PostgresConnection, any Error>), wait, release }
        let action: Action = state.withLockedValue { state in
            switch state {
            case .idle:
                state = .offered(connection, release: release)
                return .wait
            case .callerWaiting(let caller):
                state = .inUse(release: release)
                return .deliver(caller)
            case .offered, .inUse, .failed, .finished:
                return .release
            }
        }
        switch action {
        case .deliver(let caller): caller.resume(returning: connection)
        case .wait: break
        case .release: release.resume()
        }
    }

    /// Waits for the connection, or for the failure that ends the wait.
    func connection() async throws -> PostgresConnection {
        try await withCheckedThrowingContinuation { caller in
            enum Action { case wait, deliver(PostgresConnection), fail(any Error) }
            let action: Action = state.withLockedValue { state in
                switch state {
                case .idle:
                    state = .callerWaiting(caller)
                    return .wait
                case .offered(let connection, let release):
                    state = .inUse(release: release)
                    return .deliver(connection)
                case .failed(let error):
                    return .fail(error)
                case .callerWaiting, .inUse, .finished:
                    return .fail(CancellationError())
                }
            }
            switch action {
            case .wait: break
            case .deliver(let connection): caller.resume(returning: connection)
            case .fail(let error): caller.resume(throwing: error)
            }
        }
    }

    /// Ends the wait with `error`, unless the caller already has its connection.
    func fail(_ error: any Error) {
        enum Action { case none, failCaller(CheckedContinuation<PostgresConnection, any Error>), release(CheckedContinuation<Void, Never>) }
        let action: Action = state.withLockedValue { state in
            switch state {
            case .idle:
                state = .failed(error)
                return .none
            case .callerWaiting(let caller):
                state = .failed(error)
                return .failCaller(caller)
            case .offered(_, let release):
                state = .failed(error)
                return .release(release)
            case .inUse, .failed, .finished:
                return .none
            }
        }
        switch action {
        case .none: break
        case .failCaller(let caller): caller.resume(throwing: error)
        case .release(let release): release.resume()
        }
    }

    /// The caller is done with the connection: the lessee returns it to the pool.
    func giveBack() {
        let release: CheckedContinuation<Void, Never>? = state.withLockedValue { state in
            guard case .inUse(let release) = state else { return nil }
            state = .finished
            return release
        }
        release?.resume()
    }
}
