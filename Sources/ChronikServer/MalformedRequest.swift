import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Answers a request that is not valid HTTP/1.1 like every other error:
/// 400 with a JSON body that has a code (`badRequest`) and says what the
/// parser refused, then closes the connection (nothing after the bad bytes
/// can be read as a request). Hummingbird answered these with an empty 400
/// (stop 33's exploration), so a client saw the one error without a body.
///
/// Bad bytes after a good request on the same connection can be read
/// while that request is still being answered: the 400 then follows the
/// answer's end (`refused`), so that the two never interleave. Bad bytes
/// inside a body go on to the route that reads the body, which answers.
final class MalformedRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Requests whose head was read and whose answer has not ended.
    private var answering = 0
    /// A parser error read while an answer was under way: answered after it.
    private var refused: HTTPParserError?
    /// Whether a request's head was read and its end not yet: its body is
    /// being read by the route.
    private var bodyOpen = false
    /// Set by bad bytes inside a body: the route's answer says the
    /// connection closes (it does, after the answer).
    private var closesAfterAnswer = false

    /// Puts `HTTP10ConnectionHandler` before the codec.
    func handlerAdded(context: ChannelHandlerContext) {
        let pipeline = context.pipeline.syncOperations
        if let codec = try? pipeline.handler(type: HTTP1ToHTTPServerCodec.self) {
            try? pipeline.addHandler(HTTP10ConnectionHandler(), position: .before(codec))
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: answering += 1; bodyOpen = true
        case .end: bodyOpen = false
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let part = unwrapOutboundIn(data)
        if closesAfterAnswer, case .head(var head) = part, head.status.kind != .informational {
            head.headerFields[.connection] = "close"
            return context.write(wrapOutboundOut(.head(head)), promise: promise)
        }
        guard case .end = part else { return context.write(data, promise: promise) }
        answering = max(0, answering - 1)
        context.write(data, promise: promise)
        if answering == 0, let e = refused {
            refused = nil
            refuse(context, e)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Bad bytes inside a body (a chunk size that is not a number) end
        // the body the route is reading: the route answers the error.
        guard let parse = error as? HTTPParserError else { return context.fireErrorCaught(error) }
        if bodyOpen {
            closesAfterAnswer = true
            return context.fireErrorCaught(error)
        }
        if answering > 0 {
            if refused == nil { refused = parse }
        } else {
            refuse(context, parse)
        }
    }

    /// Writes the 400 and closes the connection once it is sent.
    private func refuse(_ context: ChannelHandlerContext, _ parse: HTTPParserError) {
        let e = ServerError(.badRequest, "badRequest",
                            "the request is not valid HTTP/1.1: \(Self.reason(parse)); the connection is closed")
        let body = ByteBuffer(string: e.json + "\n")
        var head = HTTPResponse(status: .badRequest)
        head.headerFields[.contentType] = "application/json"
        head.headerFields[.contentLength] = String(body.readableBytes)
        head.headerFields[.connection] = "close"
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        let loopBound = context.loopBound
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in loopBound.value.close(promise: nil) }
    }

    /// What the parser refused, in words.
    static func reason(_ e: HTTPParserError) -> String {
        switch e {
        case .invalidHeaderToken: "a header line is not 'Name: value'"
        case .invalidContentLength, .unexpectedContentLength: "Content-Length is not a number, or not allowed here"
        case .headerOverflow: "the header is too large"
        case .invalidMethod: "the request line does not start with a method"
        case .invalidURL, .invalidPath, .invalidQueryString, .invalidHost, .invalidPort, .invalidFragment:
            "the request target is not a valid URL"
        case .invalidVersion: "the request line does not end in HTTP/1.1"
        case .invalidChunkSize: "a chunk size of the body is not a hexadecimal number"
        case .invalidCharactersUsed, .strictModeAssertion, .lfExpected, .invalidConstant:
            "it holds a character or line ending HTTP does not allow there"
        default: "\(e)"
        }
    }
}

