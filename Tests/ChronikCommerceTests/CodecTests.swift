import ChronikTestSupport
import Testing
@testable import ChronikCommerce

@Suite struct CodecTests {
    @Test func everyTypeOfTheSpecHasASample() {
        // Proves the fixtures (and so the round-trip tests) cover all 40 types.
        #expect(Set(sampleData.map(\.type)) == Set(CommerceEventType.allCases.map(\.rawValue)))
        #expect(CommerceEventType.allCases.count == 40)
    }

    @Test func sampleOfEveryTypeRoundTripsThroughBinary() throws {
        // Proves encode → decode gives back the same value for each type's hand-written sample.
        for (type, data) in sampleData {
            let env = try parse(importLine(type, data))
            guard case let bytes = env.event.encodedData(), bytes.first == 1 else {
                Issue.record("\(type): no version byte"); continue
            }
            let decoded = try CommerceEvent.decode(type: type, data: bytes)
            #expect(decoded == env.event, "\(type)")
            #expect(decoded.type == type)
        }
    }

    @Test func randomInstancesOfEveryTypeRoundTripThroughBinaryAndJSON() throws {
        // Proves, for 200 random valid instances per type, binary and JSON round trips are exact and the instances validate.
        let seed = UInt64.random(in: 0...UInt64.max)
        print("RandomFill seed \(seed)")
        var fill = RandomFill(rng: SplitMix64(seed: seed))
        typeLoop: for t in CommerceEventType.allCases {
            for i in 0..<200 {
                let event = try fill.make(t.payloadType)
                let bytes = event.encodedData()
                let back = try CommerceEvent.decode(type: t.rawValue, data: bytes)
                #expect(back == event, "seed \(seed) type \(t) #\(i)")
                // Encoding is canonical: the decoded value encodes to the same bytes.
                #expect(back.encodedData() == bytes, "seed \(seed) type \(t) #\(i)")
                var w = JSONWriter()
                event.writeJSON(to: &w)
                guard case .object(let members) = try JSONValue.parse(w.bytes) else {
                    Issue.record("not an object"); continue typeLoop
                }
                let fromJSON = try CommerceEvent.decode(t, json: members)
                #expect(fromJSON == event, "seed \(seed) type \(t) #\(i): \(String(decoding: w.bytes, as: UTF8.self))")
                do { try event.validate() } catch {
                    Issue.record("seed \(seed) type \(t) #\(i): \(error)")
                    continue typeLoop
                }
            }
        }
    }

