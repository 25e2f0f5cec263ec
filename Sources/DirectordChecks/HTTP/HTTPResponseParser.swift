/// Reads one HTTP/1.x response as it arrives, in pieces of any size: the status line, the
/// headers a health check needs, and the body (Content-Length, chunked, or up to the end of the
/// connection), keeping at most `bodyLimit` bytes of it. No I/O, so every framing and every
/// malformation is tested on its own.
///
/// Interim responses (100 Continue, 103 Early Hints) are skipped, as libcurl does. Bodies are
/// not decompressed: the request asks for no content coding.
struct HTTPResponseParser {
    struct Head: Equatable {
        var status: Int
        /// "Service Unavailable"; may be empty.
        var reasonPhrase: String
        /// The Location header, if any.
        var location: String?
    }

    enum Progress: Equatable {
        case needMore
        /// The status line and headers are in (``head``), the body is still coming.
        case headReceived
        /// The whole response is in, or as much of its body as is kept.
        case complete
        case malformed(String)
    }

    /// libcurl's limit on one response's headers (CURL_MAX_HTTP_HEADER), here on all the
    /// heads of an exchange, interim responses included.
    static let maximumHeadBytes = 100 * 1024
    /// Interim responses before the final one: a server sends one or two (103, 100).
    static let maximumInterimResponses = 8
    private var interimResponses = 0

    private enum Framing: Equatable {
        case none
        case length(Int)
        case chunked
        case untilClose
    }

    private enum State: Equatable {
        case head
        case body(Framing)
        /// Inside a chunked body: before a size line, in a chunk's data (bytes left), after a
        /// chunk's data (its line end), in the trailers.
        case chunkSize
        case chunkData(Int)
        case chunkEnd
        case trailers
        case done
        case failed
    }

    let bodyLimit: Int
    let isHeadRequest: Bool
    private(set) var head: Head?
    /// The body, up to `bodyLimit` bytes.
    private(set) var body: [UInt8] = []
    /// Bytes of body received (after de-chunking), including any past the limit.
    private(set) var bodyBytes = 0
    /// More body came than `bodyLimit`: the response was judged on its beginning.
    private(set) var bodyWasCut = false
    /// Bytes received in all, so that "nothing at all" can be told from "something".
    private(set) var receivedBytes = 0
    /// Bytes the Content-Length still announces (nil when the body is not length-framed).
    var bodyBytesExpected: Int? {
        if case .body(.length(let left)) = state { return left }
        return nil
    }

    private var state: State = .head
    private var pending: [UInt8] = []
    private var headBytes = 0
    /// Where the search for the current line's end resumes in `pending`: a server that sends
    /// its headers a byte at a time must not make every byte rescan all the earlier ones.
    private var scannedUpTo = 0

    init(bodyLimit: Int, isHeadRequest: Bool) {
        self.bodyLimit = bodyLimit
        self.isHeadRequest = isHeadRequest
    }

    /// Feeds the next bytes of the connection.
    mutating func consume(_ bytes: [UInt8]) -> Progress {
        receivedBytes += bytes.count
        let hadHead = head != nil
        if pending.isEmpty {
            pending = bytes
        } else {
            pending += bytes
        }
        var offset = 0
        let progress = advance(&offset)
        if offset > 0 {
            pending.removeFirst(offset)
            scannedUpTo = max(0, scannedUpTo - offset)
        }
        if progress == .needMore && !hadHead && head != nil { return .headReceived }
        return progress
    }

    /// The peer closed the connection.
    mutating func endOfInput() -> Progress {
        switch state {
        case .done: return .complete
        case .failed: return .malformed("response already rejected")
        case .body(.untilClose):
            state = .done
            return .complete
        case .head:
            if receivedBytes == 0 { return .malformed("connection closed without a response") }
            return .malformed("connection closed in the middle of the response headers")
        case .body(.length(let left)):
            return .malformed("connection closed with \(left) bytes of the body still to come")
        case .body(.none):
            return .complete
        case .body(.chunked), .chunkSize, .chunkData, .chunkEnd, .trailers:
            return .malformed("connection closed in the middle of a chunked body")
        }
    }

    // MARK: Parsing

