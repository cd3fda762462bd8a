import Foundation
#if canImport(Glibc)
import Glibc
#endif

// A headless Chromium driven through the DevTools protocol over a pipe
// (`--remote-debugging-pipe`: JSON messages ended by NUL on fds 3 and 4),
// so the test needs no WebSocket client. Calls block on a thread of their
// own, never on the cooperative pool the server in the same process uses.

/// Where Debian's `chromium` is, or nil.
let chromiumPath: String? = {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
        for name in ["chromium", "chromium-browser"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
    }
    return nil
}()

struct ChromiumError: Error, CustomStringConvertible {
    var description: String
}

final class Chromium: @unchecked Sendable {
    // @unchecked: nextId, replies and closed are guarded by `arrived`;
    // session is written once, in init.
    private let pid: pid_t
    private let toBrowser: Int32
    private let fromBrowser: Int32
    private let arrived = NSCondition()
    private var nextId = 0
    private var replies: [Int: [String: Any]] = [:]
    private var closed = false
    private var session = ""
    /// Chromium's own output (stdout and stderr), for failure messages.
    let logPath: String

    /// Starts Chromium with a profile in `profileDirectory` and opens
    /// one page of 1400×1000 at `url`.
    init(path: String, profileDirectory: String, url: String) throws {
        logPath = profileDirectory + "/chromium.log"
        try FileManager.default.createDirectory(atPath: profileDirectory, withIntermediateDirectories: true)
        var down: [Int32] = [0, 0], up: [Int32] = [0, 0]
        guard pipe(&down) == 0, pipe(&up) == 0 else { throw ChromiumError(description: "pipe: \(errno)") }
        for fd in down + up { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }  // dup2 below clears it on 3 and 4
        guard down[0] > 4, up[1] > 4 else { throw ChromiumError(description: "pipe fds too low to move to 3 and 4") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        posix_spawn_file_actions_adddup2(&actions, down[0], 3)
        posix_spawn_file_actions_adddup2(&actions, up[1], 4)
        let args = [path, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                    "--user-data-dir=" + profileDirectory + "/profile", "--no-first-run", "--no-default-browser-check",
                    "--window-size=1400,1000", "about:blank"]
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, path, &actions, nil, &argv, environ)
        Glibc.close(down[0])
        Glibc.close(up[1])
        guard rc == 0 else {
            Glibc.close(down[1]); Glibc.close(up[0])
            throw ChromiumError(description: "cannot start \(path): \(String(cString: strerror(rc)))")
        }
        pid = child
        toBrowser = down[1]
        fromBrowser = up[0]
        let reader = Thread { [self] in readReplies() }
        reader.start()
        let target = try call("Target.createTarget", ["url": "about:blank"], inSession: false)
        guard let targetId = target["targetId"] as? String else { throw ChromiumError(description: "no targetId: \(target)") }
        let attached = try call("Target.attachToTarget", ["targetId": targetId, "flatten": true], inSession: false)
        guard let s = attached["sessionId"] as? String else { throw ChromiumError(description: "no sessionId: \(attached)") }
        session = s
        _ = try call("Emulation.setDeviceMetricsOverride", ["width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": false])
        _ = try call("Page.navigate", ["url": url])
    }

    /// Sends a DevTools command and waits (at most `timeout` seconds) for its reply's `result`.
    @discardableResult
    func call(_ method: String, _ params: [String: Any] = [:], inSession: Bool = true, timeout: Double = 30) throws -> [String: Any] {
        arrived.lock()
        nextId += 1
        let id = nextId
        arrived.unlock()
        var message: [String: Any] = ["id": id, "method": method, "params": params]
        if inSession { message["sessionId"] = session }
        var bytes = [UInt8](try JSONSerialization.data(withJSONObject: message))
        bytes.append(0)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(toBrowser, $0.baseAddress, $0.count) }
            guard n > 0 else { throw ChromiumError(description: "\(method): chromium closed its pipe; \(log())") }
            sent += n
        }
        let deadline = Date().addingTimeInterval(timeout)
        arrived.lock()
        defer { arrived.unlock() }
        while true {
            if let reply = replies.removeValue(forKey: id) {
                if let error = reply["error"] { throw ChromiumError(description: "\(method): \(error)") }
                return reply["result"] as? [String: Any] ?? [:]
            }
            if closed { throw ChromiumError(description: "\(method): chromium exited; \(log())") }
            guard arrived.wait(until: deadline) else { throw ChromiumError(description: "\(method): no reply in \(timeout) s") }
        }
    }

    /// The value of a JavaScript expression in the page (promises awaited), as JSON-able Swift values.
    func evaluate(_ expression: String) throws -> Any? {
        let r = try call("Runtime.evaluate", ["expression": expression, "returnByValue": true, "awaitPromise": true])
        if let e = r["exceptionDetails"] { throw ChromiumError(description: "\(expression): \(e)") }
        return (r["result"] as? [String: Any])?["value"]
    }

    /// Evaluates `expression` until it is `true`, at most `timeout` seconds.
    func waitUntil(_ expression: String, timeout: Double = 20) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            // (false while the page is still loading, when it throws)
            if try evaluate("(() => { try { return (\(expression)) === true } catch (_) { return false } })()") as? Bool == true { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw ChromiumError(description: "not true within \(timeout) s: \(expression)")
    }

    /// A PNG of the page as it is now.
    func screenshot() throws -> Data {
        let r = try call("Page.captureScreenshot", ["format": "png"])
        guard let b64 = r["data"] as? String, let data = Data(base64Encoded: b64) else {
            throw ChromiumError(description: "no screenshot data")
        }
        return data
    }

    func close() {
        _ = try? call("Browser.close", inSession: false, timeout: 5)
        Glibc.close(toBrowser)
        var status: Int32 = 0
        for _ in 0..<50 {
            if waitpid(pid, &status, WNOHANG) == pid { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
    }

    private func log() -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return "its output: " + text.suffix(2000)
    }

    /// Reads NUL-ended messages until the pipe closes; keeps the replies (events are dropped).
    private func readReplies() {
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fromBrowser, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            pending += buffer[0..<n]
            while let end = pending.firstIndex(of: 0) {
                let message = Data(pending[..<end])
                pending.removeSubrange(...end)
                guard let object = try? JSONSerialization.jsonObject(with: message) as? [String: Any],
                      let id = object["id"] as? Int else { continue }
                arrived.lock()
                replies[id] = object
                arrived.broadcast()
                arrived.unlock()
            }
        }
        Glibc.close(fromBrowser)
        arrived.lock()
        closed = true
        arrived.broadcast()
        arrived.unlock()
    }

    /// Runs `body` on a thread of its own (the calls block).
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { c in
            Thread { c.resume(with: Result { try body() }) }.start()
        }
    }
}
