// swift-tools-version: 6.1
// Chronik's benchmarks, on ordo-one/package-benchmark. A package of its own
// so that the main package's `swift build` / `swift test` never resolve or
// build the benchmark dependency. Run from this directory:
//   swift package --allow-writing-to-package-directory benchmark
// (README.md has the details.)
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

/// A benchmark executable: Benchmarks/<name>/<name>.swift, found and run
/// by the benchmark plugin.
func benchmarkTarget(_ name: String, extra: [Target.Dependency] = []) -> Target {
    .executableTarget(
        name: name,
        dependencies: [
            "ChronikBenchSupport",
            .product(name: "ChronikLog", package: "Chronik"),
            .product(name: "Benchmark", package: "benchmark"),
        ] + extra,
        path: "Benchmarks/\(name)",
        swiftSettings: strict,
        plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    )
}

let package = Package(
    name: "ChronikBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Chronik", path: ".."),
        // Naming the MallocInterposer trait keeps malloc counting
        // (mallocCountTotal) and, by replacing the default traits, leaves out
        // the RuntimeInterposer trait and its swift-runtime-interposer
        // dependency (Linux, Swift 6.3), which is not available here.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        // The SQLite peer of issue 13's table (SQLiteBenchmarks only; needs
        // libsqlite3-dev).
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // The HTTP stack's floor (HTTPFloor): a bare Hummingbird application.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    ],
    targets: [
        // Event generator, raw-disk baselines, scratch and cached logs.
        .target(
            name: "ChronikBenchSupport",
            dependencies: [.product(name: "ChronikLog", package: "Chronik")],
            swiftSettings: strict
        ),
        benchmarkTarget("AppendBenchmarks"),
        // The library's 64-appender figure beside the HTTP one
        // (scripts/http-bench.py): a plain executable, no benchmark plugin.
        .executableTarget(
            name: "ChronikAppendBaseline",
            dependencies: [.product(name: "ChronikLog", package: "Chronik")],
            swiftSettings: strict
        ),
        // A bare Hummingbird server (no middleware, no log) beside
        // `chronik serve` in scripts/http-bench.py: the HTTP stack's floor.
        .executableTarget(
            name: "HTTPFloor",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")],
            swiftSettings: strict
        ),
        benchmarkTarget("ReadBenchmarks"),
        benchmarkTarget("ReopenBenchmarks"),
        benchmarkTarget("VerifyBenchmarks"),
        // ChronikCommerce (typed decode, JSON Lines import, parse): the only
        // target that depends on it.
        benchmarkTarget("CommerceBenchmarks", extra: [.product(name: "ChronikCommerce", package: "Chronik"),
                                                      .product(name: "ChronikAudit", package: "Chronik")]),
        // ChronikProjections: full rebuild, snapshot + tail, model memory.
        benchmarkTarget("ReplayBenchmarks", extra: [
            .product(name: "ChronikCommerce", package: "Chronik"),
            .product(name: "ChronikProjections", package: "Chronik"),
        ]),
        // The same work in SQLite (GRDB, WAL, synchronous=FULL), for the
        // table of issue 13: the only target that depends on GRDB.
        benchmarkTarget("SQLiteBenchmarks", extra: [.product(name: "GRDB", package: "GRDB.swift")]),
    ]
)