    private mutating func advance(_ offset: inout Int) -> Progress {
        while true {
            switch state {
            case .done:
                return .complete
            case .failed:
                return .malformed("response already rejected")
            case .head:
                guard let end = lineBlockEnd(from: offset) else {
                    if pending.count - offset > Self.maximumHeadBytes - headBytes {
                        return fail("response headers larger than \(Self.maximumHeadBytes / 1024) KB")
                    }
                    return .needMore
                }
                headBytes += end.next - offset
                if headBytes > Self.maximumHeadBytes {
                    return fail("response headers larger than \(Self.maximumHeadBytes / 1024) KB")
                }
                let block = pending[offset..<end.blockEnd]
                offset = end.next
                if let problem = readHead(block) { return fail(problem) }
            case .body(let framing):
                switch framing {
                case .none:
                    state = .done
                case .length(let left):
                    let count = min(left, pending.count - offset)
                    keepBody(pending[offset..<(offset + count)])
                    offset += count
                    state = .body(.length(left - count))
                    if left - count == 0 {
                        state = .done
                    } else if bodyWasCut {
                        state = .done
                    } else {
                        return .needMore
                    }
                case .untilClose:
                    keepBody(pending[offset...])
                    offset = pending.count
                    if bodyWasCut { state = .done } else { return .needMore }
                case .chunked:
                    state = .chunkSize
                }
            case .chunkSize:
                guard let lineEnd = lineEnd(from: offset) else {
                    if pending.count - offset > 1024 { return fail("a chunk size line longer than 1 KB") }
                    return .needMore
                }
                let line = pending[offset..<lineEnd.contentEnd]
                offset = lineEnd.next
                guard let size = Self.chunkSize(line) else {
                    return fail("a chunk size that is not hexadecimal: '\(Self.text(line.prefix(40)))'")
                }
                state = size == 0 ? .trailers : .chunkData(size)
            case .chunkData(let left):
                let count = min(left, pending.count - offset)
                keepBody(pending[offset..<(offset + count)])
                offset += count
                if bodyWasCut {
                    state = .done
                } else if left - count == 0 {
                    state = .chunkEnd
                } else {
                    state = .chunkData(left - count)
                    return .needMore
                }
            case .chunkEnd:
                guard let lineEnd = lineEnd(from: offset) else {
                    if pending.count - offset > 2 { return fail("chunk data longer than its size said") }
                    return .needMore
                }
                guard lineEnd.contentEnd == offset else { return fail("chunk data longer than its size said") }
                offset = lineEnd.next
                state = .chunkSize
            case .trailers:
                guard let lineEnd = lineEnd(from: offset) else {
                    if pending.count - offset > Self.maximumHeadBytes { return fail("trailers too large") }
                    return .needMore
                }
                let empty = lineEnd.contentEnd == offset
                offset = lineEnd.next
                if empty { state = .done }
            }
        }
    }

    private mutating func fail(_ why: String) -> Progress {
        state = .failed
        return .malformed(why)
    }

