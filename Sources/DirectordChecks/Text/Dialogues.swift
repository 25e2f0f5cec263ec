import DirectordCore

/// `service=smtp` and `submission` (ldirectord's `check_smtp`, i.e. `Net::SMTP->new`): the
/// greeting must be 2xx and EHLO (or, refused, HELO) must be accepted.
struct SMTPDialogue: TextDialogue {
    private enum State {
        case greeting
        case ehlo
        case helo
    }

    let name = "smtp"
    /// Net::SMTP's default `Hello`.
    static let helloName = "localhost.localdomain"
    private var state = State.greeting
    private var parser = NumericReplyParser()
    private var banner = ""

    mutating func received(_ line: TextLine) -> DialogueStep {
        switch parser.feed(line.text) {
        case .incomplete:
            return .wait
        case .garbage(let text):
            return .down("smtp: not an SMTP reply: \(text)", goodbye: nil)
        case .reply(let reply):
            switch state {
            case .greeting:
                guard reply.isCompletion else { return .down("smtp: greeting \(reply.summary)", goodbye: "QUIT") }
                banner = reply.summary
                state = .ehlo
                return .send(Array("EHLO \(Self.helloName)\r\n".utf8))
            case .ehlo:
                if reply.isCompletion { return .up("smtp: \(banner)", goodbye: "QUIT") }
                state = .helo
                return .send(Array("HELO \(Self.helloName)\r\n".utf8))
            case .helo:
                if reply.isCompletion { return .up("smtp: \(banner)", goodbye: "QUIT") }
                return .down("smtp: EHLO and HELO refused: \(reply.summary)", goodbye: "QUIT")
            }
        }
    }
}

/// `service=pop` (ldirectord's `check_pop`): a `+OK` greeting and, when `login` is set, USER
/// and PASS accepted. (ldirectord's POP check without login never failed.)
struct POPDialogue: TextDialogue {
    private enum State {
        case greeting
        case user
        case pass
    }

    let name = "pop"
    private let login: String
    private let password: String
    private var state = State.greeting
    private var banner = ""

    init(check: HealthCheck) {
        login = check.login
        password = check.password
    }

    mutating func received(_ line: TextLine) -> DialogueStep {
        let text = line.text
        let ok = text.hasPrefix("+OK")
        switch state {
        case .greeting:
            guard ok else { return .down("pop: greeting \(text)", goodbye: "QUIT") }
            banner = text
            if login.isEmpty { return .up("pop: \(banner)", goodbye: "QUIT") }
            state = .user
            return .send(Array("USER \(login)\r\n".utf8))
        case .user:
            guard ok else { return .down("pop: USER \(login) refused: \(text)", goodbye: "QUIT") }
            state = .pass
            return .send(Array("PASS \(password)\r\n".utf8))
        case .pass:
            guard ok else { return .down("pop: login as \(login) refused: \(text)", goodbye: "QUIT") }
            return .up("pop: logged in as \(login)", goodbye: "QUIT")
        }
    }
}

/// `service=imap` (ldirectord's `check_imap`, `Net::IMAP::Simple`): an `* OK` (or `* PREAUTH`)
/// greeting and, when `login` is set, LOGIN accepted.
struct IMAPDialogue: TextDialogue {
    private enum State {
        case greeting
        case login
    }

    let name = "imap"
    private let login: String
    private let password: String
    private var state = State.greeting

    init(check: HealthCheck) {
        login = check.login
        password = check.password
    }

    /// An IMAP quoted string (RFC 3501 §4.3).
    static func quoted(_ text: String) -> String {
        "\"" + text.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
    }

    mutating func received(_ line: TextLine) -> DialogueStep {
        let text = line.text
        switch state {
        case .greeting:
            let upper = text.uppercased()
            guard upper.hasPrefix("* OK") || upper.hasPrefix("* PREAUTH") else {
                return .down("imap: greeting \(text)", goodbye: "a0 LOGOUT")
            }
            if login.isEmpty { return .up("imap: \(text)", goodbye: "a0 LOGOUT") }
            state = .login
            return .send(Array("a1 LOGIN \(Self.quoted(login)) \(Self.quoted(password))\r\n".utf8))
        case .login:
            // Untagged lines (capabilities) come before the tagged answer.
            guard text.hasPrefix("a1 ") else { return .wait }
            if text.uppercased().hasPrefix("A1 OK") { return .up("imap: logged in as \(login)", goodbye: "a2 LOGOUT") }
            return .down("imap: login as \(login) refused: \(text)", goodbye: "a2 LOGOUT")
        }
    }
}

/// `service=nntp` (ldirectord's `check_nntp`): the greeting must start with 2 (200, 201).
struct NNTPDialogue: TextDialogue {
    let name = "nntp"

