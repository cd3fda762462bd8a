import CChronikSupport

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
///
/// Beside the slots, one tag byte per slot (stop 43): 0 for an empty slot,
/// else 0x80 and the hash's low 7 bits. A probe walks the tags and reads a
/// slot only where the tag matches (1 in 128 for another id): the tags of a
/// table of millions fit the caches where its slots do not, so a look-up of
/// an id that is not there (the writer's idempotency check, every event of
/// every batch) touches no slot at all. A 1,000-event batch's look-up and
/// insert took ~75 and ~70 µs in a table of a million, most of it cache
/// misses on the slots.
///
/// An id's home slot is the top bits of its hash, so ids sorted by hash
/// (an index file's id section) fill the table front to back: a reopen
/// loads millions of them with sequential memory access
/// (`insert(hashOrdered:base:)`).
struct EventIDTable: Sendable {
    private struct Slot: Sendable {
        var high: UInt64
        var low: UInt64
        /// position + 1; 0 marks an empty slot.
        var value: UInt64
    }

    private var slots: [Slot]
    /// One per slot: 0 empty, else `tag(hash)`.
    private var tags: [UInt8]
    private var mask: Int
    /// 64 − log2(capacity): the home slot is `hash >> shift`.
    private var shift: UInt64
    private(set) var count = 0
    /// Sealed segments' index-file id sections (hash-ordered) that are not
    /// in the slots yet: searched in log order, before the slots, until the
    /// background load swaps in a table that holds them (`absorb`). So a
    /// reopened log accepts appends before millions of ids are inserted.
    var pendingRuns: [(base: UInt64, ids: IDList)] = []

    init(minimumCapacity: Int = 0) {
        self.init(minimumCapacity: minimumCapacity, unless: { false })!
    }

    /// An empty table, or nil when `cancelled()` turns true while its
    /// slots are zeroed (asked every 4 MiB): the background id-table load
    /// of a log closed right after its open stops within milliseconds,
    /// instead of zeroing a table of hundreds of MiB first (stop 21: that
    /// shared the cores with the next open for ~0.2 s).
    init?(minimumCapacity: Int, unless cancelled: () -> Bool) {
        var capacity = 16
        while capacity * 3 / 4 < minimumCapacity { capacity *= 2 }
        let chunk = (4 << 20) / MemoryLayout<Slot>.stride
        var stopped = false
        slots = [Slot](unsafeUninitializedCapacity: capacity) { buffer, initialized in
            var done = 0
            while done < capacity {
                if done > 0 && cancelled() {
                    stopped = true
                    break
                }
                let n = min(chunk, capacity - done)
                (buffer.baseAddress! + done).initialize(repeating: Slot(high: 0, low: 0, value: 0), count: n)
                done += n
            }
            initialized = done
        }
        if stopped { return nil }
        tags = [UInt8](repeating: 0, count: capacity)
        mask = capacity - 1
        shift = UInt64(64 - capacity.trailingZeroBitCount)
    }

    /// The id's hash; also the order of an index file's id section.
    @inline(__always)
    static func hash(_ id: EventID) -> UInt64 {
        // murmur3's fmix64 over both words.
        var h = id.high ^ (id.low &* 0x9E37_79B9_7F4A_7C15)
        h ^= h >> 33
        h &*= 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 33
        h &*= 0xC4CE_B9FE_1A85_EC53
        h ^= h >> 33
        return h
    }

    /// A slot's tag for an id of hash `h`: its low 7 bits (the home slot
    /// is the top bits), never 0.
    @inline(__always)
    private static func tag(_ h: UInt64) -> UInt8 { UInt8(truncatingIfNeeded: h) | 0x80 }

    /// The position stored for `id`, if any.
    func position(of id: EventID) -> UInt64? {
        if !pendingRuns.isEmpty, let p = pendingPosition(of: id) { return p }
        let mask = self.mask, shift = self.shift
        return slots.withUnsafeBufferPointer { slots in
            tags.withUnsafeBufferPointer { tags in
                let (i, found, _) = Self.probe(slots.baseAddress!, tags.baseAddress!, id, mask: mask, shift: shift)
                return found ? slots[i].value - 1 : nil
            }
        }
    }

    /// Stores `position` for `id` unless the id is already there; returns
    /// the position it already had (which is kept: log order decides).
    @discardableResult
    mutating func insert(_ id: EventID, position: UInt64) -> UInt64? {
        if !pendingRuns.isEmpty, let p = pendingPosition(of: id) { return p }
        if (count + 1) * 4 > slots.count * 3 { grow() }
        let mask = self.mask, shift = self.shift
        let prior: UInt64? = slots.withUnsafeMutableBufferPointer { slots in
            tags.withUnsafeMutableBufferPointer { tags in
                let (i, found, tag) = Self.probe(slots.baseAddress!, tags.baseAddress!, id, mask: mask, shift: shift)
                if found { return slots[i].value - 1 }
                slots[i] = Slot(high: id.high, low: id.low, value: position + 1)
                tags[i] = tag
                return nil
            }
        }
        if prior == nil { count += 1 }
        return prior
    }

