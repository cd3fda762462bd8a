import ChronikLog
import ChronikServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Subprocess
import Testing

/// Proves the append and read routes map onto the log with every status
/// code of docs/SERVER.md: positions and versions, optimistic concurrency,
/// idempotent retries, all-or-nothing bad input, paging.
@Suite struct AppendReadTests {
    static let note = #"{"type":"NoteAdded","data":{"text":"hi"}}"#

    @Test func appendReturnsPositionsAndVersionAndReadsBack() async throws {
        try await withServer { server, client in
            let r = try await client.post("/streams/notes-1", "[\(Self.note),\(Self.note)]")
            #expect(r.status == .created, "\(r.text)")
            #expect(r.json["positions"] as? [Int] == [0, 1])
            #expect(r.json["version"] as? Int == 1)
            #expect(r.json["duplicate"] as? Bool == false)
            #expect(server.log.head.value == 2)

            let read = try await client.get("/streams/notes-1")
            #expect(read.status == .ok)
            let events = read.json["events"] as? [[String: Any]] ?? []
            #expect(events.map { $0["version"] as? Int } == [0, 1])
            #expect((events.first?["data"] as? [String: Any])?["text"] as? String == "hi")

            // The same JSON as `chronik read --json`.
            let one = try await client.get("/events/1")
            #expect(one.status == .ok)
            let recorded = try #require(try server.log.event(at: Position(1)))
            #expect(one.text == eventJSON(recorded) + "\n")
        }
    }