/// Closes the connection after the answer to an HTTP/1.0 request that did
/// not ask to keep it (`Connection: keep-alive`), as RFC 9112 §9.3 says,
/// and says so in the answer. Hummingbird kept every connection open, so
/// an HTTP/1.0 client that reads the answer until the connection closes
/// (ApacheBench without -k, scripts on raw sockets) waited for the idle
/// timeout. It sits before the HTTP/1 → HTTP types codec, where the
/// request's version is still known; `MalformedRequestHandler` puts it there.
final class HTTP10ConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Each request read and not yet answered, in order: whether its
    /// answer ends the connection, and whether it is HTTP/1.0 — answered as
    /// HTTP/1.0, so that a body of unknown length is not chunked (RFC 9112
    /// §6.1: no Transfer-Encoding to an HTTP/1.0 client; stop 35: /subscribe
    /// and /export sent chunk sizes into the stream) but ends with the
    /// connection.
    private var pending: [(close: Bool, http10: Bool)] = []
    /// The Host headers of an HTTP/1.1 request without exactly one, once
    /// read: it and everything after it are dropped, and once the requests
    /// before it are answered it gets a 400 and the connection closes (RFC
    /// 9112 §3.2: "A server MUST respond with a 400 … to any HTTP/1.1
    /// request message that lacks a Host header field and to any request
    /// message that contains more than one Host header field"; stop 34's
    /// exploration: it was answered 200).
    private var refusedHosts: Int?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard refusedHosts == nil else { return }
        if case .head(let head) = unwrapInboundIn(data) {
            let hosts = head.headers["host"].count
            if hosts > 1 || (hosts == 0 && head.version == .http1_1) {
                refusedHosts = hosts
                if pending.isEmpty { refuseHost(context, hosts) }
                return
            }
            let old = head.version.major == 1 && head.version.minor == 0
            pending.append((old && !head.isKeepAlive, old))
        }
        context.fireChannelRead(data)
    }

    private func refuseHost(_ context: ChannelHandlerContext, _ hosts: Int) {
        let e = ServerError(.badRequest, "badRequest",
                            hosts == 0 ? "an HTTP/1.1 request needs a Host header; the connection is closed"
                                       : "the request has \(hosts) Host headers, it may have one; the connection is closed")
        let body = ByteBuffer(string: e.json + "\n")
        var head = HTTPResponseHead(version: .http1_1, status: .badRequest)
        head.headers.add(name: "content-type", value: "application/json")
        head.headers.add(name: "content-length", value: String(body.readableBytes))
        head.headers.add(name: "connection", value: "close")
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        let loopBound = context.loopBound
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in loopBound.value.close(promise: nil) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status.code >= 200 && pending.first?.http10 == true:
            // NIO's encoder frames an HTTP/1.0 answer of unknown length by
            // closing the connection, never by chunks.
            head.version = .http1_0
            if !head.headers.contains(name: "content-length") || pending[0].close {
                head.headers.remove(name: "transfer-encoding")
                head.headers.replaceOrAdd(name: "connection", value: "close")
                pending[0].close = true
            } else {
                head.headers.replaceOrAdd(name: "connection", value: "keep-alive")  // as the client asked
            }
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .head(var head) where head.status.code >= 200 && pending.first?.close == true:
            head.headers.replaceOrAdd(name: "connection", value: "close")
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end where !pending.isEmpty:
            let close = pending.removeFirst().close
            if !close, let hosts = refusedHosts, pending.isEmpty {
                context.write(data, promise: promise)
                return refuseHost(context, hosts)
            }
            guard close else { return context.write(data, promise: promise) }
            let loopBound = context.loopBound
            context.write(data).whenComplete { result in
                promise?.completeWith(result)
                loopBound.value.close(promise: nil)
            }
        default:
            context.write(data, promise: promise)
        }
    }
}