    /// The slot holding `id`, or the empty slot where its probe ends, and
    /// the id's tag (what an insert stores there). Reads a slot only where
    /// its tag is the id's.
    @inline(__always)
    private static func probe(_ slots: UnsafePointer<Slot>, _ tags: UnsafePointer<UInt8>, _ id: EventID, mask: Int,
                              shift: UInt64) -> (index: Int, found: Bool, tag: UInt8) {
        let h = hash(id)
        let t = tag(h)
        var i = Int(truncatingIfNeeded: h >> shift)
        while true {
            let g = tags[i]
            if g == 0 { return (i, false, t) }
            if g == t {
                let s = slots[i]
                if s.high == id.high && s.low == id.low { return (i, true, t) }
            }
            i = (i + 1) & mask
        }
    }

    /// Calls `body` with 0..<count in order (stopping when it returns
    /// false) while the home tag (and with `slots`, the home slot) of the
    /// id a few places ahead (the k-th id is `id(k)`) is fetched into the
    /// cache: in a table of millions each probe otherwise waits for a cache
    /// miss (stop 18: most of `verify`'s joining thread; stop 21: ~5 % of a
    /// 1,000-event batch append's CPU). The batch look-ups and inserts below
    /// all go through it.
    @inline(__always)
    private static func prefetching(_ tags: UnsafePointer<UInt8>, slots: UnsafePointer<Slot>?, shift: UInt64, count: Int,
                                    id: (Int) -> EventID, _ body: (Int) -> Bool) {
        // 32 ahead, not 8 (stop 40): the writer's look-up of a 1,000-event
        // batch's ids in a table of a million, medians 56–62 µs instead of
        // 58–86 µs in noisy runs.
        let ahead = 32
        @inline(__always) func fetch(_ k: Int) {
            let i = Int(truncatingIfNeeded: hash(id(k)) >> shift)
            chronik_prefetch(tags + i)
            if let slots { chronik_prefetch(slots + i) }
        }
        for k in 0..<min(ahead, count) { fetch(k) }
        for k in 0..<count {
            if k + ahead < count { fetch(k + ahead) }
            if !body(k) { return }
        }
    }

    /// Inserts `count` ids (the k-th is `id(k)`, at `first + k`) exactly as
    /// `insert` one by one in order; with `stopAtPresent`, stops at the
    /// first id already present and returns its index and the position it
    /// had (the ids before it are inserted), else keeps the positions of
    /// present ids and goes on.
    private mutating func insertPrefetching(count: Int, from first: UInt64, stopAtPresent: Bool,
                                            id: (Int) -> EventID) -> (index: Int, prior: UInt64)? {
        guard pendingRuns.isEmpty else {
            for k in 0..<count {
                if let prior = insert(id(k), position: first + UInt64(k)), stopAtPresent { return (k, prior) }
            }
            return nil
        }
        reserve(count)
        let mask = self.mask, shift = self.shift
        var added = 0
        var found: (index: Int, prior: UInt64)?
        slots.withUnsafeMutableBufferPointer { slots in
            tags.withUnsafeMutableBufferPointer { tags in
                let base = slots.baseAddress!, tagBase = tags.baseAddress!
                Self.prefetching(tagBase, slots: base, shift: shift, count: count, id: id) { k in
                    let id = id(k)
                    let (i, present, tag) = Self.probe(base, tagBase, id, mask: mask, shift: shift)
                    if present {
                        if stopAtPresent { found = (k, base[i].value - 1) }
                        return !stopAtPresent
                    }
                    base[i] = Slot(high: id.high, low: id.low, value: first + UInt64(k) + 1)
                    tagBase[i] = tag
                    added += 1
                    return true
                }
            }
        }
        self.count += added
        return found
    }

    /// Inserts `ids` at the positions from `first` on, exactly as `insert`
    /// one by one in order, and stops at the first id already present:
    /// returns its index in `ids` and the position it had (the ids before
    /// it are inserted). Prefetching (`verify`'s joining thread).
    mutating func insert(_ ids: ArraySlice<EventID>, from first: UInt64) -> (index: Int, prior: UInt64)? {
        ids.withUnsafeBufferPointer { ids in insertPrefetching(count: ids.count, from: first, stopAtPresent: true) { ids[$0] } }
    }

    /// Inserts `count` ids (the k-th is `id(k)`, at `first + k`) as
    /// `insert(_:position:)` one by one does, keeping the positions of ids
    /// already present. Prefetching (the writer's publish: every event of
    /// a batch).
    mutating func insertAll(count: Int, from first: UInt64, id: (Int) -> EventID) {
        _ = insertPrefetching(count: count, from: first, stopAtPresent: false, id: id)
    }

