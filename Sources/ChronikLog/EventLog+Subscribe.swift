/// Events from a position on: first those already in the log, then each
/// new one as it is committed, with no gap and no duplicate, in position
/// order. Ends (nil) when the task is cancelled; throws
/// `ChronikLogError(.closed)` once the log is closed, so that a consumer
/// can tell a closed log from the end of its work.
///
/// Positions are published in commit order and only after the batch is
/// durable, so a subscriber never sees position n+1 before n.
public struct EventSubscription: AsyncSequence, Sendable {
    public typealias Element = RecordedEvent
    let log: EventLog
    let start: UInt64
    /// How often a read-only opener looks for another process's appends.
    let pollInterval: Duration

    public func makeAsyncIterator() -> Iterator {
        Iterator(log: log, next: start, pollInterval: pollInterval)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let log: EventLog
        var next: UInt64
        let pollInterval: Duration
        var buffer: [RecordedEvent] = []
        var index = 0

        public mutating func next() async throws -> RecordedEvent? {
            while true {
                if log.isClosed { throw log.closedError }
                if index < buffer.count {
                    let e = buffer[index]
                    index += 1
                    next = e.position.value + 1
                    return e
                }
                if Task.isCancelled { return nil }
                if log.isReadOnly { try log.refresh() }
                // Catch up: up to 4096 events per disk read.
                buffer = try log.readAll(from: Position(next)).collect(limit: 4096)
                index = 0
                if !buffer.isEmpty { continue }
                if log.isClosed { throw log.closedError }
                if log.isReadOnly {
                    try? await Task.sleep(for: pollInterval)
                } else {
                    await log.waitForHead(beyond: next)
                }
            }
        }
    }
}

extension EventLog {
    /// Subscribes from `position` (default: the start of the log).
    public func subscribe(from position: Position = .start, pollInterval: Duration = .milliseconds(50)) -> EventSubscription {
        EventSubscription(log: self, start: position.value, pollInterval: pollInterval)
    }
}
