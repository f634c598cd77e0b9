// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "switchboard",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "switchboard", targets: ["switchboard"]),
        .library(name: "SwitchboardCore", targets: ["SwitchboardCore"]),
        .library(name: "SwitchboardServer", targets: ["SwitchboardServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        /// The schema: plain `.sql` files in the top-level `sql/` (migrations, and one file per function), carried by
        /// the binary as resources.
        .target(
            name: "SwitchboardSchema",
            path: "sql",
            sources: ["Schema.swift"],
            resources: [.copy("migrations"), .copy("functions")]
        ),
        /// Domain and Postgres: every operation, written once.
        .target(
            name: "SwitchboardCore",
            dependencies: [
                "SwitchboardSchema",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        /// The embedded local PostgreSQL cluster (`initdb`, `pg_ctl` and the programs they start): for the CLI's
        /// `db` commands and its default database, the benchmark and the tests; the server library never starts one.
        .target(
            name: "SwitchboardLocalCluster",
            dependencies: [
                "SwitchboardCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        /// The HTTP API over Core.
        .target(
            name: "SwitchboardServer",
            dependencies: [
                "SwitchboardCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            resources: [.copy("openapi.yaml"), .copy("Console/Templates"), .copy("Console/Static")]
        ),
        /// `switchboard bench`: synthetic campaigns, the floor and the peer, timed. Kept out of Core, whose
        /// `package` declarations it uses.
        .target(
            name: "SwitchboardBench",
            dependencies: [
                "SwitchboardCore",
                "SwitchboardServer",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        /// The `switchboard` commands, thin over Core and Server.
        .target(
            name: "SwitchboardCLI",
            dependencies: [
                "SwitchboardCore",
                "SwitchboardLocalCluster",
                "SwitchboardServer",
                "SwitchboardBench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .executableTarget(name: "switchboard", dependencies: ["SwitchboardCLI"]),
        /// What the tests share: a throwaway PostgreSQL cluster and a database per test, fixtures, the router and
        /// live-server harnesses, the built binary, and a headless Chromium.
        .target(
            name: "SwitchboardTestSupport",
            dependencies: [
                "SwitchboardCore",
                "SwitchboardLocalCluster",
                "SwitchboardServer",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Yams", package: "Yams"),
            ],
            path: "Tests/SwitchboardTestSupport"
        ),
        /// The tests in three tiers by cost (`scripts/test` runs them in this order):
        /// Core with PostgreSQL; HTTP in-process (the router, no sockets); end to end (browser, processes, faults).
        .testTarget(
            name: "CoreTests",
            dependencies: ["SwitchboardCore", "SwitchboardServer", "SwitchboardCLI", "SwitchboardLocalCluster",
                           "SwitchboardTestSupport"]
        ),
        .testTarget(
            name: "HTTPTests",
            dependencies: [
                "SwitchboardCore", "SwitchboardServer", "SwitchboardCLI", "SwitchboardLocalCluster",
                "SwitchboardTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "SwitchboardCore", "SwitchboardServer", "SwitchboardCLI", "SwitchboardLocalCluster",
                "SwitchboardTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
    ]
)
