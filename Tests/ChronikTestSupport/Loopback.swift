// Loopback helpers the test targets share: a connected socket, a free
// port, and one plain HTTP/1.1 request (for tests that drive a real
// `chronik serve` process).

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TCP socket connected to 127.0.0.1:`port`, reads timing out after
/// `receiveTimeoutSeconds`; nil when nothing listens there.
public func connectLoopback(port: Int, receiveTimeoutSeconds: Int, receiveBuffer: Int32? = nil) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    if var size = receiveBuffer {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }
    var tv = timeval(tv_sec: receiveTimeoutSeconds, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var addr = loopbackAddress(port: port)
    let rc = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard rc == 0 else {
        close(fd)
        return nil
    }
    return fd
}

/// A free TCP port on 127.0.0.1 (the kernel's choice, released at once);
/// nil when the kernel gives none.
public func freePort() -> Int? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var addr = loopbackAddress(port: 0)
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p in bind(fd, p, len) == 0 && getsockname(fd, p, &len) == 0 }
    }
    return bound ? Int(UInt16(bigEndian: addr.sin_port)) : nil
}

func loopbackAddress(port: Int) -> sockaddr_in {
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    return addr
}

/// One HTTP/1.1 request on loopback with `Connection: close`; nil when the
/// server cannot be reached. `untilBodyContains` stops reading a stream
/// (a subscription) once the body holds it.
public struct HTTPReply: Sendable {
    public var status: Int
    public var body: String

    /// `error.code` of an error body.
    public var errorCode: String? {
        let o = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
        return (o?["error"] as? [String: Any])?["code"] as? String
    }
}

public func http(_ port: Int, _ method: String, _ path: String, _ body: String = "", headers: [String] = [],
          untilBodyContains marker: String? = nil, timeoutSeconds: Int = 20) async -> HTTPReply? {
    await withCheckedContinuation { c in
        DispatchQueue.global().async {
            c.resume(returning: blockingHTTP(port, method, path, body, headers, marker, timeoutSeconds))
        }
    }
}

private func blockingHTTP(_ port: Int, _ method: String, _ path: String, _ body: String, _ headers: [String],
                          _ marker: String?, _ timeoutSeconds: Int) -> HTTPReply? {
    guard let fd = connectLoopback(port: port, receiveTimeoutSeconds: timeoutSeconds) else { return nil }
    defer { close(fd) }
    var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    for h in headers { head += h + "\r\n" }
    if method == "POST" { head += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
    let request = Array((head + "\r\n" + body).utf8)
    let sent = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    guard sent == request.count else { return nil }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 8192)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 8192, 0) }
        if n <= 0 { break }
        response += buffer[0..<n]
        // A frame is complete at its blank line.
        if let marker, let r = String(decoding: response, as: UTF8.self).range(of: marker),
           String(decoding: response, as: UTF8.self)[r.upperBound...].contains("\n\n") { break }
    }
    guard let split = find([13, 10, 13, 10], in: response[...]) else { return nil }
    let headers = String(decoding: response[..<split], as: UTF8.self)
    guard let status = Int(headers.split(separator: " ").dropFirst().first ?? "") else { return nil }
    var payload = response[(split + 4)...]
    if headers.lowercased().contains("transfer-encoding: chunked") { payload = dechunk(payload) }
    return HTTPReply(status: status, body: String(decoding: payload, as: UTF8.self))
}

/// Where `needle` starts in `bytes`.
private func find(_ needle: [UInt8], in bytes: ArraySlice<UInt8>) -> Int? {
    guard bytes.count >= needle.count else { return nil }
    var i = bytes.startIndex
    while i + needle.count <= bytes.endIndex {
        if bytes[i..<(i + needle.count)].elementsEqual(needle) { return i }
        i += 1
    }
    return nil
}

/// The body of a chunked response (sizes in hex, CRLF after each); a
/// last chunk not read completely is kept as far as it was read.
private func dechunk(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
    var out: [UInt8] = []
    var rest = bytes
    while let eol = find([13, 10], in: rest), let size = Int(String(decoding: rest[..<eol], as: UTF8.self), radix: 16), size > 0 {
        let start = eol + 2
        let end = min(start + size, rest.endIndex)
        out += rest[start..<end]
        guard end + 2 <= rest.endIndex else { break }
        rest = rest[(end + 2)...]
    }
    return out[...]
}