    /// Reads a status line and headers; returns the problem, if any.
    private mutating func readHead(_ block: ArraySlice<UInt8>) -> String? {
        var lines = Lines(block)
        guard let statusLine = lines.next() else { return "an empty response head" }
        guard let (status, reason) = Self.statusLine(statusLine) else {
            return "not an HTTP/1 status line: '\(Self.text(statusLine.prefix(60)))'"
        }
        var contentLength: Int?
        var chunked = false
        var location: String?
        while let line = lines.next() {
            // A folded continuation line belongs to the previous header; none of ours needs it.
            if let first = line.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { continue }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
                return "a header line without a colon: '\(Self.text(line.prefix(60)))'"
            }
            let name = line[line.startIndex..<colon]
            let value = Self.trimmed(line[(colon + 1)...])
            if Self.equalsIgnoringCase(name, "content-length") {
                guard let length = Self.decimal(value) else {
                    return "a Content-Length that is not a number: '\(Self.text(value.prefix(40)))'"
                }
                if let contentLength, contentLength != length { return "two different Content-Length headers" }
                contentLength = length
            } else if Self.equalsIgnoringCase(name, "transfer-encoding") {
                let last = value.split(separator: UInt8(ascii: ",")).last.map(Self.trimmed) ?? []
                chunked = Self.equalsIgnoringCase(last, "chunked")
            } else if Self.equalsIgnoringCase(name, "location") {
                location = Self.text(value)
            }
        }
        if (100..<200).contains(status) && status != 101 {
            // Interim: the real response follows. The head limit counts every interim
            // response too, and only a few are allowed: a peer streaming `100 Continue` for
            // ever would otherwise be read, and cost CPU, until the check's timeout.
            interimResponses += 1
            if interimResponses > Self.maximumInterimResponses {
                return "more than \(Self.maximumInterimResponses) interim (1xx) responses"
            }
            return nil
        }
        head = Head(status: status, reasonPhrase: reason, location: location)
        if isHeadRequest || status == 204 || status == 304 {
            state = .body(.none)
        } else if chunked {
            state = .body(.chunked)
        } else if let contentLength {
            state = .body(.length(contentLength))
        } else {
            state = .body(.untilClose)
        }
        return nil
    }

    private mutating func keepBody(_ bytes: ArraySlice<UInt8>) {
        guard !bytes.isEmpty else { return }
        let room = bodyLimit - body.count
        if bytes.count > room {
            body += bytes.prefix(room)
            bodyWasCut = true
        } else {
            body += bytes
        }
        bodyBytes += bytes.count
    }

    // MARK: Lines

    /// The end of the head: an empty line (CRLF CRLF, or bare LFs as libcurl also accepts).
    private mutating func lineBlockEnd(from start: Int) -> (blockEnd: Int, next: Int)? {
        // A terminator may straddle the bytes already scanned and the new ones.
        var index = max(start, scannedUpTo - 3)
        while let newline = pending[index...].firstIndex(of: UInt8(ascii: "\n")) {
            let next = newline + 1
            if next < pending.count && pending[next] == UInt8(ascii: "\n") {
                scannedUpTo = 0
                return (newline, next + 1)
            }
            if next + 1 < pending.count && pending[next] == UInt8(ascii: "\r")
                && pending[next + 1] == UInt8(ascii: "\n")
            {
                scannedUpTo = 0
                return (newline, next + 2)
            }
            index = next
        }
        scannedUpTo = pending.count
        return nil
    }

    private mutating func lineEnd(from start: Int) -> (contentEnd: Int, next: Int)? {
        guard let newline = pending[max(start, scannedUpTo)...].firstIndex(of: UInt8(ascii: "\n")) else {
            scannedUpTo = pending.count
            return nil
        }
        scannedUpTo = 0
        let contentEnd = newline > start && pending[newline - 1] == UInt8(ascii: "\r") ? newline - 1 : newline
        return (contentEnd, newline + 1)
    }

    /// The lines of a head, without their line ends, as `split` on LF would give them (an
    /// empty one included), one at a time: a head is read at every check, and the arrays of
    /// lines `split` and `map` made were two allocations of it.
    private struct Lines {
        private var rest: ArraySlice<UInt8>?

        init(_ block: ArraySlice<UInt8>) { rest = block }

        mutating func next() -> ArraySlice<UInt8>? {
            guard let current = rest else { return nil }
            let line: ArraySlice<UInt8>
            if let newline = current.firstIndex(of: UInt8(ascii: "\n")) {
                line = current[..<newline]
                rest = current[(newline + 1)...]
            } else {
                line = current
                rest = nil
            }
            return line.last == UInt8(ascii: "\r") ? line.dropLast() : line
        }
    }

    /// "HTTP/1.1 200 OK" → (200, "OK").
    private static func statusLine(_ line: ArraySlice<UInt8>) -> (Int, String)? {
        let prefix = "HTTP/1.".utf8
        guard line.count >= 12, line.starts(with: prefix) else { return nil }
        var index = line.startIndex + prefix.count
        guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(line[index]) else { return nil }
        index += 1
        guard line[index] == UInt8(ascii: " ") else { return nil }
        index += 1
        let digits = line[index..<(index + 3)]
        guard let status = decimal(digits), status >= 100 else { return nil }
        index += 3
        if index < line.endIndex {
            guard line[index] == UInt8(ascii: " ") else { return nil }
            index += 1
        }
        return (status, text(trimmed(line[index...])))
    }

    private static func chunkSize(_ line: ArraySlice<UInt8>) -> Int? {
        let digits = trimmed(line.prefix { $0 != UInt8(ascii: ";") })
        guard !digits.isEmpty, digits.count <= 15 else { return nil }
        var value = 0
        for byte in digits {
            guard let digit = hexDigit(byte) else { return nil }
            value = value * 16 + digit
        }
        return value
    }

    private static func hexDigit(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a")) + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A")) + 10
        default: nil
        }
    }

    private static func decimal(_ digits: ArraySlice<UInt8>) -> Int? {
        guard !digits.isEmpty, digits.count <= 18 else { return nil }
        var value = 0
        for byte in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        let isSpace: (UInt8) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) })
        else { return bytes[bytes.endIndex...] }
        return bytes[first...last]
    }

    private static func equalsIgnoringCase(_ bytes: ArraySlice<UInt8>, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        var other = lowercase.utf8Start
        for byte in bytes {
            let lowered = (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
            guard lowered == other.pointee else { return false }
            other += 1
        }
        return true
    }

    /// Bytes as text for reasons and Location; bytes outside ASCII become "?".
    static func text(_ bytes: ArraySlice<UInt8>) -> String {
        // Nearly always ASCII ("OK"): decoded as it is, without a copy to mend it first.
        if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
        return String(decoding: bytes.map { $0 < 0x80 ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
    }
}
