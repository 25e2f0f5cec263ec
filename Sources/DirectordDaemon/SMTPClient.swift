import DirectordSystem
import Glibc

/// Just enough SMTP to hand an alert to a relay, as ldirectord's Net::SMTP does: blocking,
/// with a time limit on every step; runs on the alerter's queue.
enum SMTPClient {
    static let timeoutSeconds = 15

    static func send(_ message: EmailAlerter.Message, via server: String, hostName: String) -> Result<Void, MailProblem>
    {
        var host = server
        var port = "25"
        if let colon = server.lastIndex(of: ":"), !server.contains("]"), server.firstIndex(of: ":") == colon {
            host = String(server[..<colon])
            port = String(server[server.index(after: colon)...])
        }
        let descriptor: Int32
        switch connect(host: host, port: port) {
        case .success(let value): descriptor = value
        case .failure(let problem): return .failure(problem)
        }
        defer { close(descriptor) }
        var session = Session(descriptor: descriptor)
        let sender = defaultSender(hostName: hostName)
        do {
            try session.expect(220)
            try session.command("EHLO \(hostName.isEmpty ? "localhost" : hostName)", expect: 250)
            try session.command("MAIL FROM:<\(sender)>", expect: 250)
            for recipient in message.recipients { try session.command("RCPT TO:<\(recipient)>", expect: 250, 251) }
            try session.command("DATA", expect: 354)
            // CRLF line ends; a line starting with "." gets another (RFC 5321 4.5.2).
            let text = (mailHeaders(message, hostName: hostName) + message.body).split(
                separator: "\n", omittingEmptySubsequences: false
            )
            .map { $0.hasPrefix(".") ? "." + $0 : String($0) }.joined(separator: "\r\n")
            try session.command(text + "\r\n.", expect: 250)
            try? session.command("QUIT", expect: 221)
            return .success(())
        } catch {
            return .failure(error)
        }
    }

    private static func connect(host: String, port: String) -> Result<Int32, MailProblem> {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, port, &hints, &list)
        guard status == 0, let first = list else {
            return .failure(MailProblem("SMTP server \(host): \(String(cString: gai_strerror(status)))"))
        }
        defer { freeaddrinfo(first) }
        var lastError = "no address"
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            cursor = entry.pointee.ai_next
            let fd = socket(entry.pointee.ai_family, entry.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { continue }
            var limit = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            if Glibc.connect(fd, entry.pointee.ai_addr, entry.pointee.ai_addrlen) == 0 { return .success(fd) }
            lastError = errnoText()
            close(fd)
        }
        return .failure(MailProblem("SMTP server \(host):\(port): \(lastError)"))
    }

    private struct Session {
        let descriptor: Int32
        var buffer: [UInt8] = []

        init(descriptor: Int32) { self.descriptor = descriptor }

        mutating func command(_ line: String, expect codes: Int...) throws(MailProblem) {
            FileDescriptorOutput(descriptor: descriptor).write(line + "\r\n")
            try expect(codes, after: line)
        }

        mutating func expect(_ codes: Int...) throws(MailProblem) {
            try expect(codes, after: "connect")
        }

        /// Reads one reply (its continuation lines `NNN-` included) and checks its code.
        private mutating func expect(_ codes: [Int], after step: String) throws(MailProblem) {
            while true {
                let line = try readLine()
                let code = Int(line.prefix(3)) ?? 0
                if line.count > 3, line[line.index(line.startIndex, offsetBy: 3)] == "-" { continue }
                guard codes.contains(code) else {
                    let shown = step.count > 40 ? String(step.prefix(40)) + "..." : step
                    throw MailProblem("SMTP server answered \"\(line)\" to \(shown)")
                }
                return
            }
        }

        private mutating func readLine() throws(MailProblem) -> String {
            while true {
                if let end = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: buffer[..<end], as: UTF8.self)
                    buffer.removeSubrange(...end)
                    return line.hasSuffix("\r") ? String(line.dropLast()) : line
                }
                var chunk = [UInt8](repeating: 0, count: 4096)
                let count = retryingInterrupts { read(descriptor, &chunk, chunk.count) }
                guard count > 0 else {
                    throw MailProblem(count == 0 ? "SMTP server closed the connection" : "SMTP: \(errnoText())")
                }
                buffer += chunk[0..<count]
            }
        }
    }
}
