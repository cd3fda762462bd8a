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
        .executable(name: "chronik", targets: ["chronik"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
    ],
    targets: [
        // liblz4 from the system (apt: liblz4-dev); the shim header only includes <lz4.h>.
        .systemLibrary(
            name: "CLZ4",
            pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"])]
        ),
        // CRC32C with the SSE4.2 instruction (software fallback), and nothing else.
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
                "ChronikLog",
                "ChronikCommerce",
                "ChronikProjections",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "chronik",
            dependencies: [
                "ChronikLog",
                "ChronikCommerce",
                "ChronikProjections",
                "ChronikAudit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
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
                "ChronikLog",
                "ChronikCrashChild",
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ChronikCommerceTests",
            dependencies: ["ChronikCommerce"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ChronikProjectionsTests",
            dependencies: ["ChronikProjections", "ChronikCommerce", "ChronikLog"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ChronikAuditTests",
            dependencies: ["ChronikAudit", "ChronikProjections", "ChronikCommerce", "ChronikLog"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ChronikCLITests",
            dependencies: [
                "ChronikLog",
                "chronik",
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            swiftSettings: strict
        ),
    ]
)
