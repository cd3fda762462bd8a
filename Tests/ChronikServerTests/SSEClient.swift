import ChronikTestSupport
import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.1 client for one Server-Sent Events response over a
/// loopback socket: blocking reads on a queue of its own, with a timeout,
/// de-chunked, split into events. It reads only when asked, so a test can
/// be a slow consumer.
final class SSEClient: @unchecked Sendable {
    // @unchecked: used by one test task at a time; reads run on `queue`.
    struct Event: Equatable { var id: UInt64?; var data: String }

    private let fd: Int32
    private let queue = DispatchQueue(label: "sse-client")
    private var raw: [UInt8] = []
    private var body: [UInt8] = []
    private var headersDone = false
    private(set) var status = 0
    private(set) var headers: [String: String] = [:]
    /// Comment lines seen (heartbeats).
    private(set) var comments: [String] = []

    init(port: Int, path: String, headers extra: [String: String] = [:], receiveBuffer: Int32? = nil) throws {
        guard let fd = connectLoopback(port: port, receiveTimeoutSeconds: 10, receiveBuffer: receiveBuffer) else {
            throw POSIXError(.ECONNREFUSED)
        }
        self.fd = fd
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        for (k, v) in extra { request += "\(k): \(v)\r\n" }
        request += "\r\n"
        let bytes = Array(request.utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    deinit { Glibc.close(fd) }

    func close() { shutdown(fd, Int32(SHUT_RDWR)) }

    /// How long a test waits for an event it expects. Generous: in CI every
    /// suite runs in one process on 2 cores, where a subscription test took
    /// 62–69 s in all (stop 31) and once missed a 10 s wait. A test that
    /// expects no event passes its own short timeout.
    static let patience: Duration = .seconds(30)

    /// The next event, or nil when the stream ended or `timeout` passed.
    func next(timeout: Duration = SSEClient.patience) async -> Event? {
        await withCheckedContinuation { c in
            queue.async { c.resume(returning: self.blockingNext(deadline: .now + timeout)) }
        }
    }

    /// The next `n` events (fewer on timeout).
    func events(_ n: Int, timeout: Duration = SSEClient.patience) async -> [Event] {
        var out: [Event] = []
        while out.count < n, let e = await next(timeout: timeout) { out.append(e) }
        return out
    }

    private func blockingNext(deadline: ContinuousClock.Instant) -> Event? {
        while ContinuousClock.now < deadline {
            if let e = takeEvent() { return e }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 4096, 0) }
            if n == 0 { return takeEvent() }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                return nil
            }
            raw += chunk[0..<n]
            decode()
            if headersDone && status != 200 { return nil }
        }
        return nil
    }

    /// Moves what arrived from `raw` (headers, then chunks) into `body`.
    private func decode() {
        if !headersDone {
            guard let end = find([13, 10, 13, 10], in: raw) else { return }
            let head = String(decoding: raw[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
            status = Int(head.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
            for line in head.dropFirst() {
                if let colon = line.firstIndex(of: ":") {
                    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
            }
            raw.removeFirst(end + 4)
            headersDone = true
        }
        while let lineEnd = find([13, 10], in: raw) {
            let sizeText = String(decoding: raw[0..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText, radix: 16) else { return }
            guard raw.count >= lineEnd + 2 + size + 2 else { return }
            body += raw[(lineEnd + 2)..<(lineEnd + 2 + size)]
            raw.removeFirst(lineEnd + 2 + size + 2)
        }
    }

    /// One complete event (up to a blank line) from `body`.
    private func takeEvent() -> Event? {
        while let end = find([10, 10], in: body) {
            let block = String(decoding: body[0..<end], as: UTF8.self)
            body.removeFirst(end + 2)
            var event = Event(id: nil, data: "")
            var hasData = false
            for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix(":") { comments.append(String(line)); continue }
                if line.hasPrefix("id: ") { event.id = UInt64(line.dropFirst(4)) }
                if line.hasPrefix("data: ") { event.data += line.dropFirst(6); hasData = true }
            }
            if hasData { return event }
        }
        return nil
    }

    private func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] {
            if Array(hay[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }
}
