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

    @inline(__always)
    private func home(_ id: EventID) -> Int { Int(truncatingIfNeeded: Self.hash(id) >> shift) }

    /// The position stored for `id`, if any.
    func position(of id: EventID) -> UInt64? {
        if !pendingRuns.isEmpty, let p = pendingPosition(of: id) { return p }
        var i = home(id)
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
        if !pendingRuns.isEmpty, let p = pendingPosition(of: id) { return p }
        if (count + 1) * 4 > slots.count * 3 { grow() }
        var i = home(id)
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

    /// Inserts `ids` at the positions from `first` on, exactly as `insert`
    /// one by one in order, and stops at the first id already present:
    /// returns its index in `ids` and the position it had (the ids before
    /// it are inserted). Meanwhile the home slot of the id a few places
    /// ahead is fetched into the cache: in a table of millions each insert
    /// otherwise waits for a cache miss (stop 18: most of `verify`'s
    /// joining thread).
    mutating func insert(_ ids: ArraySlice<EventID>, from first: UInt64) -> (index: Int, prior: UInt64)? {
        guard pendingRuns.isEmpty else {
            for (k, id) in ids.enumerated() {
                if let prior = insert(id, position: first + UInt64(k)) { return (k, prior) }
            }
            return nil
        }
        reserve(ids.count)
        let mask = self.mask, shift = self.shift, ahead = 8
        var added = 0
        let found = ids.withUnsafeBufferPointer { ids in
            slots.withUnsafeMutableBufferPointer { slots -> (index: Int, prior: UInt64)? in
                for k in 0..<ids.count {
                    if k + ahead < ids.count {
                        chronik_prefetch(slots.baseAddress! + Int(truncatingIfNeeded: Self.hash(ids[k + ahead]) >> shift))
                    }
                    let id = ids[k]
                    var i = Int(truncatingIfNeeded: Self.hash(id) >> shift)
                    while true {
                        let s = slots[i]
                        if s.value == 0 {
                            slots[i] = Slot(high: id.high, low: id.low, value: first + UInt64(k) + 1)
                            added += 1
                            break
                        }
                        if s.high == id.high && s.low == id.low { return (k, s.value - 1) }
                        i = (i + 1) & mask
                    }
                }
                return nil
            }
        }
        count += added
        return found
    }

    /// Whether any of `count` ids (the k-th is `id(k)`) is in the table.
    /// The home slot of the id a few places ahead is fetched meanwhile:
    /// the writer asks this for every event of a batch, and in a table of
    /// millions each lookup otherwise waits for a cache miss (stop 21:
    /// ~5 % of a 1,000-event batch append's CPU).
    func containsAny(count: Int, id: (Int) -> EventID) -> Bool {
        guard pendingRuns.isEmpty else {
            for k in 0..<count where position(of: id(k)) != nil { return true }
            return false
        }
        let mask = self.mask, shift = self.shift, ahead = 8
        return slots.withUnsafeBufferPointer { slots in
            for k in 0..<min(ahead, count) {
                chronik_prefetch(slots.baseAddress! + Int(truncatingIfNeeded: Self.hash(id(k)) >> shift))
            }
            for k in 0..<count {
                if k + ahead < count {
                    chronik_prefetch(slots.baseAddress! + Int(truncatingIfNeeded: Self.hash(id(k + ahead)) >> shift))
                }
                let id = id(k)
                var i = Int(truncatingIfNeeded: Self.hash(id) >> shift)
                while true {
                    let s = slots[i]
                    if s.value == 0 { break }
                    if s.high == id.high && s.low == id.low { return true }
                    i = (i + 1) & mask
                }
            }
            return false
        }
    }

    /// Inserts `count` ids (the k-th is `id(k)`, at `first + k`) as
    /// `insert(_:position:)` one by one does, keeping the positions of ids
    /// already present, fetching the home slot of the id a few places
    /// ahead meanwhile (the writer's publish: every event of a batch).
    mutating func insertAll(count: Int, from first: UInt64, id: (Int) -> EventID) {
        guard pendingRuns.isEmpty else {
            for k in 0..<count { insert(id(k), position: first + UInt64(k)) }
            return
        }
        reserve(count)
        let mask = self.mask, shift = self.shift, ahead = 8
        var added = 0
        slots.withUnsafeMutableBufferPointer { slots in
            for k in 0..<min(ahead, count) {
                chronik_prefetch(slots.baseAddress! + Int(truncatingIfNeeded: Self.hash(id(k)) >> shift))
            }
            for k in 0..<count {
                if k + ahead < count {
                    chronik_prefetch(slots.baseAddress! + Int(truncatingIfNeeded: Self.hash(id(k + ahead)) >> shift))
                }
                let id = id(k)
                var i = Int(truncatingIfNeeded: Self.hash(id) >> shift)
                while true {
                    let s = slots[i]
                    if s.value == 0 {
                        slots[i] = Slot(high: id.high, low: id.low, value: first + UInt64(k) + 1)
                        added += 1
                        break
                    }
                    if s.high == id.high && s.low == id.low { break }
                    i = (i + 1) & mask
                }
            }
        }
        self.count += added
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
        count = 0
    }

    private mutating func grow() {
        let old = slots
        slots = [Slot](repeating: Slot(high: 0, low: 0, value: 0), count: old.count * 2)
        mask = slots.count - 1
        shift -= 1
        count = 0
        for s in old where s.value != 0 {
            var i = home(EventID(high: s.high, low: s.low))
            while slots[i].value != 0 { i = (i + 1) & mask }
            slots[i] = s
            count += 1
        }
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
            ids.forEachEntry { offset, id in
                var i = Int(truncatingIfNeeded: Self.hash(id) >> shift)
                while true {
                    let s = slots[i]
                    if s.value == 0 {
                        slots[i] = Slot(high: id.high, low: id.low, value: base + offset + 1)
                        added += 1
                        return
                    }
                    if s.high == id.high && s.low == id.low { return }
                    i = (i + 1) & mask
                }
            }
        }
        count += added
    }
}