    @Test func borrowedBytesDecodeLikeArraysAndStayInBounds() throws {
        // Proves decode(bytes:) — the replay path — gives the array path's value for every sample, reads only
        // its slice of a larger buffer (guard bytes around it), rejects every truncation, and copies unknown data.
        for (type, data) in sampleData {
            let bytes = try parse(importLine(type, data)).event.encodedData()
            let framed: [UInt8] = [0xFF, 0x01, 0x7B] + bytes + [0x00, 0xFF, 0x80]
            let viaArray = try CommerceEvent.decode(type: type, data: bytes)
            try framed.withUnsafeBytes { (all) throws in
                let slice = UnsafeRawBufferPointer(rebasing: all[3..<(3 + bytes.count)])
                #expect(try CommerceEvent.decode(type: type, bytes: slice) == viaArray, "\(type)")
                for n in 1..<bytes.count {
                    let cut = UnsafeRawBufferPointer(rebasing: all[3..<(3 + n)])
                    let e = expectError { () throws(CommerceError) in _ = try CommerceEvent.decode(type: type, bytes: cut) }
                    #expect(e?.code == .invalidData, "\(type) prefix \(n)")
                }
            }
        }
        let unknownData: [UInt8] = Array(#"{"x":1}"#.utf8)
        let unknown = try unknownData.withUnsafeBytes { try CommerceEvent.decode(type: "LoyaltyPointsEarned", bytes: $0) }
        #expect(unknown == .unknown(type: "LoyaltyPointsEarned", data: unknownData))
    }

    @Test func truncatedDataIsRejectedAtEveryLength() throws {
        // Proves every proper prefix of stored data fails with invalidData instead of trapping or decoding.
        let env = try parse(importLine("OrderPlaced", sampleData.first { $0.type == "OrderPlaced" }!.data))
        let bytes = env.proposed.data
        for n in 1..<bytes.count {
            let e = expectError { () throws(CommerceError) in _ = try CommerceEvent.decode(type: "OrderPlaced", data: Array(bytes[..<n])) }
            #expect(e?.code == .invalidData, "prefix \(n)")
        }
        let extra = expectError { () throws(CommerceError) in _ = try CommerceEvent.decode(type: "OrderPlaced", data: bytes + [0]) }
        #expect(extra?.code == .invalidData)
        let empty = expectError { () throws(CommerceError) in _ = try CommerceEvent.decode(type: "OrderPlaced", data: []) }
        #expect(empty?.code == .invalidData)
    }

    @Test func forgedBytesAreRejected() {
        // Proves bad booleans, enum ordinals, UTF-8 and newer schema versions are typed errors.
        // ConsentChanged: version 1, customerId "c", marketingConsent byte.
        let badBool: [UInt8] = [1, 1, UInt8(ascii: "c"), 2]
        #expect(expectError { () throws(CommerceError) in _ = try CommerceEvent.decode(type: "ConsentChanged", data: badBool) }?.code == .invalidData)
        // SupportInteraction: customerId "c", orderId absent, channel ordinal 3 (only 0...2).
        let badEnum: [UInt8] = [1, 1, UInt8(ascii: "c"), 0, 3, 0]
        #expect(expectError { () throws(CommerceError) in _ = try CommerceEvent.decode(type: "SupportInteraction", data: badEnum) }?.code == .invalidData)
        let badUTF8: [UInt8] = [1, 1, 0xFF]
        #expect(expectError { () throws(CommerceError) in _ = try CommerceEvent.decode(type: "ProductDiscontinued", data: badUTF8) }?.code == .invalidData)
        let newer: [UInt8] = [2, 1, UInt8(ascii: "p")]
        #expect(expectError { () throws(CommerceError) in _ = try CommerceEvent.decode(type: "ProductDiscontinued", data: newer) }?.code == .unsupportedSchemaVersion)
        let hugeCount: [UInt8] = [1, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]
        #expect(expectError { () throws(CommerceError) in _ = try CommerceEvent.decode(type: "ProductDiscontinued", data: hugeCount) }?.code == .invalidData)
    }

    @Test func varintAndZigzagEdges() throws {
        // Proves the integer primitives round-trip at their edges and reject an 11-byte varint.
        let values: [Int64] = [0, 1, -1, 63, -64, 64, 127, 128, -129, 1 << 40, .max, .min]
        var w = BinaryWriter()
        for v in values { w.int(v) }
        w.varint(.max)
        let bytes = w.bytes
        try bytes.withUnsafeBufferPointer { (buf) throws(CommerceError) in
            var r = BinaryReader(buf)
            for v in values { #expect(try r.int() == v) }
            #expect(try r.varint() == .max)
            try r.finish()
        }
        let tooLong = [UInt8](repeating: 0x80, count: 10) + [1]
        let e = expectError { () throws(CommerceError) in
            try tooLong.withUnsafeBufferPointer { (buf) throws(CommerceError) in
                var r = BinaryReader(buf)
                _ = try r.varint()
            }
        }
        #expect(e?.code == .invalidData)
        // Small values stay small: -1 and 63 take one byte each.
        var s = BinaryWriter()
        s.int(-1); s.int(63)
        #expect(s.bytes.count == 2)
    }

    @Test func stringsOfEveryShortLengthRoundTripAndBadUTF8IsRefused() throws {
        // Proves strings read back as written on both sides of the 15-byte
        // small-string limit (ASCII, which the reader builds in place, and
        // not), and that bytes that are not UTF-8 are refused at any length.
        var written: [String] = []
        for n in 0...40 {
            written.append(String((0..<n).map { Character(Unicode.Scalar(UInt8(33 + ($0 * 11 + n) % 94))) }))
            if n >= 2 { written.append(String(repeating: "a", count: n - 2) + "é") }  // é is 2 bytes
        }
        var w = BinaryWriter()
        for s in written { w.string(s) }
        try w.bytes.withUnsafeBufferPointer { (buf) throws(CommerceError) in
            var r = BinaryReader(buf)
            for s in written {
                let read = try r.string()
                #expect(read == s)
                #expect(Array(read.utf8) == Array(s.utf8), "\(s.utf8.count) bytes")
            }
            try r.finish()
        }
        for bad: [UInt8] in [[0xFF], Array("abc".utf8) + [0xC3], Array("fourteen bytes".utf8) + [0x80],
                             Array("sixteen bytes ok".utf8) + [0xED, 0xA0, 0x80]] {
            let e = expectError { () throws(CommerceError) in
                try ([UInt8(bad.count)] + bad).withUnsafeBufferPointer { (buf) throws(CommerceError) in
                    var r = BinaryReader(buf)
                    _ = try r.string()
                }
            }
            #expect(e?.code == .invalidData, "\(bad)")
        }
    }

    @Test func mapsEncodeCanonically() {
        // Proves equal maps give equal bytes whatever their insertion order (idempotent appends compare bytes).
        var a: [String: String] = [:]
        var b: [String: String] = [:]
        for i in 0..<50 { a["k\(i)"] = "v\(i)" }
        for i in (0..<50).reversed() { b["k\(i)"] = "v\(i)" }
        let pa = ProductCreated(productId: "p", title: "t", category: "c", attributes: a)
        let pb = ProductCreated(productId: "p", title: "t", category: "c", attributes: b)
        #expect(EventCodec.encode(pa) == EventCodec.encode(pb))
        #expect(EventCodec.json(pa) == EventCodec.json(pb))
    }

    @Test func storedJSONOfAKnownTypeDecodes() throws {
        // Proves data stored as JSON (a type recorded before this code knew it) decodes through the JSON path.
        let json = Array(#"{"sessionId":"s-1","path":"/"}"#.utf8)
        #expect(try CommerceEvent.decode(type: "PageViewed", data: json) == .pageViewed(PageViewed(sessionId: "s-1", path: "/")))
    }

    @Test func typicalEventSizes() throws {
        // Proves the documented byte costs in docs/EVENTS-CODEC.md.
        let sizes = try Dictionary(uniqueKeysWithValues: sampleData.map { s in
            (s.type, try parse(importLine(s.type, s.data)).proposed.data.count)
        })
        #expect(sizes["PageViewed"] == 30)
        #expect(sizes["StockReserved"] == 30)
        #expect(sizes["OrderPlaced"] == 125)
        #expect(sizes["PaymentCaptured"] == 16)
    }
}
