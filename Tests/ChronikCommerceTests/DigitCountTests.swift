import ChronikTestSupport
import Testing
@testable import ChronikCommerce

// JSONWord.digitCount: the cheap exit of the card-number checks counts
// ASCII digits eight bytes at a time (stop 24). It must count exactly what a
// byte loop counts, for every byte value in every place of a word, and for
// buffers of any length and alignment — a count too low would let a card
// number through unchecked.

@Suite struct DigitCountTests {
    static func naive(_ bytes: some Sequence<UInt8>) -> Int { bytes.reduce(0) { $0 + ($1 >= 0x30 && $1 <= 0x39 ? 1 : 0) } }

    @Test func everyByteValueInEveryPlaceOfAWord() {
        // Proves the word count for each of the 256 byte values at each of the 8 places, the other places filled
        // with a digit, with a non-digit neighbour of each nibble boundary (/ : ' 0x2F 0x3A), or with zero.
        for filler: UInt8 in [0x00, 0x30, 0x39, 0x2F, 0x3A, 0xB0, 0xFF] {
            for place in 0..<8 {
                for value in 0...255 {
                    var bytes = [UInt8](repeating: filler, count: 8)
                    bytes[place] = UInt8(value)
                    let w = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                    #expect(JSONWord.digitCount(w) == Self.naive(bytes), "filler \(filler), place \(place), byte \(value)")
                }
            }
        }
    }

    @Test func randomBuffersAtEveryOffsetAndLength() {
        // Proves the buffer count (words, then the tail byte by byte) equals the byte loop for 2,000 seeded random
        // buffers, digit-heavy and not, sliced at every start offset 0–7 and lengths 0–40.
        var rng = SplitMix64(seed: 24)
        for round in 0..<2_000 {
            let digitHeavy = round % 2 == 0
            let bytes: [UInt8] = (0..<48).map { _ in
                digitHeavy && rng.next() % 2 == 0 ? UInt8(0x30 + rng.next() % 10) : UInt8(truncatingIfNeeded: rng.next())
            }
            for start in 0..<8 {
                let length = Int(rng.next() % 41)
                let slice = bytes[start..<(start + length)]
                let counted = slice.withUnsafeBufferPointer { JSONWord.digitCount($0) }
                #expect(counted == Self.naive(slice), "round \(round), start \(start), length \(length)")
            }
        }
    }

    @Test func theCardChecksStillFindANumberWithExactlyThirteenDigits() {
        // Proves the cheap exit lets a text with exactly 13 digits (a Luhn-valid 13-digit number) reach the full
        // check, in a String and in JSON bytes, and stops one with 12.
        #expect(Validation.containsCardNumber(inText: "card 4222222222222 ok"))
        #expect(Validation.cardNumberInFreeText(json: Array(#"{"note":"card 4222222222222 ok"}"#.utf8)) == "note")
        #expect(!Validation.containsCardNumber(inText: "card 422222222222 ok"))
    }

    @Test func theCheapExitCountsEachNonASCIICharacterAsAPossibleDigit() {
        // Proves stop 50's exit before the fold (fewer than 13 ASCII digits and non-ASCII characters together: no
        // card number) still lets through a 13-digit number whose last digit is full-width — 12 ASCII digits and
        // one non-ASCII character, with or without other accented text — and that the fold then finds it.
        #expect(Validation.containsCardNumber(inText: "card 422222222222\u{FF12} ok"))
        #expect(Validation.containsCardNumber(inText: "caf\u{00E9} card 422222222222\u{FF12} ok"))
        #expect(Validation.containsCardNumber(inText: "card \u{FF14}22222222222\u{FF12} ok"))
        #expect(!Validation.containsCardNumber(inText: "caf\u{00E9} card 42222222222\u{FF12} ok"))
    }
}
