import ChronikLog
import ChronikPostgres
import Foundation

/// `ChronikPostgresChild reserve URL SKU ATTEMPTS`: the multi-writer guard
/// as a command handler does it — read `stock-{sku}`, decide, append
/// `StockReserved` with the expected version it read; on a conflict, read
/// again and decide again. Prints `reserved <position>` per success and
/// `soldout` when the stream says nothing is left.
enum Reserve {
    static func stock(_ events: [RecordedEvent]) -> Int {
        events.reduce(0) { total, e in
            let qty = (try? JSONSerialization.jsonObject(with: Data(e.data)) as? [String: Int])?["qty"] ?? 0
            return total + (e.type == "StockReceived" ? qty : -qty)
        }
    }

    static func run(url: String, sku: String, attempts: Int) async throws {
        let store = try PostgresStore(url: url)
        let stream = "stock-\(sku)"
        var done = 0
        var conflicts = 0
        while done < attempts {
            let events = try await store.readStream(stream, from: StreamVersion(0), limit: .max)
            guard stock(events) > 0 else { print("soldout"); break }
            let expected: ExpectedVersion = events.last.map { .exact($0.version.value) } ?? .noStream
            do {
                let r = try await store.append(to: stream, [ProposedEvent(type: "StockReserved", data: Array("{\"qty\":1}".utf8))],
                                               expected: expected)
                print("reserved \(r.firstPosition)")
                done += 1
            } catch let e as ChronikLogError where e.code == .wrongExpectedVersion {
                conflicts += 1
            }
        }
        FileHandle.standardError.write(Data("conflicts \(conflicts)\n".utf8))
        await store.close()
    }
}
