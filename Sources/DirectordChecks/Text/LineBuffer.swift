/// One line of a text protocol: its bytes as received (with the newline, if one came) and its
/// text without the line ending.
struct TextLine {
    var bytes: [UInt8]

    /// The line without "\r\n" or "\n", decoded leniently (servers send Latin-1 too).
    var text: String {
        var end = bytes.count
        if end > 0 && bytes[end - 1] == UInt8(ascii: "\n") { end -= 1 }
        if end > 0 && bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        return String(decoding: bytes[0..<end], as: UTF8.self)
    }
}

/// Splits a byte stream into lines, holding back a partial line until its newline (or the end
/// of the stream) arrives. Refuses to hold more than `limit` bytes.
struct LineBuffer {
    private var pending: [UInt8] = []
    let limit: Int
    private(set) var totalBytes = 0

    init(limit: Int) {
        self.limit = limit
    }

    /// The complete lines in `bytes` (with what was held back), or nil when a line grew past
    /// the limit.
    mutating func append(_ bytes: [UInt8]) -> [TextLine]? {
        totalBytes += bytes.count
        pending += bytes
        var lines: [TextLine] = []
        var start = 0
        while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
            lines.append(TextLine(bytes: Array(pending[start...newline])))
            start = newline + 1
        }
        pending.removeFirst(start)
        if pending.count > limit { return nil }
        return lines
    }

    /// The last line when the stream ends without a newline.
    mutating func finish() -> TextLine? {
        defer { pending.removeAll() }
        return pending.isEmpty ? nil : TextLine(bytes: pending)
    }
}

/// A reply of SMTP or FTP (RFC 5321 §4.2, RFC 959 §4.2): a three-digit code, and lines of
/// text, where "250-..." continues and "250 ..." ends the reply.
struct NumericReply: Equatable {
    var code: Int
    var lines: [String]

    /// "220 mail.example.org ESMTP": the first line, as reasons quote it.
    var summary: String { lines.first ?? "\(code)" }
    var isPositive: Bool { (200..<400).contains(code) }
    var isCompletion: Bool { (200..<300).contains(code) }
}

/// Collects lines until a numeric reply is complete.
struct NumericReplyParser {
    private var lines: [String] = []

    enum Outcome: Equatable {
        case incomplete
        case reply(NumericReply)
        /// The line does not start with a three-digit code: not this protocol.
        case garbage(String)
    }

    mutating func feed(_ line: String) -> Outcome {
        let characters = Array(line.utf8.prefix(4))
        guard characters.count >= 3, characters[0..<3].allSatisfy({ (48...57).contains($0) }),
            let code = Int(String(decoding: characters[0..<3], as: UTF8.self))
        else {
            // Inside a multi-line FTP reply, lines need not start with the code.
            if !lines.isEmpty {
                lines.append(line)
                return .incomplete
            }
            return .garbage(line)
        }
        lines.append(line)
        if characters.count == 4 && characters[3] == UInt8(ascii: "-") { return .incomplete }
        defer { lines.removeAll() }
        return .reply(NumericReply(code: code, lines: lines))
    }
}
