@_spi(Benchmarks) import ChronikLog

/// A fresh log in its own scratch directory plus the generator that feeds
/// it; made in a benchmark's setup, removed in its teardown.
public final class LogFixture: @unchecked Sendable {
    // Benchmark iterations run one after another, so the generator is
    // never touched by two tasks at once.
    public let scratch: ScratchDirectory
    public let log: EventLog
    public var generator: CommerceEventGenerator

    /// `pipelinedWrites: true` lets the writer stage the next group commit
    /// while one syncs (stop 17, off by default), for paired figures.
    public init(_ name: String, durability: Durability, seed: UInt64, pipelinedWrites: Bool = false) throws {
        scratch = ScratchDirectory(name)
        var options = LogOptions()
        options.durability = durability
        options.pipelinedWrites = pipelinedWrites
        log = try EventLog.open(at: scratch.path + "/log", options: options)
        generator = CommerceEventGenerator(seed: seed)
    }

    public func tearDown() {
        try? log.close()
        scratch.remove()
    }
}

/// Holds what a benchmark's setup made until its teardown, since the
/// package's teardown closure gets no setup result.
public final class SetupBox<Value>: @unchecked Sendable {
    // Written in setup and teardown, read in iterations: never concurrently.
    public var value: Value?
    public init() {}
    public var unwrapped: Value {
        guard let value else { preconditionFailure("benchmark ran without its setup") }
        return value
    }
}
