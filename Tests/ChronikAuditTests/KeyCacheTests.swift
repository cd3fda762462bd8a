import ChronikCommerce
import Synchronization
import Testing
@testable import ChronikAudit

/// A key store in memory that counts the look-ups of each subject.
final class CountingKeyStore: SubjectKeyStore {
    private struct State {
        var keys: [String: [UInt8]] = [:]
        var destroyed: Set<String> = []
        var lookups: [String: Int] = [:]
        var revision: UInt64 = 0
    }

    private let state = Mutex(State())

    func key(for subject: String, create: Bool) throws -> [UInt8]? {
        state.withLock { s in
            s.lookups[subject, default: 0] += 1
            if let k = s.keys[subject] { return k }
            guard create, !s.destroyed.contains(subject) else { return nil }
            let k = (0..<64).map { _ in UInt8.random(in: 0...255) }
            s.keys[subject] = k
            return k
        }
    }

    func destroy(subject: String) throws {
        state.withLock { s in
            s.keys[subject] = nil
            s.destroyed.insert(subject)
        }
    }

    func isDestroyed(subject: String) -> Bool { state.withLock { $0.destroyed.contains(subject) } }
    func sync() throws {}
    var revision: UInt64 { state.withLock { $0.revision } }

    func lookups(of subject: String) -> Int { state.withLock { $0.lookups[subject] ?? 0 } }
    func bumpRevision() { state.withLock { $0.revision += 1 } }
}

/// The vault's key cache: bounded, keeps the keys in use, forgets a
/// destroyed key in either generation.
@Suite struct KeyCacheTests {
    @Test func aKeyInUseStaysCachedWhileManyOthersPassThrough() throws {
        // Proves the bound holds (two generations at most) and that a subject used again within a generation is never looked up again, where emptying one full table dropped it every 4,096 subjects.
        let store = CountingKeyStore()
        let vault = SubjectKeyVault(store: store)
        let context = Array("ctx".utf8)
        let hot = try vault.seal(Array("hot".utf8), subject: "customer-hot", context: context)
        for i in 0..<(5 * SubjectKeyVault.KeyCache.generation) {
            _ = try vault.seal(Array("x".utf8), subject: "session-\(i)", context: context)
            if i % 1000 == 0 { #expect(try vault.open(hot, subject: "customer-hot", context: context) == Array("hot".utf8)) }
            #expect(vault.cachedKeys <= 2 * SubjectKeyVault.KeyCache.generation)
        }
        #expect(store.lookups(of: "customer-hot") == 1)
        // A subject not used for more than two generations is looked up again.
        #expect(try vault.open(try vault.seal([1], subject: "session-0", context: context), subject: "session-0", context: context) == [1])
        #expect(store.lookups(of: "session-0") == 2)
    }

    @Test func aDestroyedKeyIsForgottenInEitherGeneration() throws {
        // Proves destroyKey evicts a key from the older generation too, and that a new revision of the store empties the cache.
        let store = CountingKeyStore()
        let vault = SubjectKeyVault(store: store)
        let context = Array("ctx".utf8)
        let sealed = try vault.seal(Array("pii".utf8), subject: "customer-a", context: context)
        for i in 0..<(SubjectKeyVault.KeyCache.generation + 10) {
            _ = try vault.seal([0], subject: "session-\(i)", context: context)
        }
        // customer-a is now in the older generation.
        try vault.destroyKey(subject: "customer-a")
        #expect(try vault.open(sealed, subject: "customer-a", context: context) == nil)
        #expect(throws: KeyStoreError.self) { try vault.seal([1], subject: "customer-a", context: context) }

        let other = try vault.seal(Array("b".utf8), subject: "customer-b", context: context)
        let before = store.lookups(of: "customer-b")
        store.bumpRevision()
        #expect(try vault.open(other, subject: "customer-b", context: context) == Array("b".utf8))
        #expect(store.lookups(of: "customer-b") == before + 1)
    }
}
