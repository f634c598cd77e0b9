import Logging
import ServiceLifecycle
import SwitchboardCore

/// Releases stale replies on a timer inside `serve` (issue 19): every `every`, each campaign with
/// `release_stale_after` set gets one `release_stale` batch. Several servers may run it against one database;
/// `RoutingService.releaseStale` holds an advisory lock per campaign, so a conversation is never released twice.
/// A failed run (the database away) is logged and tried again at the next tick.
public struct StaleReleaser: Service {
    let database: Database
    let every: Duration
    let logger: Logger

    public init(database: Database, every: Duration, logger: Logger) {
        self.database = database
        self.every = every
        self.logger = logger
    }

    /// Ends without an error when the server stops (a SIGTERM is a clean stop, not a failure).
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: every)
                } catch {
                    return
                }
                do {
                    for result in try await RoutingService(database).releaseStale() where result.moved > 0 {
                        logger.info("released stale replies", metadata: [
                            "campaign_id": "\(result.campaignID)", "moved": "\(result.moved)",
                            "batch_id": "\(result.batchID.map(String.init) ?? "-")",
                        ])
                    }
                } catch is CancellationError {
                    return
                } catch {
                    logger.warning("releasing stale replies failed; trying again at the next tick: \(error)")
                }
            }
        }
    }
}
