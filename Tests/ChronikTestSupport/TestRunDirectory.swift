import Foundation

/// Removes a test process's own temporary directory (at exit): every
/// directory under it made writable first, since some tests leave a log
/// read-only on purpose.
public func removeTestRunDirectory(_ path: String) {
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
