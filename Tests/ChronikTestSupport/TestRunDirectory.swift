import Foundation
import Synchronization

/// A directory of this test process's own under the temporary directory's
/// `name` (`chronik-cli-tests/run-PID-…`), removed when the process exits:
/// what a test leaves (its input files, a log of a test that failed before
/// its clean-up) does not pile up in /tmp run after run.
public func makeTestRunDirectory(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.path + "/\(name)/run-\(getpid())-\(UUID().uuidString.prefix(8))"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    runDirectories.withLock { dirs in
        if dirs.isEmpty { atexit { for dir in runDirectories.withLock({ $0 }) { removeTestRunDirectory(dir) } } }
        dirs.append(dir)
    }
    return dir
}

private let runDirectories = Mutex<[String]>([])

/// Removes a test process's own temporary directory (at exit): every
/// directory under it made writable first, since some tests leave a log
/// read-only on purpose.
func removeTestRunDirectory(_ path: String) {
    let fm = FileManager.default
    _ = chmod(path, 0o755)
    if let items = fm.enumerator(atPath: path) {
        for case let item as String in items {
            let full = path + "/" + item
            var isDirectory: ObjCBool = false
            if fm.fileExists(atPath: full, isDirectory: &isDirectory), isDirectory.boolValue { _ = chmod(full, 0o755) }
        }
    }
    try? fm.removeItem(atPath: path)
}
