import ArgumentParser
import Foundation
import Hummingbird
import Logging
import SwitchboardCore
import SwitchboardServer

/// `switchboard serve`: the HTTP API.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the HTTP API.")
    @OptionGroup var options: GlobalOptions

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port = 8080

    @Flag(help: "Load a demo organization and campaign (once) and print tokens for it.")
    var demo = false

    func run() async throws {
        let (url, _) = try options.resolveURL()
        var logger = Logger(label: "switchboard")
        logger.logLevel = .info
        let host = host
        let port = port
        let app = buildApplication(url: url, settings: ServerSettings(host: host, port: port, demo: demo),
                                   logger: logger) { loaded in
            let banner = """
                Demo loaded: organization \(loaded.orgID), campaign \(loaded.campaignID).
                  organizer token (ada):  \(loaded.organizerToken)
                  texter token (kevin):   \(loaded.texterToken)
                Try: curl -H 'Authorization: Bearer \(loaded.organizerToken)' http://\(host):\(port)/v1/campaigns/\(loaded.campaignID)/senders

                """
            FileHandle.standardOutput.write(Data(banner.utf8))
        }
        try await app.runService()
    }
}
