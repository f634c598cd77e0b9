import Foundation
import Logging
import Metrics

/// What the server knows about the request running in this task: its id, carried into Core's log lines.
public enum RequestTag {
    @TaskLocal public static var id: String?
}

/// Anything that reports a batch's counts: a batch result, or a self-assign grant.
protocol ReportsBatch {
    var batchResult: BatchResult { get }
}

extension BatchResult: ReportsBatch {
    var batchResult: BatchResult { self }
}

extension SelfAssignService.Grant: ReportsBatch {
    var batchResult: BatchResult { result }
}

/// Metrics (through swift-metrics: whatever backend the process bootstrapped, Prometheus for `serve`, none
/// for the CLI) and one log line per batch.
///
/// - `switchboard_batches_total{kind, outcome}`: every batch operation asked for; outcome `ok`, `dry_run`,
///   `nothing` (nothing matched), a refusal's code (`pool_empty`, `cap_reached`, …) or `failed`.
/// - `switchboard_batch_duration_seconds{kind}`: how long each took, whatever its outcome.
/// - `switchboard_batch_rows_moved_total{kind}`: conversations moved.
/// - `switchboard_self_assign_queue_depth`, `switchboard_self_assign_wait_seconds`: requests waiting their turn.
/// - `switchboard_db_connections_in_use`, `switchboard_db_connection_wait_seconds`,
///   `switchboard_db_gave_up_total` (503s for want of the database): the pool.
enum Telemetry {
    /// Runs one batch operation, counting and timing it, and logs one line at info when it applied (debug
    /// otherwise): kind, campaign, actor, matched, moved, duration, and the request's id.
    static func batch<T: ReportsBatch>(_ kind: BatchKind, campaignID: Int64?, actor: String?, logger: Logger,
                                       _ body: () async throws -> T) async throws -> T {
        let start = ContinuousClock.now
        func finish(_ outcome: String, _ result: BatchResult?) {
            let elapsed = ContinuousClock.now - start
            Counter(label: "switchboard_batches_total", dimensions: [("kind", kind.rawValue), ("outcome", outcome)]).increment()
            Timer(label: "switchboard_batch_duration_seconds", dimensions: [("kind", kind.rawValue)],
                  preferredDisplayUnit: .seconds).recordInterval(elapsed)
            if let result, !result.dryRun, result.moved > 0 {
                Counter(label: "switchboard_batch_rows_moved_total", dimensions: [("kind", kind.rawValue)])
                    .increment(by: result.moved)
            }
            var metadata: Logger.Metadata = [
                "kind": "\(kind.rawValue)", "outcome": "\(outcome)",
                "duration_ms": "\(Int((Double(elapsed.components.attoseconds) / 1e15).rounded()) + Int(elapsed.components.seconds) * 1000)",
            ]
            if let campaignID { metadata["campaign"] = "\(campaignID)" }
            if let actor { metadata["actor"] = "\(actor)" }
            if let id = RequestTag.id { metadata["request_id"] = "\(id)" }
            if let result {
                metadata["matched"] = "\(result.matched)"
                metadata["moved"] = "\(result.moved)"
                if let batch = result.batchID { metadata["batch"] = "\(batch)" }
            }
            logger.log(level: outcome == "ok" ? .info : .debug, "batch", metadata: metadata)
        }
        do {
            let value = try await body()
            let result = value.batchResult
            finish(result.dryRun ? "dry_run" : result.batchID == nil ? "nothing" : "ok", result)
            return value
        } catch let error as SwitchboardError where error.kind != .unavailable {
            finish(error.code, nil)
            throw error
        } catch {
            finish("failed", nil)
            throw error
        }
    }

    static func selfAssignQueue(depth: Int) {
        Gauge(label: "switchboard_self_assign_queue_depth").record(depth)
    }

    static func selfAssignWait(_ duration: Duration) {
        Timer(label: "switchboard_self_assign_wait_seconds", preferredDisplayUnit: .seconds).recordInterval(duration)
    }

    static func connectionLeased(after wait: Duration) {
        Timer(label: "switchboard_db_connection_wait_seconds", preferredDisplayUnit: .seconds).recordInterval(wait)
    }

    /// Created on each use: a handle made before the process bootstrapped its backend would stay a no-op.
    static var inUse: Meter { Meter(label: "switchboard_db_connections_in_use") }

    /// A request gave up waiting for a connection, or on its work, and answered 503.
    static func gaveUp() {
        Counter(label: "switchboard_db_gave_up_total").increment()
    }
}

extension Timer {
    func recordInterval(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
