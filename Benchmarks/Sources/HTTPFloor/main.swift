// The HTTP stack's own floor, beside `chronik serve` (scripts/http-bench.py
// --only floor): a bare Hummingbird 2 application with no middleware, no
// logging and two routes — `GET /health` answering the same body as
// Chronik's, and `POST /echo` collecting a body (up to 1 MiB) and answering
// a small JSON object, the shape of a 1-event append without the log.
// Prints "listening on http://127.0.0.1:PORT" on stderr once bound.
//
//   HTTPFloor [PORT]        (0 or nothing: a free port)
import Foundation
import Hummingbird
import Logging
import NIOCore

let port = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 0 : 0
var logger = Logger(label: "floor")
logger.logLevel = .critical

let router = Router()
router.get("health") { _, _ in
    Response(status: .ok, headers: [.contentType: "application/json"],
             body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
}
router.post("echo") { request, _ in
    let body = try await request.body.collect(upTo: 1 << 20)
    return Response(status: .ok, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(string: #"{"bytes":\#(body.readableBytes)}"#)))
}
let app = Application(
    router: router,
    configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "floor"),
    onServerRunning: { channel in
        FileHandle.standardError.write(Data("listening on http://127.0.0.1:\(channel.localAddress?.port ?? port)\n".utf8))
    },
    logger: logger)
try await app.runService()
