import Foundation
@testable import ChronikLog

/// A fresh temporary directory, removed when the test ends (via `defer`).
func makeTempDir(_ name: String = #function) -> String {
    let base = FileManager.default.temporaryDirectory.path + "/chronik-tests"
    try? FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
    let dir = base + "/" + name.filter { $0.isLetter || $0.isNumber } + "-" + UUID().uuidString.prefix(8)
    return dir
}

func removeDir(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

func event(_ type: String = "Tested", _ text: String, id: EventID = .random()) -> ProposedEvent {
    ProposedEvent(id: id, type: type, data: Array(text.utf8), metadata: Array("{\"actor\":\"test\"}".utf8),
                  occurredAt: Timestamp(microseconds: 1_700_000_000_000_000))
}
