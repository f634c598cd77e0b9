import NIOConcurrencyHelpers
import PostgresNIO

extension PostgresClient {
    /// Runs `body` with a pooled connection, but waits at most `timeout` for one, and, when `workLimit` is
    /// given, closes the connection if `body` is still running after that long (its transaction rolls back).
    ///
    /// `PostgresClient` queues a lease for as long as the database stays away, and a queued lease does not
    /// always let go when its task is cancelled. A server must answer 503 instead of hanging, so a helper task
    /// takes the lease and hands the connection over. When the deadline passes first the caller gets
    /// `unavailable()`; a connection that turns up later goes straight back to the pool, unused. `body` runs
    /// only while the caller is still waiting, in the caller's own task.
    func withConnection<T>(
        timeout: Duration, workLimit: Duration?, unavailable: @escaping @Sendable () -> any Error,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
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
            try await Task.sleep(for: timeout)
            handoff.fail(unavailable())
        }
        defer { timer.cancel() }
        let connection: PostgresConnection
        do {
            connection = try await withTaskCancellationHandler {
                try await handoff.connection()
            } onCancel: {
                handoff.fail(CancellationError())
            }
        } catch {
            lessee.cancel()
            throw error
        }
        defer { handoff.giveBack() }
        // The pool can hand out a connection the server has just dropped, and a statement written to a closed
        // channel is never answered (postgres-nio 1.33 writes it without a promise), so do not start one there.
        guard !connection.isClosed else { throw unavailable() }
        guard let workLimit else { return try await body(connection) }
        // A connection whose server went away mid-statement does not always fail the statement: closing it does.
        let watchdog = Task {
            try await Task.sleep(for: workLimit)
            handoff.markOverrun()
            try? await connection.close()
        }
        defer { watchdog.cancel() }
        do {
            return try await body(connection)
        } catch {
            throw handoff.overran ? unavailable() : error
        }
    }
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
    private let overrun = NIOLockedValueBox(false)

    /// Whether the caller's work outlived its limit and had its connection closed.
    var overran: Bool { overrun.withLockedValue { $0 } }

    func markOverrun() { overrun.withLockedValue { $0 = true } }

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

/// Returns what `work` returns, or throws `onTimeout()` once `limit` has passed, whichever comes first.
///
/// Unlike a task group, this does not wait for `work` to finish: a statement stuck on a dead connection is left
/// behind (it holds only that connection) instead of holding up the caller.
func firstOf<T: Sendable>(
    _ work: @escaping @Sendable () async throws -> T, orAfter limit: Duration,
    onTimeout: @escaping @Sendable () -> any Error
) async throws -> T {
    let outcome = NIOLockedValueBox<CheckedContinuation<T, any Error>?>(nil)
    let finish: @Sendable (Result<T, any Error>) -> Void = { result in
        outcome.withLockedValue { waiting in
            let continuation = waiting
            waiting = nil
            return continuation
        }?.resume(with: result)
    }
    return try await withCheckedThrowingContinuation { continuation in
        outcome.withLockedValue { $0 = continuation }
        let timer = Task {
            try await Task.sleep(for: limit)
            finish(.failure(onTimeout()))
        }
        Task {
            do { finish(.success(try await work())) } catch { finish(.failure(error)) }
            // Otherwise every statement leaves a task asleep for the whole limit (two minutes on the server).
            timer.cancel()
        }
    }
}
