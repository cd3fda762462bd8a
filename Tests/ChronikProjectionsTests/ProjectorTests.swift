import Testing
import ChronikLog
import ChronikCommerce
@testable import ChronikProjections

@Suite struct ProjectionErrorTests {
    @Test func errorNamesPositionAndType() {
        let e = ProjectionError(.invalidEvent, "cannot fold", position: Position(42), eventType: "OrderPlaced")
        #expect(e.description == "cannot fold (at position 42, OrderPlaced)")
    }
}

@Suite struct SnapshotCodingTests {
    @Test func roundTripsEveryKind() throws {
        var w = SnapshotWriter()
        w.uint(300)
        w.int(Int64(-5))
        w.int(Int64.min)
        w.bool(true)
        w.string("Grüße")
        w.optionalString(nil)
        w.timestamp(Timestamp(microseconds: 1_700_000_000_123_456))
        w.dictionary(["b": 2, "a": 1], key: { $0.string($1) }, value: { $0.int($1) })
        var r = SnapshotReader(w.bytes)
        #expect(try r.uint() == 300)
        #expect(try r.int64() == -5)
        #expect(try r.int64() == Int64.min)
        #expect(try r.bool())
        #expect(try r.string() == "Grüße")
        #expect(try r.optionalString() == nil)
        #expect(try r.timestamp().microseconds == 1_700_000_000_123_456)
        let d: [String: Int] = try r.dictionary(key: { (r: inout SnapshotReader) throws(ProjectionError) in try r.string() },
                                                value: { (r: inout SnapshotReader) throws(ProjectionError) in try r.int() })
        #expect(d == ["a": 1, "b": 2])
        #expect(r.isAtEnd)
    }

    @Test func dictionaryBytesDoNotDependOnInsertionOrder() {
        var a: [String: Int] = [:]
        var b: [String: Int] = [:]
        for i in 0..<100 { a["k\(i)"] = i }
        for i in (0..<100).reversed() { b["k\(i)"] = i }
        var wa = SnapshotWriter(), wb = SnapshotWriter()
        wa.dictionary(a, key: { $0.string($1) }, value: { $0.int($1) })
        wb.dictionary(b, key: { $0.string($1) }, value: { $0.int($1) })
        #expect(wa.bytes == wb.bytes)
    }

    @Test func truncatedInputThrowsInsteadOfTrapping() {
        var w = SnapshotWriter()
        w.string("a longer string")
        for cut in 0..<w.bytes.count {
            var r = SnapshotReader(Array(w.bytes[..<cut]))
            #expect(throws: ProjectionError.self) { _ = try r.string() }
        }
    }
}
