extension EventLog {
    /// The position of the event with `id`, or nil when the log holds no
    /// such event.
    ///
    /// Lets a caller tell, before appending, which events an append would
    /// treat as an idempotent retry. For a read-only opener the answer is as
    /// of the last `refresh()`.
    public func position(ofEventID id: EventID) -> Position? {
        waitUntilIndexed()
        return state.withLock { $0.visiblePosition(of: id).map(Position.init) }
    }
}

extension ProposedEvent {
    /// Bytes the event occupies encoded (type, id, time, metadata, data):
    /// the size that `LogOptions.maxEventBytes` limits.
    public var encodedByteCount: Int { encodedSize }
}
