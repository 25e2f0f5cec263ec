import DirectordCore
import DirectordSystem

/// `service=ftp` (ldirectord's `check_ftp`): log in (`login`, else anonymous) and, when a
/// request names a file, fetch it in passive mode and match `receive` against its content.
///
/// ldirectord matched `receive` against whatever it had fetched, even nothing: with the
/// default request "/" and no receive its FTP check could never fail. Here the check is up only
/// when the server greets with 220 and accepts the login; with request "/" (the default) that
/// is the whole check, otherwise the file must also arrive completely (226) and match.
final class FTPCheck: CheckOperation {
    private enum State {
        case greeting
        case user
        case pass
        case type
        case passive
        case retrieve
        case transferring
    }

    private let check: HealthCheck
    private let control: StreamConnection
    private var data: StreamConnection?
    private var state = State.greeting
    private var lines: LineBuffer
    private var parser = NumericReplyParser()
    private var file: [UInt8] = []
    private var fileComplete = false
    private var transferConfirmed = false
    private var fileWasCut = false

    init(context: LoopContext, check: HealthCheck) {
        self.check = check
        control = StreamConnection(reactor: context.reactor, address: check.address, port: check.port ?? 21)
        lines = LineBuffer(limit: context.options.maximumReplyBytes)
        super.init(context: context)
    }

    /// The config already holds ldirectord's defaults for FTP (anonymous, ldirectord@HOST);
    /// an explicitly empty login falls back to Net::FTP's own.
    private var user: String { check.login.isEmpty ? "anonymous" : check.login }
    private var password: String { check.password.isEmpty && user == "anonymous" ? "-anonymous@" : check.password }
    private var path: String { check.request }
    private var fetchesFile: Bool { path != "/" && !path.isEmpty }

    override func begin() {
        control.onFailure = { [weak self] error in
            guard let self else { return }
            if error.operation == "connect" {
                self.fail("ftp: connect to \(self.control.endpoint): \(error.reason)")
            } else {
                self.fail("ftp: \(self.control.endpoint): \(error.reason)")
            }
        }
        control.onEnd = { [weak self] in
            guard let self else { return }
            self.fail("ftp: connection closed by \(self.control.endpoint)")
        }
        control.onData = { [weak self] bytes in
            guard let self else { return }
            self.receivedControl(bytes)
        }
        control.connect {}
    }

    override func timedOut() {
        let during: String =
            switch state {
            case .greeting: "waiting for the greeting"
            case .user, .pass: "logging in"
            case .type, .passive, .retrieve: "asking for \(path)"
            case .transferring: "fetching \(path) (\(file.count) bytes so far)"
            }
        fail("ftp: no answer from \(control.endpoint) within \(timeoutText) while \(during)")
    }

    override func releaseResources() {
        data?.close()
        data = nil
        control.close()
    }

    // MARK: Control connection

    private func receivedControl(_ bytes: [UInt8]) {
        guard let complete = lines.append(bytes) else {
            fail("ftp: a reply line from \(control.endpoint) is too long")
            return
        }
        for line in complete {
            switch parser.feed(line.text) {
            case .incomplete:
                continue
            case .garbage(let text):
                fail("ftp: not an FTP reply: \(text)")
            case .reply(let reply):
                handle(reply)
            }
            if isFinished { return }
        }
    }

    private func send(_ command: String) {
        control.send(Array((command + "\r\n").utf8))
    }

    private func quit(up reason: String) {
        send("QUIT")
        succeed(reason)
    }

    private func quit(down reason: String) {
        send("QUIT")
        fail(reason)
    }

