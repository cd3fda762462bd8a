import Foundation

/// A global, dense, 0-based position of an event in the log.
public struct Position: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var value: UInt64
    public init(_ value: UInt64) { self.value = value }
    public static let start = Position(0)
    public static func < (a: Position, b: Position) -> Bool { a.value < b.value }
    public var description: String { String(value) }
}

/// The 0-based index of an event within its stream.
public struct StreamVersion: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var value: UInt64
    public init(_ value: UInt64) { self.value = value }
    public static func < (a: StreamVersion, b: StreamVersion) -> Bool { a.value < b.value }
    public var description: String { String(value) }
}

/// A point in time with microsecond resolution, UTC.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Microseconds since 1970-01-01T00:00:00Z.
    public var microseconds: Int64
    public init(microseconds: Int64) { self.microseconds = microseconds }
    public init(_ date: Date) {
        microseconds = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }
    public static func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(microseconds: Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000)
    }
    public var date: Date { Date(timeIntervalSince1970: Double(microseconds) / 1_000_000) }
    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.microseconds < b.microseconds }
    /// RFC 3339 in UTC with `Z`; fractional digits only when non-zero
    /// (3 for whole milliseconds, else 6).
    public var description: String { rfc3339 }
    public var rfc3339: String {
        let secs = microseconds >= 0 ? microseconds / 1_000_000 : (microseconds - 999_999) / 1_000_000
        let micros = Int(microseconds - secs * 1_000_000)
        var t = time_t(secs)
        var parts = tm()
        gmtime_r(&t, &parts)
        func pad(_ v: Int32, _ w: Int) -> String {
            let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        var out = "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
        out += "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))"
        if micros != 0 {
            if micros % 1000 == 0 { out += "." + pad(Int32(micros / 1000), 3) } else { out += "." + pad(Int32(micros), 6) }
        }
        return out + "Z"
    }

    /// Why `s` is not taken as a time, in words for a message: a fraction
    /// finer than the microsecond is named as such (an RFC 3339 time that
    /// .NET, Java or Go write by default, with 7 or 9 digits), else "not an
    /// RFC 3339 date-time".
    public static func rfc3339Refusal(_ s: String) -> String {
        let b = Array(s.utf8)
        if let dot = b.firstIndex(of: UInt8(ascii: ".")) {
            var end = dot + 1
            while end < b.count, (48...57).contains(b[end]) { end += 1 }
            let digits = end - dot - 1
            if digits > 6, Timestamp(rfc3339: String(decoding: b[..<(dot + 7)] + b[end...], as: UTF8.self)) != nil {
                return "has \(digits) fractional digits: times are kept to the microsecond, so give at most 6 (rounding is left to the sender)"
            }
        }
        if b.count >= 20, b[16] == 58, b[17] == 54, b[18] == 48,  // ":60"
           Timestamp(rfc3339: String(s.prefix(17)) + "59" + String(s.dropFirst(19))) != nil {
            return "is a leap second (:60): times are kept as UTC microseconds without leap seconds, and it would be stored "
                + "as :59, another time than the one given; give 23:59:59.999999 or the next second instead"
        }
        if s.utf8.count >= 20, let y = Int(s.prefix(4)), y == 0 || y == 9999,
           Timestamp(rfc3339: String(s.prefix(19)) + "Z") != nil {
            return "falls outside the years 0000–9999 once in UTC, as an export would write it"
        }
        // Stop 38, a newcomer: "2024-06-06T10:00:00" said only "not RFC 3339".
        if Timestamp(rfc3339: s + "Z") != nil {
            return "has no time zone: add Z (UTC) or an offset such as +02:00"
        }
        return "is not an RFC 3339 date-time"
    }

    /// Parses an RFC 3339 date-time (any offset, optional fraction up to
    /// microseconds; more digits are refused rather than silently rounded).
    public init?(rfc3339 s: String) {
        // Read in place (stop 48: a copy of the text and an array of month
        // lengths per call were most of this parse, ~1.9 % of an import).
        var s = s
        guard let m = s.withUTF8({ Self.microseconds(rfc3339: $0) }) else { return nil }
        microseconds = m
    }

    /// `init(rfc3339:)` of the string's UTF-8 bytes, read in place (stop 50:
    /// an import's times without a `String` each).
    public init?(rfc3339UTF8 bytes: UnsafeBufferPointer<UInt8>) {
        guard let m = Self.microseconds(rfc3339: bytes) else { return nil }
        microseconds = m
    }

    /// `init(rfc3339:)` of UTF-8 bytes: the microseconds, or nil.
    static func microseconds(rfc3339 b: UnsafeBufferPointer<UInt8>) -> Int64? {
        func num(_ i: Int, _ n: Int) -> Int? {
            guard i + n <= b.count else { return nil }
            var v = 0
            for k in i..<(i + n) { let c = b[k]; guard c >= 48 && c <= 57 else { return nil }; v = v * 10 + Int(c - 48) }
            return v
        }
        guard b.count >= 20, let y = num(0, 4), b[4] == 45, let mo = num(5, 2), b[7] == 45, let d = num(8, 2),
              b[10] == 84 || b[10] == 116 || b[10] == 32, let h = num(11, 2), b[13] == 58, let mi = num(14, 2), b[16] == 58,
              let se = num(17, 2) else { return nil }
        // No leap second: it would be stored as :59, a time other than
        // the one given (stop 38, a migration: it was changed silently).
        guard (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, se < 60 else { return nil }
        var i = 19
        var micros = 0
        if i < b.count, b[i] == 46 {
            i += 1
            var digits = 0
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                guard digits < 6 else { return nil }
                micros = micros * 10 + Int(b[i] - 48); digits += 1; i += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<6 { micros *= 10 }
        }
        guard i < b.count else { return nil }
        var offset = 0
        if b[i] == 90 || b[i] == 122 { i += 1 } else if b[i] == 43 || b[i] == 45 {
            guard let oh = num(i + 1, 2), i + 3 < b.count, b[i + 3] == 58, let om = num(i + 4, 2), oh < 24, om < 60 else { return nil }
            offset = (oh * 60 + om) * 60 * (b[i] == 43 ? 1 : -1)
            i += 6
        } else { return nil }
        guard i == b.count else { return nil }
        let daysInMonth = switch mo {
        case 2: (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
        guard d <= daysInMonth else { return nil }
        let days = CivilDate.days(year: Int64(y), month: Int64(mo), day: Int64(d))
        let secs = days * 86_400 + Int64(h * 3600 + mi * 60 + se) - Int64(offset)
        // In UTC it must still have a four-digit year, as RFC 3339 and the
        // export write it (stop 34: 9999-12-31T23:59:59-23:59 was stored
        // and exported as 10000-01-01…, which no import takes back).
        guard (Self.earliest...Self.latest).contains(secs * 1_000_000 + Int64(micros)) else { return nil }
        return secs * 1_000_000 + Int64(micros)
    }

    /// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z.
    static let earliest = CivilDate.days(year: 0, month: 1, day: 1) * 86_400_000_000
    static let latest = CivilDate.days(year: 10_000, month: 1, day: 1) * 86_400_000_000 - 1
}

/// The proleptic Gregorian calendar counted in days since 1970-01-01
/// (Howard Hinnant's algorithms, as gmtime for every year): the one
/// conversion that parsing a `Timestamp`, `JSONWriter.time` and the
/// projections' `Day` share.
public enum CivilDate {
    /// Days since 1970-01-01 of `year`-`month`-`day` (month 1–12).
    @inlinable
    public static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The year, month (1–12) and day (1–31) `days` after 1970-01-01.
    @inlinable
    public static func date(days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// A 128-bit event id (a UUID), the key of idempotent appends.
public struct EventID: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64
    public init(high: UInt64, low: UInt64) { self.high = high; self.low = low }
    public init(_ uuid: UUID) {
        // uuid_t is 16 bytes in order: the two words, big-endian.
        let (h, l) = withUnsafeBytes(of: uuid.uuid) { ($0.loadUnaligned(as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) }
        high = UInt64(bigEndian: h)
        low = UInt64(bigEndian: l)
    }
    /// A new id: time-ordered (version 7, the Unix time in milliseconds
    /// first), the rest mixed from a per-process counter under secret seeds
    /// (EventIDGenerator.swift): unique, not secret, without a syscall or a
    /// lock per id. Ids made close in time sort close together, which keeps
    /// a database's index on them compact (docs/POSTGRES.md).
    public static func random() -> EventID { EventIDGenerator.next() }
    /// Parses the canonical 8-4-4-4-12 form, either case.
    public init?(string: String) {
        guard string.utf8.count == 36, let u = UUID(uuidString: string) else { return nil }
        self.init(u)
    }
    public var uuid: UUID {
        var u: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &u) {
            $0.storeBytes(of: high.bigEndian, as: UInt64.self)
            $0.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
        }
        return UUID(uuid: u)
    }
    /// Lower-case canonical form.
    public var description: String { uuid.uuidString.lowercased() }
}

/// The expected state of a stream for an optimistic-concurrency append.
public enum ExpectedVersion: Hashable, Sendable, CustomStringConvertible {
    /// No check.
    case any
    /// The stream must hold no event.
    case noStream
    /// The stream must hold at least one event.
    case exists
    /// The stream's last event must have exactly this version.
    case exact(UInt64)

    public var description: String {
        switch self {
        case .any: "any"
        case .noStream: "noStream"
        case .exists: "exists"
        case .exact(let v): String(v)
        }
    }
}

/// An event to append: the log assigns position, version and recordedAt.
public struct ProposedEvent: Hashable, Sendable {
    public var id: EventID
    public var type: String
    public var occurredAt: Timestamp
    public var metadata: [UInt8]
    public var data: [UInt8]

    public init(id: EventID = .random(), type: String, data: [UInt8], metadata: [UInt8] = [], occurredAt: Timestamp = .now()) {
        self.id = id
        self.type = type
        self.data = data
        self.metadata = metadata
        self.occurredAt = occurredAt
    }

    /// Bytes this event occupies in a raw (uncompressed) batch payload.
    var encodedSize: Int {
        varintSize(UInt64(type.utf8.count)) + type.utf8.count + 16 + 10
            + varintSize(UInt64(metadata.count)) + metadata.count
            + varintSize(UInt64(data.count)) + data.count
    }
}

/// An event as stored in the log.
public struct RecordedEvent: Hashable, Sendable {
    public var position: Position
    public var stream: String
    public var version: StreamVersion
    public var id: EventID
    public var type: String
    public var occurredAt: Timestamp
    public var recordedAt: Timestamp
    public var metadata: [UInt8]
    public var data: [UInt8]

    public init(position: Position, stream: String, version: StreamVersion, id: EventID, type: String,
                occurredAt: Timestamp, recordedAt: Timestamp, metadata: [UInt8], data: [UInt8]) {
        self.position = position
        self.stream = stream
        self.version = version
        self.id = id
        self.type = type
        self.occurredAt = occurredAt
        self.recordedAt = recordedAt
        self.metadata = metadata
        self.data = data
    }
}

/// What an append did.
public struct AppendResult: Hashable, Sendable {
    /// Position of each appended event, in order.
    public var positions: [Position]
    /// Stream version of each appended event, in order.
    public var versions: [StreamVersion]
    /// True when every event was already in the log (an idempotent retry):
    /// nothing was written and the original positions are returned.
    public var wasDuplicate: Bool
    public var firstPosition: Position { positions[0] }
    public var lastPosition: Position { positions[positions.count - 1] }
    public var lastVersion: StreamVersion { versions[versions.count - 1] }
}

/// How appends reach the disk.
public enum Durability: Hashable, Sendable {
    /// fdatasync before every acknowledgement (group commit shares it).
    case fsync
    /// fdatasync at most this often; an acknowledged append may be lost in a
    /// crash within the interval.
    case interval(Duration)
    /// Never fdatasync; the OS writes back when it likes.
    case none
}

/// Compression of batch payloads.
public enum Compression: String, Hashable, Sendable, CaseIterable {
    case none
    case lz4
}

/// Options for opening a log.
public struct LogOptions: Sendable {
    /// A segment is sealed once it reaches this size.
    public var segmentSizeBytes: Int = 64 << 20
    public var durability: Durability = .fsync
    /// Largest encoded event (type, metadata, data); at most 64 MiB.
    public var maxEventBytes: Int = LogFormat.defaultMaxEventBytes
    /// Used when creating the log; an existing log keeps what it recorded.
    public var compression: Compression = .lz4
    /// Open for reading only: no lock, no recovery writes, no appends.
    public var readOnly: Bool = false
    /// Create the directory and an empty log when absent.
    public var createIfMissing: Bool = true
    /// When the stream and event-id indexes are built: in the background
    /// right after `open` (the default, for services), or on first use —
    /// the first append, stream read, stream count or id lookup — for
    /// tools that only scan the whole log (replay, verify, export), which
    /// then never pay for them.
    public var indexLoading: IndexLoading = .background
    /// The file layer; tests pass a fault-injecting one.
    public var storage: any Storage = PosixStorage()
    /// Read-only openers only: instead of refusing a log with damage, open
    /// it up to the damage (the last good position) and report the damage
    /// in `RecoveryReport.damage`, so that the intact part can be read and
    /// saved. Segments after a damaged one are not opened.
    public var readUpToDamage: Bool = false
    /// Whether the writer stages and writes the next group commit while
    /// the previous one's fdatasync runs. Off (the default), one group is
    /// in flight at a time. Not yet a setting for users: stop 17's paired
    /// measurements (Benchmarks/README.md) did not show a consistent gain
    /// on the shared machine, see docs/FORMAT.md "Writing and durability".
    @_spi(Benchmarks) public var pipelinedWrites: Bool = false
    /// With durability `.fsync`, how far ahead of its writes the writer
    /// keeps the active segment filled with zeros and synced (0: not at
    /// all). An fdatasync of bytes written over such space commits no new
    /// file size; on this machine's ext4 that is one synchronous write of
    /// the inode less per group commit (docs/FORMAT.md, "Zeroed space
    /// ahead of the writes"; stop 41). The zeros are written, and synced,
    /// right after a group is acknowledged, a quarter of this at a time
    /// once less than half of it is left; sealing and a clean close cut
    /// what is unused. At most 16 MiB.
    public var zeroAheadBytes: Int = 1 << 20
    /// Accepts stream names and event types with control characters, as
    /// releases before stop 32 did: for tests that make the logs those
    /// releases wrote, to prove readers still print them escaped.
    @_spi(Testing) public var acceptsControlCharactersInNames: Bool = false

    public init() {}
}

/// See `LogOptions.indexLoading`.
public enum IndexLoading: Hashable, Sendable {
    case background
    case onFirstUse
}

/// What recovery found and did when the log was opened.
public struct RecoveryReport: Hashable, Sendable {
    /// The segment file whose torn tail was truncated, if any.
    public var truncatedFile: String?
    /// Byte offset where the truncation happened.
    public var truncatedAtOffset: Int64?
    /// Bytes removed (never-acknowledged, torn data).
    public var bytesTruncated: Int64
    /// Position of the last valid event, nil for an empty log.
    public var lastValidPosition: Position?
    /// Sealed segments whose index had to be rebuilt from the segment.
    public var rebuiltIndexes: [String]
    /// Segments scanned.
    public var segmentsScanned: Int
    /// Sealed segments whose index file was used instead of a scan.
    public var indexesLoaded: Int = 0
    /// Why index files that exist were not used ("{name}: {reason}"): each
    /// such segment was scanned instead and is in `rebuiltIndexes`.
    public var indexNotes: [String] = []
    /// With `LogOptions.readUpToDamage`: the damage the open stopped at
    /// (file and offset); the log reads up to `lastValidPosition`.
    public var damage: ChronikLogError? = nil
    /// Zeros from the end of the last batch of the active segment (or of
    /// the torn tail after it) to the end of its file, in bytes: the space
    /// a writer keeps zeroed ahead of its writes
    /// (`LogOptions.zeroAheadBytes`), left by a crash, or a write none of
    /// whose pages reached the disk. No batch is there; a writer's open
    /// cuts it (a read-only one leaves it), and it is not counted in
    /// `bytesTruncated`.
    public var zeroedBytesCut: Int64 = 0
    /// The segment file those zeros were in.
    public var zeroedFile: String? = nil

    public var didTruncate: Bool { bytesTruncated > 0 }
}

/// Size and shape of a log.
public struct LogStats: Hashable, Sendable {
    public var events: UInt64
    public var streams: Int
    public var segments: Int
    public var bytesOnDisk: Int64
    /// Position the next event will get (== events).
    public var headPosition: Position
    public var compression: Compression
}

@inline(__always)
func varintSize(_ v: UInt64) -> Int {
    var v = v, n = 1
    while v >= 0x80 { v >>= 7; n += 1 }
    return n
}

extension LogFormat {
    /// Checks the name of a stream an append writes to: 1...256 bytes of
    /// UTF-8, in Unicode Normalization Form C. Swift compares strings by
    /// canonical equivalence, so "café" written precomposed (U+00E9) and
    /// decomposed (e + U+0301) would be one stream in this process's
    /// indexes and two in PostgreSQL's, or in any reader that compares
    /// bytes. Names in NFC are equal exactly when their bytes are, so every
    /// backend and every reader sees the same streams. No control
    /// characters (U+0000–U+001F, U+007F–U+009F): a name is printed one
    /// per line, and "a\nb" printed one event over two lines (stop 32).
    /// Names already in a log are read as they are.
    ///
    /// - Throws: `ChronikLogError(.invalidStreamName)`.
    public static func checkStreamName(_ stream: String, allowingControlCharacters: Bool = false) throws {
        let n = stream.utf8.count
        guard n >= 1, n <= maxStreamNameBytes else {
            throw ChronikLogError(.invalidStreamName, n == 0 ? "stream name is empty" : "stream name is \(n) bytes, at most \(maxStreamNameBytes) allowed")
        }
        if let problem = notPrintableNFC(stream, same: "name", allowingControl: allowingControlCharacters) {
            throw ChronikLogError(.invalidStreamName, "stream name " + problem)
        }
    }

    /// Checks the type of the event at `index` of an append: 1...256 bytes
    /// of UTF-8 in NFC, for the reason `checkStreamName` gives (a reader
    /// filtering by type compares it).
    ///
    /// - Throws: `ChronikLogError(.invalidEventType)`.
    @inline(__always)
    public static func checkEventType(_ type: String, index: Int, allowingControlCharacters: Bool = false) throws {
        let t = type.utf8.count
        guard t >= 1, t <= maxEventTypeBytes else {
            throw ChronikLogError(.invalidEventType, "event \(index): type must be 1...\(maxEventTypeBytes) bytes, got \(t)", index: index)
        }
        if let problem = notPrintableNFC(type, same: "type", allowingControl: allowingControlCharacters) {
            throw ChronikLogError(.invalidEventType, "event \(index): type " + problem, index: index)
        }
    }

    /// Why `stream`, of an allowed length, is still not a name an append
    /// takes (a control character, or not NFC: `checkStreamName`), or nil.
    /// For a check made before anything is appended, so that a whole input
    /// is refused, not cut at the bad line (`chronik append`, stop 33).
    public static func streamNameProblem(_ stream: String) -> String? {
        notPrintableNFC(stream, same: "name").map { "stream name " + $0 }
    }

    /// The same for an event type (`checkEventType`).
    public static func eventTypeProblem(_ type: String) -> String? {
        notPrintableNFC(type, same: "type").map { "type " + $0 }
    }

    /// Why `name` holds a control character (which, and where) or is not
    /// in NFC (both forms' scalars), or nil when neither (printable ASCII:
    /// one scan, no copy).
    @inline(__always)
    static func notPrintableNFC(_ name: String, same: String, allowingControl: Bool = false) -> String? {
        // The common case in one pass over the bytes: printable ASCII with
        // no space at either end is a name under every rule below (stop 40:
        // the enumerated scan was ~30 % of validating a batch).
        let plain = name.utf8.withContiguousStorageIfAvailable { u -> Bool in
            guard let first = u.first, let last = u.last, first != 0x20, last != 0x20 else { return false }
            for b in u where b < 0x20 || b >= 0x7F { return false }
            return true
        }
        if plain == true { return nil }
        var high = false
        for (i, b) in name.utf8.enumerated() {
            if !allowingControl && (b < 0x20 || b == 0x7F) { return controlCharacter(UInt32(b), at: i) }
            if b >= 0x80 { high = true }
        }
        // Stop 36 (a security review): "CustomerUpdated " was taken as a
        // type of its own and kept an email in plaintext on a customer's
        // stream; it reads as the EVENTS.md type.
        func paddedWithSpace() -> String? {
            guard !allowingControl, name.utf8.first == 0x20 || name.utf8.last == 0x20
                    || (high && (name.unicodeScalars.first!.properties.isWhitespace || name.unicodeScalars.last!.properties.isWhitespace))
            else { return nil }
            return "'\(name)' begins or ends with white space: it would read as another \(same), so that is not allowed"
        }
        guard high else { return paddedWithSpace() }
        if !allowingControl {
            var offset = 0
            let last = name.unicodeScalars.count - 1
            for (i, scalar) in name.unicodeScalars.enumerated() {
                if (0x80...0x9F).contains(scalar.value) { return controlCharacter(scalar.value, at: offset) }
                if let what = Self.invisibleFormat(scalar.value) ?? ((i == 0 || i == last) ? Self.invisibleAtTheEdge(scalar.value) : nil) {
                    return "holds \(scalarName(scalar.value)) (\(what)) at byte \(offset): a name must read as what it is, so invisible characters, line separators and bidirectional controls are not allowed"
                }
                offset += UTF8.width(scalar)
            }
        }
        if let padded = paddedWithSpace() { return padded }
        let nfc = name.precomposedStringWithCanonicalMapping
        if name.utf8.elementsEqual(nfc.utf8) { return nil }
        func scalars(_ s: String) -> String { s.unicodeScalars.map { "U+" + String($0.value, radix: 16, uppercase: true) }.joined(separator: " ") }
        return "'\(name)' (\(scalars(name))) is not in Unicode NFC; its NFC form (\(scalars(nfc))) is the same \(same) to a reader: send that"
    }

    /// What a scalar that breaks a line or reorders what a name displays
    /// is (stop 34: U+2028, U+2029 and U+202E were taken in names, beside
    /// the control characters refused "because names are printed one per
    /// line"); nil for any other.
    static func invisibleFormat(_ v: UInt32) -> String? {
        switch v {
        case 0x2028: "a line separator"
        case 0x2029: "a paragraph separator"
        case 0x200E, 0x200F, 0x061C, 0x202A...0x202E, 0x2066...0x2069: "a bidirectional control"
        case 0xFEFF: "a byte-order mark, invisible"
        // Stop 39 (an i18n review): `x` + U+200B was taken as a stream of its
        // own that reads as `x`.
        case 0x200B: "a zero-width space, invisible"
        case 0x2060: "a word joiner, invisible"
        case 0x00AD: "a soft hyphen, invisible"
        case 0x180E: "a Mongolian vowel separator, invisible"
        case 0x115F, 0x1160, 0x3164, 0xFFA0: "a Hangul filler, invisible"
        case 0xE0000...0xE007F: "a tag character, invisible"
        case 0xFDD0...0xFDEF: "a noncharacter"
        case _ where v & 0xFFFE == 0xFFFE: "a noncharacter"
        default: nil
        }
    }

    /// Scalars that are invisible on their own but join letters or pick an
    /// emoji's form inside a name (Persian words, 👩‍💻): refused only as a
    /// name's first or last scalar, where they join nothing.
    static func invisibleAtTheEdge(_ v: UInt32) -> String? {
        switch v {
        case 0x200C: "a zero-width non-joiner, invisible"
        case 0x200D: "a zero-width joiner, invisible"
        case 0xFE00...0xFE0F where v != 0xFE0F: "a variation selector, invisible"
        default: nil
        }
    }

    static func controlCharacter(_ value: UInt32, at offset: Int) -> String {
        "holds the control character \(scalarName(value)) at byte \(offset): names are printed one per line, so control characters are not allowed"
    }

    /// `U+` and at least four upper-case hex digits.
    static func scalarName(_ value: UInt32) -> String {
        let hex = String(value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}
