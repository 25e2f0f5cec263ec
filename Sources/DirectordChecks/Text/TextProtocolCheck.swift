import DirectordCore
import DirectordSystem

/// What a text-protocol dialogue wants next.
enum DialogueStep {
    /// Wait for more lines.
    case wait
    /// Send these bytes, then wait.
    case send([UInt8])
    /// Send these bytes, then close the write side (simpletcp).
    case sendAndShutdown([UInt8])
    /// The verdict; `goodbye` (QUIT, LOGOUT) is sent before the connection is closed.
    case up(String, goodbye: String?)
    case down(String, goodbye: String?)
}

/// The protocol half of a line-based negotiate check: it reads lines and decides. No I/O, so
/// each dialogue is tested on its own.
protocol TextDialogue {
    /// "smtp", "pop": prefixed to reasons.
    var name: String { get }
    /// Right after connecting, before the server said anything; `local` is this end's
    /// address and port ("10.0.0.2:40312", "[::1]:40312").
    mutating func connected(local: String) -> DialogueStep
    mutating func received(_ line: TextLine) -> DialogueStep
    /// The server closed the connection.
    mutating func ended(partialLine: TextLine?) -> DialogueStep
}

extension TextDialogue {
    mutating func connected(local: String) -> DialogueStep { .wait }
    mutating func ended(partialLine: TextLine?) -> DialogueStep {
        if let partialLine {
            let step = received(partialLine)
            if case .up = step { return step }
            if case .down = step { return step }
        }
        return .down("\(name): connection closed by the server before it answered", goodbye: nil)
    }
}

/// A negotiate check that connects over TCP (UDP for simpletcp on a UDP service) and runs a
/// ``TextDialogue``, all within `negotiatetimeout`.
final class TextProtocolCheck: CheckOperation {
    private let check: HealthCheck
    private var dialogue: any TextDialogue
    private let connection: StreamConnection
    private var lines: LineBuffer

    init(context: LoopContext, check: HealthCheck, dialogue: any TextDialogue) {
        self.check = check
        self.dialogue = dialogue
        let transport: StreamConnection.Transport =
            [.simpletcp, .sip].contains(check.service) && check.protocol == .udp ? .udp : .tcp
        connection =
            transport == .tcp
            ? StreamConnection(reactor: context.reactor, check: check, port: check.port ?? 0)
            : StreamConnection(reactor: context.reactor, address: check.address, port: check.port ?? 0, transport: .udp)
        lines = LineBuffer(limit: context.options.maximumReplyBytes)
        super.init(context: context)
    }

    override func begin() {
        connection.onFailure = { [weak self] error in
            guard let self else { return }
            if error.operation == "connect" {
                self.fail("\(self.dialogue.name): connect to \(self.connection.endpoint): \(error.reason)")
            } else {
                self.fail("\(self.dialogue.name): \(self.connection.endpoint): \(error.reason)")
            }
        }
        connection.onData = { [weak self] bytes in
            guard let self else { return }
            self.received(bytes)
        }
        connection.onEnd = { [weak self] in
            guard let self else { return }
            let partial = self.lines.finish()
            self.act(self.dialogue.ended(partialLine: partial))
            if !self.isFinished {
                self.fail("\(self.dialogue.name): connection closed by \(self.connection.endpoint)")
            }
        }
        connection.connect { [weak self] in
            guard let self else { return }
            self.act(self.dialogue.connected(local: self.connection.localEndpoint))
        }
    }

    override func timedOut() {
        fail("\(dialogue.name): no answer from \(connection.endpoint) within \(timeoutText)\(progress)")
    }

    override func releaseResources() {
        connection.close()
    }

    private var progress: String {
        lines.totalBytes > 0 ? " (\(lines.totalBytes) bytes received, no verdict)" : ""
    }

    private func received(_ bytes: [UInt8]) {
        guard let complete = lines.append(bytes) else {
            fail("\(dialogue.name): a line from \(connection.endpoint) is longer than \(lines.limit) bytes")
            return
        }
        for line in complete {
            act(dialogue.received(line))
            if isFinished { return }
        }
        if lines.totalBytes > context.options.maximumReplyBytes * 16 {
            fail("\(dialogue.name): \(lines.totalBytes) bytes from \(connection.endpoint) and no verdict")
        }
    }

    private func act(_ step: DialogueStep) {
        switch step {
        case .wait:
            break
        case .send(let bytes):
            connection.send(bytes)
        case .sendAndShutdown(let bytes):
            connection.send(bytes)
            connection.shutdownWriteAfterFlush()
        case .up(let reason, let goodbye):
            sayGoodbye(goodbye)
            succeed(reason)
        case .down(let reason, let goodbye):
            sayGoodbye(goodbye)
            fail(reason)
        }
    }

    /// The goodbye is written (the socket's buffer takes a short line at once) and the
    /// connection closed without waiting for the server's last word.
    private func sayGoodbye(_ goodbye: String?) {
        guard let goodbye else { return }
        connection.send(Array((goodbye + "\r\n").utf8))
    }
}