    private func handle(_ reply: NumericReply) {
        switch state {
        case .greeting:
            // 120 is "ready in a few minutes": wait for the real greeting.
            if reply.code == 120 { return }
            guard reply.code == 220 else { return quit(down: "ftp: greeting \(reply.summary)") }
            state = .user
            send("USER \(user)")
        case .user:
            if reply.code == 230 { return loggedIn() }
            guard reply.code == 331 || reply.code == 332 else {
                return quit(down: "ftp: USER \(user) refused: \(reply.summary)")
            }
            state = .pass
            send("PASS \(password)")
        case .pass:
            guard reply.code == 230 || reply.code == 202 else {
                return quit(down: "ftp: login as \(user) refused: \(reply.summary)")
            }
            loggedIn()
        case .type:
            guard reply.isCompletion else { return quit(down: "ftp: TYPE I refused: \(reply.summary)") }
            state = .passive
            send(check.address.family == .ipv4 ? "PASV" : "EPSV")
        case .passive:
            guard reply.isCompletion, let port = Self.passivePort(in: reply) else {
                return quit(down: "ftp: passive mode refused: \(reply.summary)")
            }
            openData(port: port)
        case .retrieve:
            if reply.code == 125 || reply.code == 150 {
                state = .transferring
                return
            }
            quit(down: "ftp: RETR \(path) refused: \(reply.summary)")
        case .transferring:
            guard reply.isCompletion else { return quit(down: "ftp: fetching \(path) failed: \(reply.summary)") }
            transferConfirmed = true
            judgeFile()
        }
    }

    private func loggedIn() {
        guard fetchesFile else { return quit(up: "ftp: logged in as \(user)") }
        state = .type
        send("TYPE I")
    }

    // MARK: Data connection

    /// The data port of a 227 (`h1,h2,h3,h4,p1,p2`) or 229 (`|||port|`) reply. The address
    /// part of a 227 is ignored: the data connection goes to the real server checked (as curl
    /// does), so a server behind NAT that announces another address still works.
    static func passivePort(in reply: NumericReply) -> UInt16? {
        let text = reply.lines.joined(separator: " ")
        if reply.code == 229 {
            guard let open = text.firstIndex(of: "("), let close = text[open...].firstIndex(of: ")") else { return nil }
            let inside = text[text.index(after: open)..<close]
            return UInt16(inside.split(separator: "|", omittingEmptySubsequences: true).first ?? "")
        }
        guard reply.code == 227 else { return nil }
        // The six numbers may or may not be in parentheses.
        let numbers = text.dropFirst(4).split { !$0.isNumber && $0 != "," }
            .first { $0.split(separator: ",").count == 6 }?
            .split(separator: ",").compactMap { UInt16($0) }
        guard let numbers, numbers.count == 6, numbers[4] < 256, numbers[5] < 256 else { return nil }
        return numbers[4] << 8 | numbers[5]
    }

    private func openData(port: UInt16) {
        let data = StreamConnection(reactor: context.reactor, address: check.address, port: port)
        self.data = data
        data.onFailure = { [weak self] error in
            guard let self else { return }
            self.quit(down: "ftp: data connection to \(data.endpoint): \(error.reason)")
        }
        data.onData = { [weak self] bytes in
            guard let self else { return }
            let limit = self.context.options.maximumReplyBytes
            self.file += bytes.prefix(max(0, limit - self.file.count))
            if self.file.count >= limit {
                // Enough to judge; the rest of a big file is not worth waiting for.
                self.fileWasCut = true
                self.fileComplete = true
                self.transferConfirmed = true
                self.judgeFile()
            }
        }
        data.onEnd = { [weak self] in
            guard let self else { return }
            self.fileComplete = true
            self.judgeFile()
        }
        data.connect { [weak self] in
            guard let self else { return }
            self.state = .retrieve
            self.send("RETR \(self.path)")
        }
    }

    /// Once the data has ended and the server confirmed the transfer.
    private func judgeFile() {
        guard fileComplete, transferConfirmed else { return }
        let amount = fileWasCut ? "the first \(file.count) bytes" : "\(file.count) bytes"
        if receiveIsEmpty(check.receive) { return quit(up: "ftp: fetched \(path) (\(amount))") }
        switch context.patterns.match(check.receive, in: file) {
        case .success(.found):
            quit(up: "ftp: fetched \(path), receive /\(check.receive)/ found")
        case .success(.notFound):
            quit(down: "ftp: receive /\(check.receive)/ not found in \(amount) of \(path)")
        case .success(.gaveUp(let why)):
            quit(down: "ftp: receive /\(check.receive)/ could not be matched: \(why)")
        case .failure(let error):
            quit(down: "ftp: \(error.description)")
        }
    }
}
