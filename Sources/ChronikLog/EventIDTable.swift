/// An open-addressing hash table from event id to position: the log's
/// idempotency index.
///
/// Why not `Dictionary<EventID, UInt64>`: with millions of ids, SipHash per
/// lookup, a separate lookup and insert, and rehashing inside a flush made
/// the id index over half the writer's CPU (Benchmarks/README.md). Here one
/// probe sequence both finds and inserts, the hash is a cheap 64-bit mix
/// (ids are caller-chosen, so the raw bits are still mixed rather than
/// trusted to be random), and slots are 24-byte structs so a probe touches
/// one cache line. Linear probing, load factor at most 3/4, no deletion.
struct EventIDTable: Sendable {
    private struct Slot: Sendable {
        var high: UInt64
        var low: UInt64
        /// position + 1; 0 marks an empty slot.
        var value: UInt64
    }

    private var slots: [Slot]
    private var mask: Int
    private(set) var count = 0

    init(minimumCapacity: Int = 0) {
        var capacity = 16
        while capacity * 3 / 4 < minimumCapacity { capacity *= 2 }
        slots = [Slot](repeating: Slot(high: 0, low: 0, value: 0), count: capacity)
        mask = capacity - 1
    }

    @inline(__always)
    private static func hash(_ id: EventID) -> Int {
        // murmur3's fmix64 over both words.
        var h = id.high ^ (id.low &* 0x9E37_79B9_7F4A_7C15)
        h ^= h >> 33
        h &*= 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 33
        h &*= 0xC4CE_B9FE_1A85_EC53
        h ^= h >> 33
        return Int(truncatingIfNeeded: h)
    }

    /// The position stored for `id`, if any.
    func position(of id: EventID) -> UInt64? {
        var i = Self.hash(id) & mask
        while true {
            let s = slots[i]
            if s.value == 0 { return nil }
            if s.high == id.high && s.low == id.low { return s.value - 1 }
            i = (i + 1) & mask
        }
    }

    /// Stores `position` for `id` unless the id is already there; returns
    /// the position it already had (which is kept: log order decides).
    @discardableResult
    mutating func insert(_ id: EventID, position: UInt64) -> UInt64? {
        if (count + 1) * 4 > slots.count * 3 { grow() }
        var i = Self.hash(id) & mask
        while true {
            let s = slots[i]
            if s.value == 0 {
                slots[i] = Slot(high: id.high, low: id.low, value: position + 1)
                count += 1
                return nil
            }
            if s.high == id.high && s.low == id.low { return s.value - 1 }
            i = (i + 1) & mask
        }
    }

    /// Makes room for `additional` more ids without growing on the way.
    mutating func reserve(_ additional: Int) {
        while (count + additional) * 4 > slots.count * 3 { grow() }
    }

    /// Empties the table, keeping its capacity.
    mutating func removeAll() {
        guard count > 0 else { return }
        for i in slots.indices { slots[i].value = 0 }
        count = 0
    }

    private mutating func grow() {
        let old = slots
        slots = [Slot](repeating: Slot(high: 0, low: 0, value: 0), count: old.count * 2)
        mask = slots.count - 1
        count = 0
        for s in old where s.value != 0 {
            var i = Self.hash(EventID(high: s.high, low: s.low)) & mask
            while slots[i].value != 0 { i = (i + 1) & mask }
            slots[i] = s
            count += 1
        }
    }
}