    @Test func everyEventsExpectedVersionIsChecked() async throws {
        // Proves stop 34's finding: an expectedVersion on an event after the first was ignored (201 with 999).
        try await withServer { server, client in
            _ = try await client.post("/streams/s", "[\(Self.note)]")  // s at version 0
            func batch(_ second: String) -> String {
                "[\(Self.note),{\"type\":\"NoteAdded\",\"data\":{},\"expectedVersion\":\(second)}]"
            }
            let wrong = try await client.post("/streams/s", batch("999"))
            #expect(wrong.status == .conflict && wrong.error["code"] as? String == "wrongExpectedVersion", "\(wrong.text)")
            let never = try await client.post("/streams/s", batch("\"noStream\""))
            #expect(never.status == .badRequest && never.error["code"] as? String == "invalidExpectedVersion", "\(never.text)")
            let clash = try await client.post("/streams/s", #"{"expectedVersion":0,"events":\#(batch("5"))}"#)
            #expect(clash.status == .badRequest && clash.error["code"] as? String == "invalidExpectedVersion", "\(clash.text)")
            #expect(server.log.head.value == 1)
            // Before the second event s is at version 1: right, written.
            let right = try await client.post("/streams/s", batch("1"))
            #expect(right.status == .created && right.json["version"] as? Int == 2, "\(right.text)")
            // On a new stream, version 0 before the second event means no stream before the batch.
            let fresh = try await client.post("/streams/t", batch("0"))
            #expect(fresh.status == .created, "\(fresh.text)")
            let taken = try await client.post("/streams/t", batch("0"))
            #expect(taken.status == .conflict, "\(taken.text)")
        }
    }

    @Test func aPageEndsAtSixteenMebibytesAndSaysWhereToGoOn() async throws {
        // Proves stop 34's finding: a page of large events was limited by count only (25 events of 4 MB: one
        // 100 MB answer, built in memory). Now it ends once its events hold 16 MiB; `next` goes on from there.
        try await withServer { server, client in
            let big = String(repeating: "x", count: 2_000_000)
            for _ in 0..<10 {
                let r = try await client.post("/streams/big", "[{\"type\":\"Blob\",\"data\":{\"b\":\"\(big)\"}}]")
                try #require(r.status == .created, "\(r.text)")
            }
            let all = try await client.get("/all?limit=1000")
            let events = try #require(all.json["events"] as? [[String: Any]])
            #expect(events.count == 8 && all.json["next"] as? Int == 8, "\(events.count) \(String(describing: all.json["next"]))")
            let rest = try await client.get("/all?from=8&limit=1000")
            #expect((rest.json["events"] as? [[String: Any]])?.count == 2 && rest.json["next"] as? Int == 10)
            let stream = try await client.get("/streams/big?limit=100")
            #expect((stream.json["events"] as? [[String: Any]])?.count == 8 && stream.json["next"] as? Int == 8)
            let back = try await client.get("/streams/big?limit=100&direction=backward")
            #expect((back.json["events"] as? [[String: Any]])?.count == 8 && back.json["next"] as? Int == 1)
            #expect(server.log.head.value == 10)
        }
    }

    @Test func wrongExpectedVersionIs409WithTheCurrentVersion() async throws {
        try await withServer { server, client in
            _ = try await client.post("/streams/s", "[\(Self.note)]")
            let body = try await client.post("/streams/s", #"{"expectedVersion":5,"events":[\#(Self.note)]}"#)
            #expect(body.status == .conflict)
            #expect(body.error["code"] as? String == "wrongExpectedVersion")
            #expect(body.error["currentVersion"] as? Int == 0)
            #expect(body.error["expectedVersion"] as? Int == 5, "a number, as given (stop 35: the string \"5\"): \(body.text)")
            // A later event's expectedVersion is named in its own terms, with its index (stop 35: "expected
            // version 4, actual 0", a number the caller never sent, and no index).
            let later = try await client.post("/streams/s", "[\(Self.note),{\"type\":\"NoteAdded\",\"data\":{},\"expectedVersion\":5}]")
            #expect(later.status == .conflict && later.error["index"] as? Int == 1, "\(later.text)")
            let message = later.error["message"] as? String ?? ""
            #expect(message.contains("event 1 expects 5 before it") && message.contains("the stream is at version 0"), "\(message)")
            // So is the field (stop 42, a helper: it was 4, the batch's).
            #expect(later.error["expectedVersion"] as? Int == 5, "\(later.text)")
            let contradicts = try await client.post("/streams/s", "[\(Self.note),{\"type\":\"NoteAdded\",\"data\":{},\"expectedVersion\":\"noStream\"}]")
            #expect(contradicts.status == .badRequest && contradicts.error["index"] as? Int == 1, "\(contradicts.text)")

            let header = try await client.post("/streams/s", "[\(Self.note)]", headers: [.ifMatch: "\"3\""])
            #expect(header.status == .conflict)
            #expect(header.error["currentVersion"] as? Int == 0)

            let ok = try await client.post("/streams/s", "[\(Self.note)]", headers: [.ifMatch: "0"])
            #expect(ok.status == .created)
            #expect(ok.json["version"] as? Int == 1)

            let fresh = try await client.post("/streams/new", #"{"expectedVersion":"noStream","events":[\#(Self.note)]}"#)
            #expect(fresh.status == .created)
            let again = try await client.post("/streams/new", #"{"expectedVersion":"noStream","events":[\#(Self.note)]}"#)
            #expect(again.status == .conflict)

            let both = try await client.post("/streams/s", #"{"expectedVersion":1,"events":[\#(Self.note)]}"#, headers: [.ifMatch: "2"])
            #expect(both.status == .badRequest)
            #expect(both.error["code"] as? String == "invalidExpectedVersion")
            // The first event's own expectedVersion against the request's (stop 33: overridden without a word).
            let own = #"{"type":"NoteAdded","expectedVersion":7,"data":{"text":"hi"}}"#
            for (body, ifMatch) in [("[\(own)]", "1"), (#"{"expectedVersion":1,"events":[\#(own)]}"#, nil)] {
                let r = try await client.post("/streams/s", body, headers: ifMatch.map { [.ifMatch: $0] } ?? [:])
                #expect(r.status == .badRequest && r.error["code"] as? String == "invalidExpectedVersion" && r.error["index"] as? Int == 0, "\(r.text)")
            }
            #expect(server.log.head.value == 3)
        }
    }

    @Test func sameIdSameContentIsARetryOtherContentIs409() async throws {
        try await withServer { server, client in
            let id = "00000000-0000-4000-8000-00000000000a"
            let event = #"{"id":"\#(id)","type":"NoteAdded","time":"2024-05-01T10:00:00Z","data":{"text":"hi"}}"#
            let first = try await client.post("/streams/n", "[\(event)]")
            #expect(first.status == .created)
            _ = try await client.post("/streams/n", "[\(Self.note)]")
            let retry = try await client.post("/streams/n", "[\(event)]")
            #expect(retry.status == .ok, "\(retry.text)")
            #expect(retry.json["positions"] as? [Int] == [0])
            #expect(retry.json["duplicate"] as? Bool == true)

            let other = #"{"id":"\#(id)","type":"NoteAdded","time":"2024-05-01T10:00:00Z","data":{"text":"bye"}}"#
            let clash = try await client.post("/streams/n", "[\(other)]")
            #expect(clash.status == .conflict)
            #expect(clash.error["code"] as? String == "duplicateEventId")
            #expect(server.log.head.value == 2)
            // The 409 names the event of the batch (stop 36: only the message did): the second one here.
            let a = #"{"id":"00000000-0000-4000-8000-0000000000b1","type":"NoteAdded","data":{"text":"a"}}"#
            let b = #"{"id":"00000000-0000-4000-8000-0000000000b2","type":"NoteAdded","data":{"text":"b"}}"#
            #expect(try await client.post("/streams/m", "[\(a),\(b)]").status == .created)
            let changed = try await client.post("/streams/m", "[\(a),\(b.replacingOccurrences(of: #""b"}"#, with: #""B"}"#))]")
            #expect(changed.status == .conflict && changed.error["code"] as? String == "duplicateEventId" && changed.error["index"] as? Int == 1, "\(changed.text)")
        }
    }

    @Test func aBadEventIs400NamingIndexAndFieldAndNothingIsWritten() async throws {
        try await withServer { server, client in
            let bad = #"[\#(Self.note),{"type":"NoteAdded","data":{},"time":"yesterday"}]"#
            let r = try await client.post("/streams/n", bad)
            #expect(r.status == .badRequest)
            #expect(r.error["index"] as? Int == 1)
            #expect(r.error["field"] as? String == "time")
            #expect(server.log.head.value == 0)

            let notJSON = try await client.post("/streams/n", "[{")
            #expect(notJSON.status == .badRequest)
            #expect(notJSON.error["code"] as? String == "invalidJSON")

            let mismatch = try await client.post("/streams/n", #"[{"stream":"m","type":"X","data":{}}]"#)
            #expect(mismatch.status == .badRequest)
            #expect(mismatch.error["code"] as? String == "streamMismatch")

            let empty = try await client.post("/streams/n", "[]")
            #expect(empty.status == .badRequest)

            // A commerce event goes through the guards of EVENTS.md: no stock.
            let oversold = try await client.post("/streams/stock-K1",
                #"[{"type":"StockReserved","time":"2024-05-01T10:00:00Z","data":{"sku":"K1","warehouseId":"W1","qty":2,"orderId":"o-1"}}]"#)
            #expect(oversold.status == .unprocessableContent, "\(oversold.text)")
            #expect(oversold.error["code"] as? String == "insufficientStock")
            #expect(server.log.head.value == 0)
        }
    }

    @Test func bodiesAreBounded() async throws {
        var config = ServerConfiguration()
        config.maxBodyBytes = 1000
        config.maxEventsPerRequest = 3
        try await withServer(configuration: config) { server, client in
            let big = #"[{"type":"NoteAdded","data":{"text":"\#(String(repeating: "x", count: 2000))"}}]"#
            let r = try await client.post("/streams/n", big)
            #expect(r.status == .contentTooLarge)
            #expect(r.error["code"] as? String == "bodyTooLarge")
            let many = try await client.post("/streams/n", "[" + Array(repeating: Self.note, count: 4).joined(separator: ",") + "]")
            #expect(many.status == .contentTooLarge)
            #expect(many.error["code"] as? String == "tooManyEvents")
            #expect(server.log.head.value == 0)
        }
    }

    static let chunkedPost = #"""
        import socket, sys
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
        s.settimeout(30)
        body = b'[{"type":"NoteAdded","data":{"text":"' + b'x' * 3000 + b'"}}]'
        chunks = b''.join(b'%x\r\n%s\r\n' % (len(body[i:i + 500]), body[i:i + 500]) for i in range(0, len(body), 500))
        s.sendall(b'POST /streams/n HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n' + chunks + b'0\r\n\r\n')
        data = b''
        while True:
            head, sep, rest = data.partition(b'\r\n\r\n')
            if sep:
                lengths = [int(l.split(b':')[1]) for l in head.split(b'\r\n') if l.lower().startswith(b'content-length:')]
                if lengths and len(rest) >= lengths[0]: break
            c = s.recv(65536)
            if not c: break
            data += c
        print(data.split(b'\r\n')[0].split(b' ')[1].decode(), b'"bodyTooLarge"' in data)
        """#

    @Test func aChunkedBodyPastTheLimitIs413() async throws {
        // Proves a helper's finding (stop 42): a chunked body (no Content-Length) past the limit was 500 internal
        // (NIOTooManyBytesError), which a client retries; with Content-Length it was 413.
        var config = ServerConfiguration()
        config.maxBodyBytes = 1000
        try await withServer(.live, configuration: config) { server, client in
            let port = try #require(client.port)
            let r = try await Subprocess.run(.name("python3"), arguments: Arguments(["-c", Self.chunkedPost, String(port)]),
                                             output: .string(limit: 1 << 16), error: .string(limit: 1 << 16))
            #expect(r.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == "413 True", "\(r.standardOutput)\(r.standardError)")
            #expect(server.log.head.value == 0)
        }
    }

    /// A client percent-encodes a stream name in the path (RFC 3986), as
    /// any HTTP library does for "é", a space or a "/": the server decodes
    /// it, so the stream is the one named, not "caf%C3%A9". Bad encodings
    /// and names that are not in NFC are 400, nothing written.
    @Test func pathSegmentsArePercentDecoded() async throws {
        try await withServer { server, client in
            let r = try await client.post("/streams/caf%C3%A9", "[\(Self.note)]")
            #expect(r.status == .created, "\(r.text)")
            #expect(r.json["stream"] as? String == "caf\u{E9}")
            #expect(try server.log.read(stream: "caf\u{E9}").collect().count == 1)
            let slash = try await client.post("/streams/a%20b%2Fc", "[\(Self.note)]")
            #expect(slash.json["stream"] as? String == "a b/c", "\(slash.text)")
            #expect(try server.log.read(stream: "a b/c").collect().count == 1)

            let read = try await client.get("/streams/caf%C3%A9")
            #expect(read.status == .ok, "\(read.text)")
            #expect((read.json["events"] as? [[String: Any]])?.map { $0["stream"] as? String } == ["caf\u{E9}"])

            let long = "/streams/" + String(repeating: "x", count: 257)
            for bad in ["/streams/bad%ZZ", "/streams/bad%FF", "/streams/bad%", "/streams/cafe%CC%81", "/streams/a%0Ab", "/streams/a%00", long] {
                let refused = try await client.post(bad, "[\(Self.note)]")
                #expect(refused.status == .badRequest, "\(bad): \(refused.text)")
                #expect(refused.error["code"] as? String == "invalidStreamName", "\(bad): \(refused.text)")
                #expect(refused.error["field"] as? String == "stream" && refused.error["index"] == nil, "\(bad): \(refused.text)")
            }
            #expect(server.log.head.value == 2)
            // Stop 33: a leading byte-order mark was dropped, and the append went to "bom"; stop 36: a name holding one
            // reads as another (a security review), so it is refused, and nothing goes to "bom" either.
            let bom = try await client.post("/streams/%EF%BB%BFbom", "[\(Self.note)]")
            #expect(bom.status == .badRequest && bom.error["code"] as? String == "invalidStreamName", "\(bom.text)")
            #expect(server.log.lastVersion(of: "bom") == nil)
            #expect(server.log.head.value == 2)
            // A name no log can hold is a bad request to read too, not an unknown stream.
            let readLong = try await client.get(long)
            #expect(readLong.status == .badRequest && readLong.error["code"] as? String == "invalidStreamName", "\(readLong.text)")
        }
    }

    /// Stop 39 (an i18n review): a body starting with a UTF-8 byte-order
    /// mark (a file saved by a Windows editor, sent with curl
    /// --data-binary) was 400 "unexpected character at byte 0", while
    /// `chronik import` and `append` take one.
    @Test func aBodyAfterAByteOrderMarkIsTaken() async throws {
        try await withServer(models: true) { server, client in
            let bom = "\u{FEFF}"
            let r = try await client.post("/streams/n", bom + "[\(Self.note)]")
            #expect(r.status == .created, "\(r.text)")
            let c = try await client.post("/commands", bom + #"{"type":"PageViewed","time":"2024-05-01T10:00:00Z","data":{"sessionId":"s-1","path":"/"}}"#)
            #expect(c.status == .created, "\(c.text)")
            #expect(server.log.head.value == 2)
            // Only at the start: a second one is not JSON.
            #expect(try await client.post("/streams/n", bom + bom + "[\(Self.note)]").status == .badRequest)
        }
    }

    /// Stop 39 (an i18n review): `POST /streams//double` appended to stream
    /// `double`, and a raw `#` in the request target became part of the
    /// stream's name. Both are refused, nothing written; `%23` and `%2F`
    /// inside a name still work.
    @Test func aTargetWithAnEmptySegmentOrAFragmentIsRefused() async throws {
        try await withServer { server, client in
            let double = try await client.post("/streams//double", "[\(Self.note)]")
            #expect(double.status == .notFound && (double.error["message"] as? String)?.contains("empty segment") == true, "\(double.text)")
            let fragment = try await client.post("/streams/raw%C3%A9#frag", "[\(Self.note)]")
            #expect(fragment.status == .badRequest && (fragment.error["message"] as? String)?.contains("%23") == true, "\(fragment.text)")
            #expect(try await client.get("/streams//double").status == .notFound)
            #expect(server.log.head.value == 0, "nothing written")
            let encoded = try await client.post("/streams/a%23b%2F%2Fc", "[\(Self.note)]")
            #expect(encoded.status == .created && encoded.json["stream"] as? String == "a#b//c", "\(encoded.text)")
            #expect(try await client.get("/health").status == .ok)
        }
    }

    /// A number beyond a double's range is refused at the door, naming the
    /// event, and nothing is written (stop 32: it was stored, then every
    /// read gave its data as null, which this API reserves for erased data,
    /// plus a dataBase64 the contract does not have).
    @Test func aNumberBeyondADoubleIsRefusedAndNothingWritten() async throws {
        try await withServer { server, client in
            for literal in ["1e309", "-1e400", "1" + String(repeating: "0", count: 400)] {
                let r = try await client.post("/streams/n", "[\(Self.note), {\"type\":\"N\",\"data\":{\"x\":\(literal)}}]")
                #expect(r.status == .badRequest, "\(literal): \(r.text)")
                #expect(r.error["code"] as? String == "invalidJSON", "\(literal): \(r.text)")
                #expect((r.error["message"] as? String)?.contains("number out of range") == true, "\(literal): \(r.text)")
            }
            #expect(server.log.head.value == 0)
            let fine = try await client.post("/streams/n", "[{\"type\":\"N\",\"data\":{\"x\":1e308,\"y\":1e-400}}]")
            #expect(fine.status == .created, "\(fine.text)")
            let read = try await client.get("/events/0")
            #expect(read.text.contains(#""data":{"x":1e308,"y":1e-400}"#), "\(read.text)")
        }
    }

    /// An event the log refuses for its own sake (too large, a type with a
    /// control character) is named by its index (stop 32: the index was
    /// only in the message).
    @Test func anEventTheLogRefusesIsNamedByItsIndex() async throws {
        try await withServer { server, client in
            let big = #"{"type":"N","data":{"pad":""# + String(repeating: "x", count: 4_300_000) + #""}}"#
            let tooLarge = try await client.post("/streams/s", "[\(Self.note), \(Self.note), \(big)]")
            #expect(tooLarge.status == .contentTooLarge && tooLarge.error["code"] as? String == "eventTooLarge", "\(tooLarge.text.prefix(300))")
            #expect(tooLarge.error["index"] as? Int == 2, "\(tooLarge.text.prefix(300))")
            let control = try await client.post("/streams/s", "[\(Self.note), {\"type\":\"a\\u0007b\",\"data\":{}}]")
            #expect(control.status == .badRequest && control.error["index"] as? Int == 1, "\(control.text)")
            #expect(server.log.head.value == 0)
        }
    }

    /// One id twice in one body is 400 naming the second event and the
    /// first, nothing written (stop 32: 409 from the log, without an index).
    @Test func anIdTwiceInOneBodyIsRefusedNamingBothEvents() async throws {
        try await withServer { server, client in
            let id = "0b7e5c1e-8d0f-4c1a-9a55-3c6a2d1f0e11"
            let e = #"{"id":"\#(id)","type":"N","data":{"k":1}}"#
            for body in ["[\(Self.note), \(e), \(Self.note), \(e)]", "{\"events\":[\(Self.note), \(e), \(Self.note), \(e)]}"] {
                let r = try await client.post("/streams/d", body)
                #expect(r.status == .badRequest, "\(r.text)")
                #expect(r.error["code"] as? String == "duplicateEventId" && r.error["index"] as? Int == 3 && r.error["field"] as? String == "id", "\(r.text)")
                #expect((r.error["message"] as? String)?.contains("of event 1") == true, "\(r.text)")
            }
            #expect(server.log.head.value == 0)
        }
    }

    /// Query strings are read as browsers and form encoders write them, and
    /// a mistake in one is said (stop 32): `+` is a space (Python's
    /// urlencode wrote `stream=sp+ace` and the server read "sp+ace"); a
    /// parameter twice, one the route does not take, a bad encoding, a
    /// boolean other than true or false are 400 naming the parameter.
    @Test func queryStringsAreDecodedAsFormsAndMistakesAreSaid() async throws {
        try await withServer(models: true) { _, client in
            _ = try await client.post("/streams/sp%20ace", "[\(Self.note)]")
            _ = try await client.post("/streams/a%2Bb", "[\(Self.note)]")
            let spaced = try await client.get("/export?stream=sp+ace")
            #expect(spaced.status == .ok && spaced.text.contains(#""stream":"sp ace""#), "\(spaced.text)")
            let plus = try await client.get("/export?stream=a%2Bb")
            #expect(plus.status == .ok && plus.text.contains(#""stream":"a+b""#) && !plus.text.contains("sp ace"), "\(plus.text)")
            for (uri, field) in [("/all?limit=1&limit=2", "limit"), ("/all?direction=backward", "direction"), ("/all?limt=5", "limt"),
                                 ("/streams/sp%20ace?frm=0", "frm"), ("/subscribe?stream=a%FF", "stream"),
                                 ("/models/inventory?low=yes", "low"), ("/models/search?zeroResults=1", "zeroResults"),
                                 ("/models/orders?bogus=1", "bogus"),
                                 // stop 34: /stats took any parameter; /stats/orders takes only waitFor and timeoutMs.
                                 ("/stats?x=1", "x"), ("/stats/orders?limit=5", "limit"),
                                 // Another model's filter, and a list filter on one item (stop 33: answered as if absent).
                                 ("/models/customers?low=true", "low"), ("/models/finance?sku=x", "sku"),
                                 ("/models/orders/o-1?status=placed", "status")] {
                let r = try await client.get(uri)
                #expect(r.status == .badRequest, "\(uri): \(r.text)")
                #expect(r.error["code"] as? String == "invalidParameter" && r.error["field"] as? String == field, "\(uri): \(r.text)")
            }
            #expect(try await client.get("/models/inventory?low=true&limit=3").status == .ok)
            #expect(try await client.get("/models/finance?waitFor=0&limit=2").status == .ok)
            for uri in ["/models/fraud?limit=abc", "/models/search?limit=0"] {
                let r = try await client.get(uri)
                #expect(r.status == .badRequest && r.error["code"] as? String == "invalidLimit", "\(uri): \(r.text)")
            }
        }
    }

    /// A route that takes no query parameters refuses one, before it does
    /// anything (stop 33: `POST /customers/{id}/forget?dryRun=true` erased
    /// the customer; `POST /streams/s?expectedVersion=5` appended with no
    /// check); and `POST /commands` takes `If-Match` as `POST /streams`
    /// does (it was ignored, even when not a version).
    @Test func routesWithoutParametersRefuseThemAndCommandsTakeIfMatch() async throws {
        try await withServer(models: true) { server, client in
            #expect(try await client.post("/streams/s", "[\(Self.note)]").status == .created)
            let head = server.log.head.value
            for (method, uri) in [(HTTPRequest.Method.post, "/streams/s?expectedVersion=5"), (.post, "/commands?dryRun=true"),
                                  (.post, "/customers/c1/forget?dryRun=true"), (.post, "/digest?x=1"), (.get, "/events/0?x=1"),
                                  (.get, "/health?x"), (.get, "/ready?x=1"), (.get, "/metrics?x=1"),
                                  (.get, "/customers/c1/subject-export?x=1")] {
                let r = try await client.execute(uri: uri, method: method, body: ByteBuffer(string: "[\(Self.note)]"))
                #expect(r.status == .badRequest, "\(method) \(uri): \(r.text)")
                #expect(r.error["code"] as? String == "invalidParameter", "\(method) \(uri): \(r.text)")
            }
            #expect(server.log.head.value == head)
            let stock = #"{"type":"StockReceived","time":"2024-05-01T09:00:00Z","data":{"sku":"SKU-1","warehouseId":"W1","qty":5}}"#
            #expect(try await client.post("/commands", stock).status == .created)
            var r = try await client.post("/commands", stock, headers: [.ifMatch: "garbage"])
            #expect(r.status == .badRequest && r.error["code"] as? String == "invalidExpectedVersion", "\(r.text)")
            r = try await client.post("/commands", stock, headers: [.ifMatch: "5"])
            #expect(r.status == .conflict && r.error["code"] as? String == "wrongExpectedVersion", "\(r.text)")
            #expect(server.log.head.value == head + 1)
            r = try await client.post("/commands", stock, headers: [.ifMatch: "0"])
            #expect(r.status == .created, "\(r.text)")
        }
    }

    /// A path the API has, asked with a method it does not answer there,
    /// is 405 with `Allow` (RFC 9110), not 404 as if it did not exist;
    /// HEAD answers every GET route without a body.
    @Test func otherMethodsAre405WithAllowAndHeadAnswersGetRoutes() async throws {
        try await withServer { server, client in
            _ = try await client.post("/streams/s", "[\(Self.note)]")
            for (method, uri, allow) in [(HTTPRequest.Method.delete, "/streams/s", "GET, HEAD, POST"),
                                         (.put, "/all", "GET, HEAD"), (.get, "/commands", "POST"),
                                         (.post, "/models/orders/o-1", "GET, HEAD"), (.patch, "/events/0", "GET, HEAD")] {
                let r = try await client.execute(uri: uri, method: method)
                #expect(r.status == .methodNotAllowed, "\(method) \(uri): \(r.text)")
                #expect(r.headers[.allow] == allow, "\(method) \(uri)")
                #expect(r.error["code"] as? String == "methodNotAllowed", "\(method) \(uri)")
            }
            #expect(try await client.execute(uri: "/no/such/route", method: .delete).status == .notFound)
            #expect(try await client.execute(uri: "/streams/s/extra", method: .get).status == .notFound)
            // Stop 38 (a newcomer): a 404 of the router names the route, a near one, and where the routes are.
            let typo = try await client.execute(uri: "/stream/notes-1", method: .get)
            #expect(typo.status == .notFound && typo.error["message"] as? String
                    == "no route GET /stream/notes-1: did you mean /streams/notes-1? (the routes: GET /openapi.json, or docs/SERVER.md)", "\(typo.text)")
            // Counted under the route's pattern (stop 32: under "NotFound").
            let metrics = try await client.get("/metrics").text
            #expect(metrics.contains(#"route="/streams/{stream}",method="DELETE",status="405""#)
                    || metrics.contains(#"method="DELETE",route="/streams/{stream}",status="405""#), "\(metrics)")

            let get = try await client.get("/streams/s")
            let head = try await client.execute(uri: "/streams/s", method: .head)
            #expect(head.status == .ok)
            #expect(head.body.readableBytes == 0)
            #expect(head.headers[.contentType] == get.headers[.contentType])
            #expect(try await client.execute(uri: "/streams/nope", method: .head).status == .notFound)
            // A streaming route's HEAD answers its headers and returns (the
            // subscription lives in the body, which HEAD never starts).
            let sse = try await client.execute(uri: "/subscribe?from=0", method: .head)
            #expect(sse.status == .ok && sse.headers[.contentType] == "text/event-stream" && sse.body.readableBytes == 0)
            #expect(server.log.head.value == 1, "nothing was appended by the refused methods")
        }
    }

    @Test func readsPageAndUnknownThingsAre404() async throws {
        try await withServer { _, client in
            for i in 0..<5 {
                _ = try await client.post("/streams/s-\(i % 2)", "[\(Self.note)]")
            }
            let page = try await client.get("/all?from=1&limit=2")
            #expect(page.status == .ok)
            #expect((page.json["events"] as? [[String: Any]])?.map { $0["position"] as? Int } == [1, 2])
            #expect(page.json["next"] as? Int == 3)
            let tail = try await client.get("/all?from=3&limit=100")
            #expect(tail.json["next"] as? Int == 5)
            // At the head: an empty page to poll on; past it: refused, as /subscribe does (stop 33).
            let atHead = try await client.get("/all?from=5")
            #expect(atHead.status == .ok && atHead.json["next"] as? Int == 5 && (atHead.json["events"] as? [Any])?.isEmpty == true)
            let past = try await client.get("/all?from=6")
            #expect(past.status == .badRequest && past.error["code"] as? String == "invalidPosition", "\(past.text)")

            let stream = try await client.get("/streams/s-0?limit=2")
            #expect(stream.json["next"] as? Int == 2)
            let back = try await client.get("/streams/s-0?direction=backward&limit=1")
            #expect((back.json["events"] as? [[String: Any]])?.first?["version"] as? Int == 2)

            #expect(try await client.get("/streams/nope").status == .notFound)
            #expect(try await client.get("/events/99").error["code"] as? String == "eventNotFound")
            #expect(try await client.get("/events/x").status == .badRequest)
            #expect(try await client.get("/all?limit=0").error["code"] as? String == "invalidLimit")
            // One code for any bad limit, and a number too large is said as such (stop 35).
            for limit in ["-1", "abc", "5000"] {
                let r = try await client.get("/all?limit=\(limit)")
                #expect(r.error["code"] as? String == "invalidLimit" && (r.error["message"] as? String)?.contains("1...") == true, "\(limit): \(r.text)")
            }
            let huge = try await client.get("/all?from=99999999999999999999")
            #expect((huge.error["message"] as? String)?.contains("past any position") == true, "\(huge.text)")
            #expect(try await client.get("/streams/s-0?direction=sideways").status == .badRequest)
            let unknown = try await client.get("/no/such/route")
            #expect(unknown.status == .notFound)
            #expect(unknown.error["code"] as? String == "notFound")
        }
    }
}
