import Foundation

extension EventLog {
    /// Checks the framing and checksum of every batch in the sealed
    /// segments, which an open trusts to their index and does not read:
    /// each batch's header, its CRC32C, that its base position follows the
    /// previous batch's, and that the batches end where the segment does.
    /// Neither decompresses nor hashes (`LogVerifier` does both).
    ///
    /// - Returns: the first damage, as a `.corruption` error with the file
    ///   and byte offset, and the last good position before it (nil when
    ///   the damage is at the first event); nil when every sealed batch is
    ///   sound.
    /// - Throws: `ChronikLogError` — `.io` when a read fails, `.closed`.
    /// - Complexity: O(bytes of the sealed segments), read once.
    public func checkSealedSegments() throws -> (damage: ChronikLogError, lastGoodPosition: Position?)? {
        if isClosed { throw ChronikLogError(.closed, "log is closed", path: directory) }
        let segments = state.withLock { $0.segments }
        for segment in segments.dropLast() {
            let table = segment.snapshot
            var scanner = BatchScanner(file: segment.file, path: segment.path,
                                       start: Int64(LogFormat.segmentHeaderSize), end: table.committedBytes)
            var expected = segment.base
            while true {
                let step = try scanner.next { header, _, offset -> ChronikLogError? in
                    guard header.basePosition == expected else {
                        return ChronikLogError.corrupt("damaged batch in a sealed segment: base position \(header.basePosition), expected \(expected)",
                                                       path: segment.path, offset: offset)
                    }
                    expected += UInt64(header.count)
                    return nil
                }
                switch step {
                case .success(let damage?):
                    return (damage, lastGood(before: expected))
                case .success(nil):
                    continue
                case .failure(.end):
                    guard expected == segment.endPosition else {
                        return (ChronikLogError.corrupt("sealed segment holds \(expected - segment.base) events, its index \(table.eventCount)",
                                                        path: segment.path, offset: table.committedBytes), lastGood(before: expected))
                    }
                case .failure(let step):
                    let (offset, reason) = step.location
                    return (ChronikLogError.corrupt("damaged batch in a sealed segment: \(reason)", path: segment.path, offset: offset),
                            lastGood(before: expected))
                }
                break
            }
        }
        return nil
    }

    private func lastGood(before position: UInt64) -> Position? { position == 0 ? nil : Position(position - 1) }
}