    /// Whether any of `count` ids (the k-th is `id(k)`) is in the table.
    /// Prefetching (the writer's idempotency check: every event of a batch).
    func containsAny(count: Int, id: (Int) -> EventID) -> Bool {
        guard pendingRuns.isEmpty else {
            for k in 0..<count where position(of: id(k)) != nil { return true }
            return false
        }
        let mask = self.mask, shift = self.shift
        var any = false
        slots.withUnsafeBufferPointer { slots in
            tags.withUnsafeBufferPointer { tags in
                let base = slots.baseAddress!, tagBase = tags.baseAddress!
                Self.prefetching(tagBase, slots: nil, shift: shift, count: count, id: id) { k in
                    any = Self.probe(base, tagBase, id(k), mask: mask, shift: shift).found
                    return !any
                }
            }
        }
        return any
    }

    /// Makes room for `additional` more ids without growing on the way.
    mutating func reserve(_ additional: Int) {
        while (count + additional) * 4 > slots.count * 3 { grow() }
    }

    /// Empties the table, keeping its capacity.
    mutating func removeAll() {
        pendingRuns = []
        guard count > 0 else { return }
        for i in slots.indices { slots[i].value = 0 }
        tags.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        count = 0
    }

    private mutating func grow() {
        let old = slots
        slots = [Slot](repeating: Slot(high: 0, low: 0, value: 0), count: old.count * 2)
        tags = [UInt8](repeating: 0, count: old.count * 2)
        mask = slots.count - 1
        shift -= 1
        let mask = self.mask, shift = self.shift
        var moved = 0
        slots.withUnsafeMutableBufferPointer { slots in
            tags.withUnsafeMutableBufferPointer { tags in
                for s in old where s.value != 0 {
                    let h = Self.hash(EventID(high: s.high, low: s.low))
                    var i = Int(truncatingIfNeeded: h >> shift)
                    while tags[i] != 0 { i = (i + 1) & mask }
                    slots[i] = s
                    tags[i] = Self.tag(h)
                    moved += 1
                }
            }
        }
        count = moved
    }

    /// The position of `id` in the pending runs (the first, in log order).
    private func pendingPosition(of id: EventID) -> UInt64? {
        let h = Self.hash(id)
        for run in pendingRuns {
            if let offset = run.ids.offset(of: id, hash: h) { return run.base + offset }
        }
        return nil
    }

    /// Adds `newer`'s ids at `position` or later (recorded after every id
    /// in this table, which already holds `newer`'s pending runs and its
    /// earlier ids): the swap from a table with pending runs to the fully
    /// loaded one.
    mutating func absorb(_ newer: EventIDTable, from position: UInt64 = 0) {
        for s in newer.slots where s.value > position {
            insert(EventID(high: s.high, low: s.low), position: s.value - 1)
        }
    }

    /// Inserts an index file's ids (`IDList.isHashOrdered`) of the segment
    /// starting at `base`, keeping positions already stored (log order
    /// decides). Same result as `insert` one by one; in hash order the
    /// probes walk the table front to back.
    mutating func insert(hashOrdered ids: IDList, base: UInt64) {
        reserve(ids.count)
        let mask = self.mask, shift = self.shift
        var added = 0
        slots.withUnsafeMutableBufferPointer { slots in
            tags.withUnsafeMutableBufferPointer { tags in
                let slots = slots.baseAddress!, tags = tags.baseAddress!
                ids.forEachEntry { offset, id in
                    let (i, present, tag) = Self.probe(slots, tags, id, mask: mask, shift: shift)
                    guard !present else { return }
                    slots[i] = Slot(high: id.high, low: id.low, value: base + offset + 1)
                    tags[i] = tag
                    added += 1
                }
            }
        }
        count += added
    }
}

/// A map from event id to a number for other modules (the import's ids of
/// its input, `InputIDs`): the log's id table, whose one probe finds and
/// inserts and whose hash is a cheap mix — a `Dictionary<EventID, …>`
/// hashed each id with SipHash and rehashed as it grew (perf of `chronik
/// import`, stop 27: ~25 % of the reading thread's pass 1).
public struct EventIDIndex: Sendable {
    private var table = EventIDTable()

    public init() {}

    /// How many ids it holds.
    public var count: Int { table.count }

    /// Stores `value` for `id` unless the id is there already; returns the
    /// value it already had (which is kept). `value` < `UInt64.max`.
    public mutating func insert(_ id: EventID, value: UInt64) -> UInt64? {
        precondition(value < .max)
        return table.insert(id, position: value)
    }

    /// The value stored for `id`, if any.
    public func value(of id: EventID) -> UInt64? { table.position(of: id) }
}
