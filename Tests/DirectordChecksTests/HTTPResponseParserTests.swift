import Testing

@testable import DirectordChecks

/// The direct HTTP engine's response reader, fed whole and one byte at a time.
@Suite("HTTP response parser")
struct HTTPResponseParserTests {
    struct Outcome: Equatable {
        var progress: HTTPResponseParser.Progress
        var status: Int?
        var reasonPhrase: String?
        var location: String?
        var body: String
        var bodyWasCut: Bool
    }

    /// Feeds `response` in pieces of `pieceSize` bytes (0: whole), then the end of input if
    /// `close`, and reports the last progress.
    func parse(
        _ response: String, pieceSize: Int = 0, close: Bool = false, limit: Int = 1 << 20, head: Bool = false
    ) -> Outcome {
        var parser = HTTPResponseParser(bodyLimit: limit, isHeadRequest: head)
        let bytes = Array(response.utf8)
        var progress = HTTPResponseParser.Progress.needMore
        let size = pieceSize == 0 ? max(1, bytes.count) : pieceSize
        var offset = 0
        while offset < bytes.count {
            progress = parser.consume(Array(bytes[offset..<min(bytes.count, offset + size)]))
            offset += size
            if progress == .complete { break }
            if case .malformed = progress { break }
        }
        if close && progress != .complete {
            if case .malformed = progress {} else { progress = parser.endOfInput() }
        }
        return Outcome(
            progress: progress, status: parser.head?.status, reasonPhrase: parser.head?.reasonPhrase,
            location: parser.head?.location, body: String(decoding: parser.body, as: UTF8.self),
            bodyWasCut: parser.bodyWasCut)
    }

    /// The same outcome whole and byte by byte.
    func parseBothWays(_ response: String, close: Bool = false, limit: Int = 1 << 20, head: Bool = false) -> Outcome {
        let whole = parse(response, close: close, limit: limit, head: head)
        let bytewise = parse(response, pieceSize: 1, close: close, limit: limit, head: head)
        #expect(whole == bytewise, "fed whole and byte by byte")
        return whole
    }

