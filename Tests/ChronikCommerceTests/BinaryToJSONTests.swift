import ChronikTestSupport
import Testing
@testable import ChronikCommerce

/// Proves the stored-bytes-to-JSON path (`transcodeJSON`, used by read
/// --json, export and the server) writes exactly what decoding and then
/// `writeJSON` write, for random instances of every type (escapes,
/// non-ASCII, absent optionals, maps, nested objects and arrays), and
/// that it declines — writing nothing — whatever the decoder must judge:
/// truncated or trailing bytes, another schema version, sealed personal
/// data, JSON-stored data, a map out of key order, an ordinal out of range.
@Suite struct BinaryToJSONTests {
    static func viaDecode(_ type: CommerceEventType, _ bytes: [UInt8]) throws -> [UInt8] {
        var w = JSONWriter()
        try CommerceEvent.decode(type, data: bytes).writeJSON(to: &w)
        return w.bytes
    }

    static func transcoded(_ type: CommerceEventType, _ bytes: [UInt8], after prefix: [UInt8] = []) -> [UInt8]? {
        var w = JSONWriter()
        w.bytes = prefix
        let done = bytes.withUnsafeBytes { type.transcodeJSON($0, to: &w) }
        if !done {
            #expect(w.bytes == prefix, "\(type): a declined transcoding left bytes behind")
            return nil
        }
        #expect(Array(w.bytes.prefix(prefix.count)) == prefix)
        return Array(w.bytes.dropFirst(prefix.count))
    }

