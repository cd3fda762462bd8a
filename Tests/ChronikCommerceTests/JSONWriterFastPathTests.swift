import Foundation
import Testing
@testable import ChronikCommerce

// Issue 13: the byte writers that read --json and export use instead of
// building strings (times, ids, integers, sorted objects) write exactly the
// bytes of the string forms they replace.

@Suite struct JSONWriterFastPathTests {
    @Test func timeWritesTheQuotedRFC3339FormOfEveryTimestamp() {
        // Proves JSONWriter.time equals "\(t.rfc3339)" for whole seconds, milliseconds, microseconds, negatives, leap days and year bounds.
        var samples: [Int64] = [0, 1, 999, 1000, 1_000_000, -1, -999_999, -1_000_000, -1_000_001,
                                951_782_400_000_000, 4_107_542_399_999_999, 1_733_131_200_123_000, 1_733_131_200_123_456,
                                -62_167_219_200_000_000, 253_402_300_799_999_999, 253_402_300_800_000_000, -62_167_219_200_000_001]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 { samples.append(Int64.random(in: -70_000_000_000_000_000...260_000_000_000_000_000, using: &rng)) }
        for us in samples {
            let t = Timestamp(microseconds: us)
            var w = JSONWriter()
            w.time(t)
            #expect(String(decoding: w.bytes, as: UTF8.self) == "\"\(t.rfc3339)\"", "microseconds \(us)")
        }
    }

    @Test func parsingTakesBackEveryWrittenTimeAndOnlyRealCalendarDays() {
        // Proves Timestamp(rfc3339:) reads back what rfc3339 writes (random times, offsets given as +hh:mm and
        // -hh:mm), and takes a day 1–31 of a month exactly when the calendar (CivilDate's day count) has it, in
        // leap and common years and the century rules (1900, 2000, 2100, 2400).
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let t = Timestamp(microseconds: Int64.random(in: -62_167_219_200_000_000...253_402_300_799_999_999, using: &rng))
            #expect(Timestamp(rfc3339: t.rfc3339) == t, "\(t.rfc3339)")
        }
        let noon = Timestamp(rfc3339: "2024-05-01T12:00:00Z")!
        #expect(Timestamp(rfc3339: "2024-05-01T14:30:00+02:30") == noon && Timestamp(rfc3339: "2024-05-01T09:30:00-02:30") == noon)
        for year in [1900, 1999, 2000, 2023, 2024, 2100, 2400] {
            for month in 1...12 {
                let first = CivilDate.days(year: Int64(year), month: Int64(month), day: 1)
                for day in 1...31 {
                    let real = CivilDate.date(days: first + Int64(day) - 1).month == Int64(month)
                    let text = String(format: "%04d-%02d-%02dT00:00:00Z", year, month, day)
                    #expect((Timestamp(rfc3339: text) != nil) == real, "\(text)")
                }
            }
        }
    }

    @Test func oneWriterKeepsWritingTheRightTimeThroughItsSecondCache() {
        // Proves the cache of the last two seconds' text never gives a wrong time: one writer, times alternating between seconds (an event's time and recordedAt), repeating, stepping over day and year ends, negatives, and years it cannot write in its fast form in between.
        let day: Int64 = 86_400_000_000
        var samples: [Int64] = []
        let bases: [Int64] = [1_733_131_200_000_000, 1_735_689_599_000_000, 0, -1_000_000, 951_782_399_000_000, 253_402_300_799_000_000]
        for base in bases {
            for k in 0..<40 {
                samples.append(base + Int64(k % 3) * 1_000_000 + Int64(k) * 37_001)  // three seconds in turn
                samples.append(base + day * Int64(k % 2))  // the same time of two days in turn
                samples.append(base + 999_999)  // the end of the first second
            }
            samples.append(253_402_300_800_000_000)  // year 10000: written through rfc3339, not cached
        }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<5_000 { samples.append(1_733_131_200_000_000 + Int64.random(in: 0..<4_000_000, using: &rng)) }
        var w = JSONWriter()
        var expected = ""
        for us in samples {
            let t = Timestamp(microseconds: us)
            w.time(t)
            w.byte(UInt8(ascii: ","))
            expected += "\"\(t.rfc3339)\","
        }
        #expect(String(decoding: w.bytes, as: UTF8.self) == expected)
        for us in samples {
            var one = JSONWriter()
            one.time(Timestamp(microseconds: us))
            var again = w
            again.bytes.removeAll()
            again.time(Timestamp(microseconds: us))
            #expect(one.bytes == again.bytes, "microseconds \(us)")
        }
    }

    @Test func eventIDAndUIntWriteTheDescriptions() {
        // Proves JSONWriter.eventID equals "\(id.description)" and uint equals String(v), random and edge values.
        var ids = [EventID(high: 0, low: 0), EventID(high: .max, low: .max), EventID(high: 0x0123_4567_89ab_cdef, low: 0xfedc_ba98_7654_3210)]
        for _ in 0..<1000 { ids.append(.random()) }
        for id in ids {
            var w = JSONWriter()
            w.eventID(id)
            #expect(String(decoding: w.bytes, as: UTF8.self) == "\"\(id.description)\"")
        }
        for v: UInt64 in [0, 9, 10, 99, 100, UInt64(Int64.max), UInt64(Int64.max) + 1, .max, 1_234_567_890] {
            var w = JSONWriter()
            w.uint(v)
            #expect(String(decoding: w.bytes, as: UTF8.self) == String(v))
        }
    }

    @Test func sortedWritingEqualsTheSortedCopy() throws {
        // Proves compactBytesSortingKeys equals sortingKeys().compactBytes on nested objects, arrays and non-ASCII keys.
        let texts = [
            #"{"b":1,"a":{"z":[{"y":true,"x":null}],"é":"e","e":"é"},"c":[3,{"k":"v","j":1.5e3}]}"#,
            #"[{"b":"\n","a":"\u0001"},{"Z":1,"z":2,"ä":3,"a\u0000":4}]"#,
            #""plain""#, "42", "{}", "[]",
        ]
        for text in texts {
            let v = try JSONValue.parse(Array(text.utf8))
            #expect(v.compactBytesSortingKeys == v.sortingKeys().compactBytes, "\(text)")
        }
    }
}