    @Test("Content-Length frames the body; the response is complete without waiting for the close")
    func contentLength() {
        let outcome = parseBothWays("HTTP/1.1 200 OK\r\nContent-Length: 11\r\nServer: x\r\n\r\nOK healthy\n")
        #expect(
            outcome
                == Outcome(
                    progress: .complete, status: 200, reasonPhrase: "OK", body: "OK healthy\n", bodyWasCut: false))
    }

    @Test("header names are case-insensitive; bare LF line ends are accepted")
    func leniency() {
        let outcome = parseBothWays("HTTP/1.0 503 Service Unavailable\ncontent-LENGTH:  4 \n\ndown")
        #expect(outcome.progress == .complete)
        #expect(outcome.status == 503)
        #expect(outcome.reasonPhrase == "Service Unavailable")
        #expect(outcome.body == "down")
    }

    @Test("chunked: sizes in hex with extensions, then trailers")
    func chunked() {
        let outcome = parseBothWays(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\nContent-Length: 999\r\n\r\n"
                + "3;name=value\r\nOK \r\nA\r\nhealthy!!\n\r\n0\r\nTrailer: 1\r\n\r\n")
        #expect(outcome.progress == .complete)
        #expect(outcome.body == "OK healthy!!\n")
    }

    @Test("without a length, the body ends with the connection")
    func untilClose() {
        for pieceSize in [0, 1] {
            let open = parse("HTTP/1.1 200 OK\r\n\r\nsome body", pieceSize: pieceSize)
            #expect(open.progress != .complete)
            #expect(open.body == "some body")
        }
        let closed = parseBothWays("HTTP/1.1 200 OK\r\n\r\nsome body", close: true)
        #expect(closed.progress == .complete)
        #expect(closed.body == "some body")
    }

    @Test("HEAD, 204 and 304 have no body, whatever Content-Length says")
    func noBody() {
        #expect(parseBothWays("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", head: true).progress == .complete)
        #expect(parseBothWays("HTTP/1.1 204 No Content\r\n\r\n").progress == .complete)
        #expect(parseBothWays("HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n").progress == .complete)
    }

    @Test("interim 1xx responses are skipped")
    func interim() {
        let outcome = parseBothWays(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"
        )
        #expect(outcome.progress == .complete)
        #expect(outcome.status == 200)
        #expect(outcome.body == "OK")
    }

    @Test("an endless stream of interim responses is cut off, not read until the timeout")
    func endlessInterim() {
        var parser = HTTPResponseParser(bodyLimit: 1 << 20, isHeadRequest: false)
        var progress = HTTPResponseParser.Progress.needMore
        var sent = 0
        while progress == .needMore && sent < 1000 {
            progress = parser.consume(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
            sent += 1
        }
        #expect(progress == .malformed("more than 8 interim (1xx) responses"))
        #expect(sent == 9)
        // Long interim heads count against the one limit on all heads.
        let long = "HTTP/1.1 103 Early Hints\r\nLink: " + String(repeating: "x", count: 30_000) + "\r\n\r\n"
        let outcome = parse(String(repeating: long, count: 4) + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        #expect(outcome.progress == .malformed("response headers larger than 100 KB"))
    }

    @Test("the head is reported before the body, with Location")
    func headFirst() {
        var parser = HTTPResponseParser(bodyLimit: 100, isHeadRequest: false)
        let progress = parser.consume(Array("HTTP/1.1 302 Found\r\nLocation: /next\r\nContent-Length: 5\r\n\r\n".utf8))
        #expect(progress == .headReceived)
        #expect(parser.head == HTTPResponseParser.Head(status: 302, reasonPhrase: "Found", location: "/next"))
        #expect(parser.consume(Array("ab".utf8)) == .needMore)
        #expect(parser.bodyBytesExpected == 3)
        #expect(parser.consume(Array("cde".utf8)) == .complete)
    }

    @Test("a body over the limit is cut there and the response is complete")
    func cut() {
        let outcome = parseBothWays("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", limit: 4)
        #expect(outcome.progress == .complete)
        #expect(outcome.body == "0123")
        #expect(outcome.bodyWasCut)
        let exact = parseBothWays("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n0123", limit: 4)
        #expect(!exact.bodyWasCut)
        let chunked = parseBothWays(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n0\r\n\r\n", limit: 4)
        #expect(chunked.progress == .complete)
        #expect(chunked.body == "0123")
        #expect(chunked.bodyWasCut)
    }

    @Test(
        "what is not HTTP/1, or breaks its framing, is malformed, with what was wrong",
        arguments: [
            ("SSH-2.0-OpenSSH_9.2\r\n\r\n", "not an HTTP/1 status line"),
            ("HTTP/2 200\r\n\r\n", "not an HTTP/1 status line"),
            ("HTTP/1.1 2000 OK\r\n\r\n", "not an HTTP/1 status line"),
            ("HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", "Content-Length that is not a number"),
            ("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "two different Content-Length"),
            ("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "header line without a colon"),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "not hexadecimal"),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", "longer than its size"),
        ])
    func malformed(response: String, expected: String) {
        let outcome = parseBothWays(response)
        guard case .malformed(let why) = outcome.progress else {
            Issue.record("\(outcome.progress) for \(response.debugDescription)")
            return
        }
        #expect(why.contains(expected), "\(why)")
    }

    @Test("a connection that ends early says where")
    func endedEarly() {
        #expect(parse("", close: true).progress == .malformed("connection closed without a response"))
        #expect(
            parse("HTTP/1.1 200", close: true).progress
                == .malformed("connection closed in the middle of the response headers"))
        #expect(
            parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", close: true).progress
                == .malformed("connection closed with 7 bytes of the body still to come"))
        #expect(
            parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", close: true).progress
                == .malformed("connection closed in the middle of a chunked body"))
    }

    @Test("headers larger than libcurl's limit are refused, not buffered without end")
    func hugeHead() {
        let filler = String(repeating: "X-Filler: " + String(repeating: "a", count: 1000) + "\r\n", count: 110)
        let outcome = parse("HTTP/1.1 200 OK\r\n" + filler, pieceSize: 4096)
        #expect(outcome.progress == .malformed("response headers larger than 100 KB"))
    }
}