    @Test func randomInstancesOfEveryTypeTranscodeToTheDecodedJSON() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("RandomFill seed \(seed)")
        var fill = RandomFill(rng: SplitMix64(seed: seed))
        for t in CommerceEventType.allCases {
            for i in 0..<200 {
                let bytes = try fill.make(t.payloadType).encodedData()
                let expected = try Self.viaDecode(t, bytes)
                let got = Self.transcoded(t, bytes, after: Array("{\"data\":".utf8))
                #expect(got == expected, "seed \(seed) type \(t) #\(i): \(String(decoding: got ?? [], as: UTF8.self)) vs \(String(decoding: expected, as: UTF8.self))")
            }
        }
    }

    @Test func theSamplesTranscodeAndEveryTruncationIsDeclined() throws {
        for (type, data) in sampleData {
            let t = try #require(CommerceEventType(name: type))
            let bytes = try parse(importLine(type, data)).event.encodedData()
            #expect(Self.transcoded(t, bytes) == (try Self.viaDecode(t, bytes)), "\(type)")
            for n in 0..<bytes.count {
                #expect(Self.transcoded(t, Array(bytes[..<n])) == nil, "\(type) cut at \(n)")
            }
            #expect(Self.transcoded(t, bytes + [0]) == nil, "\(type) with a trailing byte")
            // Another schema version (an upcaster's business) and the sealed flag.
            var other = bytes
            other[0] = 2
            #expect(Self.transcoded(t, other) == nil)
            other[0] = bytes[0] | 0x80
            #expect(Self.transcoded(t, other) == nil)
        }
    }

    @Test func jsonStoredDataIsLeftToTheDecoder() {
        let json = Array(#"{"sku":"S-1","qty":2}"#.utf8)
        #expect(Self.transcoded(.stockReceived, json) == nil)
    }

    /// Every byte of random instances changed three ways: whatever the
    /// decoder refuses (an ordinal out of range, bad UTF-8, a count past
    /// the end…) the transcoder declines, and whatever it writes is what
    /// the decoder's value writes. It may decline data that decodes (a map
    /// stored out of key order, which the decoder sorts): the decoder then
    /// writes the line.
    @Test func changedBytesAreTranscodedOnlyAsTheDecoderReadsThem() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("RandomFill seed \(seed)")
        var fill = RandomFill(rng: SplitMix64(seed: seed))
        var refused = 0, declinedButDecodes = 0
        for t in CommerceEventType.allCases {
            for _ in 0..<10 {
                let bytes = try fill.make(t.payloadType).encodedData()
                for at in 1..<bytes.count {
                    for change in [{ (b: UInt8) in b ^ 0x01 }, { _ in 0xFF }, { _ in 0x00 }] {
                        var bad = bytes
                        bad[at] = change(bad[at])
                        let decoded = try? Self.viaDecode(t, bad)
                        let got = Self.transcoded(t, bad)
                        if decoded == nil {
                            refused += 1
                            #expect(got == nil, "seed \(seed) \(t) byte \(at): transcoded data that does not decode")
                        } else if let got {
                            #expect(got == decoded, "seed \(seed) \(t) byte \(at)")
                        } else {
                            declinedButDecodes += 1
                        }
                    }
                }
            }
        }
        #expect(refused > 1000)  // the changes did reach the decoder's checks
        print("changed bytes: \(refused) refused by the decoder, \(declinedButDecodes) declined by the transcoder only")
    }

    /// Seals by XOR and binds the context by a trailing checksum byte
    /// (a stand-in for AES-GCM: `open` throws when the context or bytes do
    /// not match); subjects in `destroyed` open as nil (erased).
    struct XorProtector: PIIProtector {
        var destroyed: Set<String> = []
        static func tag(_ bytes: [UInt8], _ context: [UInt8]) -> UInt8 {
            (bytes + context).reduce(0) { $0 &* 31 &+ $1 }
        }
        func seal(_ plaintext: [UInt8], subject: String, context: [UInt8]) throws -> [UInt8] {
            let x = plaintext.map { $0 ^ 0x5A }
            return x + [Self.tag(x, context)]
        }
        func open(_ sealed: [UInt8], subject: String, context: [UInt8]) throws -> [UInt8]? {
            if destroyed.contains(subject) { return nil }
            guard let t = sealed.last, t == Self.tag(Array(sealed.dropLast()), context) else {
                throw CommerceError(.invalidData, "does not authenticate")
            }
            return sealed.dropLast().map { $0 ^ 0x5A }
        }
        func destroyKey(subject: String) throws {}
    }

    static func viaDecode(_ type: CommerceEventType, _ bytes: [UInt8], protector: any PIIProtector) throws -> [UInt8] {
        var w = JSONWriter()
        let (event, pii) = try bytes.withUnsafeBytes { try CommerceEvent.decode(type: type.rawValue, bytes: $0, protector: protector) }
        if pii == .erased { event.writeJSONErasingPII(to: &w) } else { event.writeJSON(to: &w) }
        return w.bytes
    }

    static func transcodedSealed(_ type: CommerceEventType, _ bytes: [UInt8], protector: any PIIProtector) -> [UInt8]? {
        var w = JSONWriter()
        w.bytes = Array("{\"data\":".utf8)
        let done = bytes.withUnsafeBytes { type.transcodeJSON($0, protector: protector, to: &w) }
        #expect(done || w.bytes == Array("{\"data\":".utf8), "\(type): a declined transcoding left bytes behind")
        return done ? Array(w.bytes.dropFirst(8)) : nil
    }

    /// Sealed personal data of the six types that have it: the PII fields
    /// written from the opened bytes give what decoding, filling and
    /// `writeJSON` give (random instances: present and absent optional PII,
    /// PII objects, PII inside array elements); an erased subject, a byte
    /// changed anywhere (the stand-in's tag, or the decoder, refuses it) and
    /// every truncation are declined, so the decoder writes those lines.
    @Test func sealedPersonalDataTranscodesToTheOpenedJSON() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("RandomFill seed \(seed)")
        var fill = RandomFill(rng: SplitMix64(seed: seed))
        let protector = XorProtector()
        var sealedCount = 0, declinedButDecodes = 0
        for t in CommerceEventType.allCases where !t.schema.piiFieldPaths.isEmpty {
            for i in 0..<200 {
                let event = try fill.make(t.payloadType)
                let bytes = try event.encodedData(protector: protector)
                guard bytes.withUnsafeBytes({ CommerceEvent.hasSealedPII($0) }) else { continue }
                sealedCount += 1
                let expected = try Self.viaDecode(t, bytes, protector: protector)
                let got = Self.transcodedSealed(t, bytes, protector: protector)
                #expect(got == expected, "seed \(seed) \(t) #\(i): \(String(decoding: got ?? [], as: UTF8.self)) vs \(String(decoding: expected, as: UTF8.self))")
                // Erased: declined (the decoder writes the erased form).
                var gone = XorProtector()
                gone.destroyed = [try #require(event.piiSubjectKey)]
                #expect(Self.transcodedSealed(t, bytes, protector: gone) == nil)
                if i < 20 {
                    for n in 0..<bytes.count { #expect(Self.transcodedSealed(t, Array(bytes[..<n]), protector: protector) == nil) }
                    for at in 0..<bytes.count {
                        var bad = bytes
                        bad[at] ^= 0x01
                        let decoded = try? Self.viaDecode(t, bad, protector: protector)
                        let got = Self.transcodedSealed(t, bad, protector: protector)
                        if decoded == nil {
                            #expect(got == nil, "seed \(seed) \(t) byte \(at): transcoded data that does not decode")
                        } else if let got {
                            #expect(got == decoded, "seed \(seed) \(t) byte \(at)")
                        } else {
                            declinedButDecodes += 1
                        }
                    }
                }
            }
        }
        #expect(sealedCount > 600)
        print("sealed: \(sealedCount) instances; changed bytes declined by the transcoder only: \(declinedButDecodes)")
    }
}

/// Proves the type look-up by bytes finds exactly EVENTS.md's 40 names.
@Suite struct EventTypeNameTests {
    @Test func everyNameAndNothingElse() {
        for t in CommerceEventType.allCases {
            #expect(CommerceEventType(name: t.rawValue) == t)
            #expect(CommerceEventType(name: String(t.rawValue.dropLast())) == nil)
            #expect(CommerceEventType(name: t.rawValue + " ") == nil)
            #expect(CommerceEventType(name: t.rawValue.lowercased()) == nil)
            // Same length, last byte changed.
            #expect(CommerceEventType(name: String(t.rawValue.dropLast()) + "!") == nil)
            // A name cut out of a longer string.
            let longer = "x" + t.rawValue + "y"
            let inner = longer.dropFirst().dropLast()
            #expect(CommerceEventType(name: String(inner)) == t)
        }
        for other in ["", "O", "Noted", "OrderPlacedOrderPlacedOrderPlaced", "Örder", String(repeating: "x", count: 1000)] {
            #expect(CommerceEventType(name: other) == nil, "\(other)")
        }
    }
}
