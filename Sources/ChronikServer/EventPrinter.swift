import ChronikAudit
import ChronikLog
import ChronikCommerce

/// The lines `read` and `tail` print for events. A commerce event's data
/// is decoded as `export` writes it (`CommerceExport.writeData`, the one
/// decode path): money, ids and times as EVENTS.md gives them, personal
/// data opened with the key store, or `null` (JSON) / `‹erased›` (text)
/// when its key is destroyed or there is no key store. Any other event's
/// data is printed as stored.
public final class EventPrinter {
    public let json: Bool
    private let note: (String) -> Void
    private let openVault: () throws -> SubjectKeyVault?
    /// nil until the first event with sealed personal data needs it: a log
    /// without personal data never touches (or notes) the key store.
    private var vault: (any PIIProtector)??

    public init(json: Bool, note: @escaping (String) -> Void, openVault: @escaping () throws -> SubjectKeyVault?) {
        self.json = json
        self.note = note
        self.openVault = openVault
    }

    /// The line for `e`: a JSON object with the keys of `read --json`, or text.
    public func line(_ e: RecordedEvent) throws -> String {
        if json {
            var w = JSONWriter(capacity: 256 + e.data.count * 2)
            try write(e, to: &w)
            return String(decoding: w.bytes, as: UTF8.self)
        }
        var w = JSONWriter(capacity: 256 + e.data.count * 2)
        var data: String?
        if let known = CommerceEventType(name: e.type), try writeDecodedData(e, known, to: &w) {
            data = String(decoding: w.bytes, as: UTF8.self)
        }
        return eventText(e, decodedData: data)
    }

    /// Appends the `read --json` object of `e` (the bytes of
    /// `eventJSON(e, decodedData:)`) to `w`. A view (a subscription's
    /// catch-up) is copied out only when it is a commerce event, whose data
    /// is decoded; any other event's stored bytes are written as they are.
    public func write<E: EventFields>(_ e: E, to w: inout JSONWriter) throws {
        writeEventJSONHead(e, to: &w)
        let mark = w.bytes.count
        w.raw(",\"data\":")
        let decoded = if let known = CommerceEventType(name: e.type) { try writeDecodedData(e, known, to: &w) } else { false }
        if !decoded {
            w.bytes.removeSubrange(mark...)
            e.withStoredBytes { data, _ in writeStoredJSON(data, key: "data", to: &w) }
        }
        e.withStoredBytes { _, metadata in
            if metadata.isEmpty {
                w.raw(",\"meta\":{}")
            } else {
                writeStoredJSON(metadata, key: "meta", to: &w)
            }
        }
        w.byte(UInt8(ascii: "}"))
    }

    /// Appends the export form of a commerce event's data to `w` and
    /// returns true; false (and nothing written) for another type, and for
    /// a commerce event that does not decode (with a warning; it is then
    /// printed as stored).
    private func writeDecodedData<E: EventFields>(_ e: E, _ known: CommerceEventType, to w: inout JSONWriter) throws -> Bool {
        let sealed = e.withStoredBytes { data, _ in CommerceEvent.hasSealedPII(data) }
        let protector: (any PIIProtector)? = sealed ? try keyVault() : nil
        let mark = w.bytes.count
        do {
            try CommerceExport.writeData(of: e, knownType: known, to: &w, protector: protector, erasedAs: json ? "null" : "‹erased›")
        } catch {
            w.bytes.removeSubrange(mark...)
            note("chronik: warning: \(error.message); its data is printed as stored")
            return false
        }
        return true
    }

    /// The key store, opened once and kept as the protocol: a
    /// `SubjectKeyVault` does not fit an existential's inline buffer, so
    /// converting it for every event allocated a box per event.
    private func keyVault() throws -> (any PIIProtector)? {
        if let vault { return vault }
        let opened: (any PIIProtector)? = try openVault()
        vault = .some(opened)
        return opened
    }
}
