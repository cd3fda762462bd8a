// swift-tools-version: 6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
]

let package = Package(
    name: "Chronik",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "ChronikLog", targets: ["ChronikLog"]),
        .library(name: "ChronikCommerce", targets: ["ChronikCommerce"]),
        .library(name: "ChronikProjections", targets: ["ChronikProjections"]),
        .library(name: "ChronikAudit", targets: ["ChronikAudit"]),
        .library(name: "ChronikServer", targets: ["ChronikServer"]),
        .library(name: "ChronikPostgres", targets: ["ChronikPostgres"]),
        .executable(name: "chronik", targets: ["chronik"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // liblz4 from the system (apt: liblz4-dev); the shim header only includes <lz4.h>.
        .systemLibrary(
            name: "CLZ4",
            pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"])]
        ),
        // Small C helpers: CRC32C (SSE4.2), prefetch, thread nice and names, getrandom, malloc settings, statx without times.
        .target(name: "CChronikSupport"),
        .target(
            name: "ChronikLog",
            dependencies: [
                "CLZ4",
                "CChronikSupport",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "ChronikCommerce",
            dependencies: ["ChronikLog"],
            swiftSettings: strict
        ),
        .target(
            name: "ChronikProjections",
            dependencies: ["ChronikLog", "ChronikCommerce", "CChronikSupport"],
            swiftSettings: strict
        ),
        .target(
            name: "ChronikAudit",
            dependencies: [
                "CChronikSupport",
                "ChronikLog",
                "ChronikCommerce",
                "ChronikProjections",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // The same log on replicated PostgreSQL (docs/POSTGRES.md).
        .target(
            name: "ChronikPostgres",
            dependencies: [
                "ChronikLog",
                "ChronikAudit",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                "CChronikSupport",
            ],
            swiftSettings: strict
        ),
        // `chronik serve`: owns the store and maps HTTP routes onto library calls.
        .target(
            name: "ChronikServer",
            dependencies: [
                "CChronikSupport",
                "ChronikLog",
                "ChronikCommerce",
                "ChronikProjections",
                "ChronikAudit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "chronik",
            dependencies: [
                "CChronikSupport",
                "ChronikLog",
                "ChronikCommerce",
                "ChronikProjections",
                "ChronikAudit",
                "ChronikServer",
                "ChronikPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strict
        ),
        // A child process for the kill -9 crash test: appends durably and
        // prints every acknowledgement; the test kills it at random moments.
        .executableTarget(
            name: "ChronikCrashChild",
            dependencies: ["ChronikLog"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ChronikLogTests",
            dependencies: [
                "ChronikTestSupport",
                "ChronikLog",
                "ChronikCrashChild",
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ChronikCommerceTests",
            dependencies: ["ChronikTestSupport", "ChronikCommerce"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ChronikProjectionsTests",
            dependencies: ["ChronikTestSupport", "ChronikProjections", "ChronikCommerce", "ChronikLog"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ChronikAuditTests",
            dependencies: ["ChronikTestSupport", "ChronikAudit", "ChronikProjections", "ChronikCommerce", "ChronikLog"],
            swiftSettings: strict
        ),
        // What the test targets share: the seeded generator; loopback sockets
        // and plain HTTP for the tests that drive real processes.
        .target(name: "ChronikTestSupport", path: "Tests/ChronikTestSupport", swiftSettings: strict),
        .testTarget(
            name: "ChronikServerTests",
            dependencies: [
                "CChronikSupport",
                "ChronikTestSupport",
                "ChronikServer",
                "ChronikLog",
                "ChronikCommerce",
                "ChronikProjections",
                "ChronikAudit",
                "chronik",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strict
        ),
        // A child process for the multi-process PostgreSQL tests: appends
        // concurrently and prints every acknowledgement.
        .executableTarget(
            name: "ChronikPostgresChild",
            dependencies: ["ChronikLog", "ChronikPostgres"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ChronikPostgresTests",
            dependencies: [
                "ChronikTestSupport",
                "ChronikPostgres",
                "ChronikCommerce",
                "ChronikProjections",
                "ChronikPostgresChild",
                "ChronikLog",
                "ChronikAudit",
                "chronik",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ChronikCLITests",
            dependencies: [
                "ChronikTestSupport",
                "ChronikLog",
                "chronik",
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            swiftSettings: strict
        ),
    ]
)