    mutating func received(_ line: TextLine) -> DialogueStep {
        let text = line.text
        if text.hasPrefix("2") { return .up("nntp: \(text)", goodbye: "QUIT") }
        return .down("nntp: greeting \(text)", goodbye: "QUIT")
    }
}

/// `service=simpletcp` (ldirectord's `check_simpletcp`): send the request (without its first
/// character, the `/` every request gets, and with the two characters `\n` made newlines),
/// close the sending side, and be up when a line of the answer matches `receive`.
struct SimpleTCPDialogue: TextDialogue {
    let name = "simpletcp"
    private let request: [UInt8]
    private let receive: String
    private let patterns: ReceivePatternCache
    private var linesSeen = 0
    private var bytesSeen = 0

    init(check: HealthCheck, patterns: ReceivePatternCache) {
        let text = String(check.request.dropFirst()).replacing("\\n", with: "\n")
        request = Array(text.utf8)
        receive = check.receive
        self.patterns = patterns
    }

    mutating func connected(local: String) -> DialogueStep {
        .sendAndShutdown(request)
    }

    mutating func received(_ line: TextLine) -> DialogueStep {
        linesSeen += 1
        bytesSeen += line.bytes.count
        // Perl's `$line =~ //` reuses the last successful pattern; with none, it matches.
        if receive.isEmpty { return .up("simpletcp: got a line", goodbye: nil) }
        // Perl reads lines with their newline and matches the pattern against that.
        switch patterns.match(receive, in: line.bytes) {
        case .success(.found):
            return .up("simpletcp: receive /\(receive)/ found", goodbye: nil)
        case .success(.notFound):
            return .wait
        case .success(.gaveUp(let why)):
            return .down("simpletcp: receive /\(receive)/ could not be matched: \(why)", goodbye: nil)
        case .failure(let error):
            return .down("simpletcp: \(error.description)", goodbye: nil)
        }
    }

    mutating func ended(partialLine: TextLine?) -> DialogueStep {
        if let partialLine {
            let step = received(partialLine)
            if case .wait = step {} else { return step }
        }
        return .down(
            "simpletcp: receive /\(receive)/ not found in \(linesSeen) line\(linesSeen == 1 ? "" : "s") (\(bytesSeen) bytes)",
            goodbye: nil)
    }
}

/// `service=sip` (ldirectord's `check_sip`): an OPTIONS request for `sip:LOGIN` over the
/// virtual service's protocol (UDP or TCP); up when the answer's status line is
/// `SIP/2.0 200 OK`.
///
/// The request is ldirectord's, except that the Via header names the transport really used
/// (ldirectord always wrote UDP) and the Call-ID is random per check, as it was there.
struct SIPDialogue: TextDialogue {
    let name = "sip"
    private let login: String
    private let transport: String

    init(check: HealthCheck) {
        login = check.login
        transport = check.protocol == .udp ? "UDP" : "TCP"
    }

    mutating func connected(local: String) -> DialogueStep {
        let callID = (0..<8).map { _ in String(UInt8.random(in: 0...255), radix: 16) }.joined()
        let request =
            "OPTIONS sip:\(login) SIP/2.0\r\n" + "Via: SIP/2.0/\(transport) \(local);branch=z9hG4bKhjhs8ass877\r\n"
            + "Max-Forwards: 70\r\n" + "To: <sip:\(login)>\r\n" + "From: <sip:\(login)>;tag=1928301774\r\n"
            + "Call-ID: \(callID)\r\n" + "CSeq: 63104 OPTIONS\r\n" + "Contact: <sip:\(login)>\r\n"
            + "Accept: application/sdp\r\n" + "Content-Length: 0\r\n\r\n"
        return .send(Array(request.utf8))
    }

    mutating func received(_ line: TextLine) -> DialogueStep {
        let status = line.text
        if status.hasPrefix("SIP/2.0 200 OK") { return .up("sip: \(status)", goodbye: nil) }
        return .down("sip: \(status.isEmpty ? "an empty status line" : status)", goodbye: nil)
    }
}

/// A query of a real server's HAProxy agent (`agentport`): connect, send nothing, take the
/// first line (or what came before the agent closed). The line is the verdict's reason, after
/// ``AgentReply/reasonPrefix``, for DirectorState to read; the query itself is up whenever the
/// agent answered.
struct AgentDialogue: TextDialogue {
    let name = "agent"
    /// A reply is a few words; more is cut in the reason (and so in the log).
    static let longestReply = 200

    mutating func received(_ line: TextLine) -> DialogueStep {
        let text = VisibleText.escaping(String(line.text.prefix(Self.longestReply)))
        return .up(AgentReply.reasonPrefix + text, goodbye: nil)
    }

    mutating func ended(partialLine: TextLine?) -> DialogueStep {
        if let partialLine, !partialLine.bytes.isEmpty { return received(partialLine) }
        return .down("agent: connection closed without an answer", goodbye: nil)
    }
}
