import DirectordCore
import Testing

@testable import DirectordChecks

@Suite("combined checks (checktype=N)")
struct CombinedCheckStateTests {
    let check: HealthCheck

    init() throws {
        check = try healthCheck("virtual=10.0.0.1:80\n\treal=127.0.0.1:80 gate\n\tchecktype=2\n\tservice=http")
    }

    static let up = CheckResult.up("fine", latency: .zero)
    static let down = CheckResult.down("broken", latency: .zero)

    /// Runs the sequence of results and returns the kinds of check handed out.
    func kinds(_ results: [CheckResult]) -> [CheckType] {
        var state = CombinedCheckState(for: check)
        return results.map { result in
            let next = state.nextCheck(check)
            state.record(result)
            return next.type
        }
    }

    @Test("negotiate first, then N connects, then negotiate again (ldirectord's num_connects)")
    func rotation() {
        #expect(
            kinds([Self.up, Self.up, Self.up, Self.up, Self.up, Self.up]) == [
                .negotiate, .connect, .connect, .negotiate, .connect, .connect,
            ])
    }

    @Test("a failed connect makes the next check a negotiate")
    func failedConnect() {
        #expect(kinds([Self.up, Self.down, Self.up, Self.up]) == [.negotiate, .connect, .negotiate, .connect])
    }

    @Test("a failed negotiate is repeated until it passes")
    func failedNegotiate() {
        #expect(kinds([Self.down, Self.down, Self.up, Self.up]) == [.negotiate, .negotiate, .negotiate, .connect])
    }

    @Test("other check types pass through unchanged")
    func passThrough() throws {
        let plain = try healthCheck("virtual=10.0.0.1:80\n\treal=127.0.0.1:80 gate\n\tchecktype=negotiate")
        var state = CombinedCheckState(for: plain)
        #expect(state.nextCheck(plain) == plain)
    }
}

@Suite("receive patterns (PCRE2, Perl syntax, bytes)")
struct ReceivePatternTests {
    let cache = ReceivePatternCache()

    func matches(_ pattern: String, _ subject: String) -> Bool {
        (try? cache.match(pattern, in: Array(subject.utf8)).get()) == .found
    }

    @Test("Perl syntax that ldirectord configs use")
    func perlSyntax() {
        #expect(matches("OK", "status: OK\n"))
        #expect(matches("^status", "status: OK"))
        #expect(matches("OK$", "status: OK\n"))  // $ before a final newline, as Perl
        #expect(matches("\\d{3} ready", "220 ready"))
        #expect(matches("(?i)welcome", "WELCOME"))
        #expect(matches("\\Qa.b\\E", "a.b"))
        #expect(!matches("\\Qa.b\\E", "axb"))
        #expect(!matches("^OK", "status: OK"))
        #expect(!matches("a.b", "a\nb"))  // . does not match newline without /s
    }

    @Test("bodies are bytes, not text")
    func bytes() throws {
        let outcome = try cache.match("\\xff\\x00ok", in: [0x41, 0xff, 0x00, 0x6f, 0x6b]).get()
        #expect(outcome == .found)
    }

    @Test("a pathological pattern gives up instead of stalling the loop")
    func backtrackingBudget() throws {
        // Nested quantifiers over a subject that almost matches: exponential backtracking.
        let subject = Array(repeating: UInt8(ascii: "a"), count: 40) + [UInt8(ascii: "!")]
        let clock = ContinuousClock()
        let started = clock.now
        let outcome = try cache.match("^(a|a?)+$", in: subject).get()
        if case .gaveUp = outcome {} else { Issue.record("expected to give up, got \(outcome)") }
        #expect(clock.now - started < .seconds(2))
    }

    @Test("empty receive means any content (ldirectord: !($receive =~ /.+/))")
    func emptyReceive() {
        #expect(receiveIsEmpty(""))
        #expect(receiveIsEmpty("\n"))
        #expect(!receiveIsEmpty("OK"))
    }
}

@Suite("ICMP echo packets")
struct ICMPPacketTests {
    @Test("an IPv4 echo request carries a valid checksum")
    func checksum() {
        let packet = ICMPPacket.echoRequest(family: .ipv4, identifier: 0x1234, sequence: 7, payload: [1, 2, 3])
        #expect(Array(packet[0..<2]) == [8, 0])
        #expect(ICMPPacket.checksum(packet) == 0)  // a correct checksum sums to zero
    }

    @Test("echo replies are recognised with and without the IPv4 header")
    func parse() {
        let reply: [UInt8] = [0, 0, 0, 0, 0x12, 0x34, 0, 7, 9, 9]
        #expect(ICMPPacket.parseEchoReply(reply, family: .ipv4, includesIPHeader: false)! == (0x1234, 7))
        let header: [UInt8] = [0x45] + Array(repeating: 0, count: 19)
        #expect(ICMPPacket.parseEchoReply(header + reply, family: .ipv4, includesIPHeader: true)! == (0x1234, 7))
        let request: [UInt8] = [8, 0, 0, 0, 0x12, 0x34, 0, 7]
        #expect(ICMPPacket.parseEchoReply(request, family: .ipv4, includesIPHeader: false) == nil)
        let reply6: [UInt8] = [129, 0, 0, 0, 0, 1, 0, 2]
        #expect(ICMPPacket.parseEchoReply(reply6, family: .ipv6, includesIPHeader: false)! == (1, 2))
    }
}

@Suite("text protocol pieces")
struct TextProtocolTests {
    @Test("lines are split on newline and a partial line is held back")
    func lineBuffer() {
        var buffer = LineBuffer(limit: 100)
        let first = buffer.append(Array("220 hel".utf8))
        #expect(first?.isEmpty == true)
        let second = buffer.append(Array("lo\r\n250-a\n25".utf8))
        #expect(second?.map(\.text) == ["220 hello", "250-a"])
        #expect(buffer.finish()?.text == "25")
        var small = LineBuffer(limit: 4)
        #expect(small.append(Array("too long".utf8)) == nil)
    }

    @Test("multi-line numeric replies end with the line whose code is followed by a space")
    func numericReplies() {
        var parser = NumericReplyParser()
        #expect(parser.feed("250-first") == .incomplete)
        #expect(parser.feed("250 last") == .reply(NumericReply(code: 250, lines: ["250-first", "250 last"])))
        #expect(parser.feed("hello") == .garbage("hello"))
    }

    @Test("passive mode ports from PASV and EPSV replies")
    func passivePorts() {
        #expect(
            FTPCheck.passivePort(in: NumericReply(code: 227, lines: ["227 Entering Passive Mode (10,9,8,7,195,80)"]))
                == 50000)
        #expect(FTPCheck.passivePort(in: NumericReply(code: 227, lines: ["227 =10,9,8,7,0,21"])) == 21)
        #expect(
            FTPCheck.passivePort(in: NumericReply(code: 229, lines: ["229 Extended Passive Mode (|||6446|)"])) == 6446)
        #expect(FTPCheck.passivePort(in: NumericReply(code: 500, lines: ["500 no"])) == nil)
    }

    @Test("smtp dialogue: EHLO refused falls back to HELO")
    func smtpHelo() {
        var dialogue = SMTPDialogue()
        guard case .send(let ehlo) = dialogue.received(TextLine(bytes: Array("220 hi\r\n".utf8))) else {
            Issue.record("no EHLO")
            return
        }
        #expect(String(decoding: ehlo, as: UTF8.self) == "EHLO localhost.localdomain\r\n")
        guard case .send(let helo) = dialogue.received(TextLine(bytes: Array("502 no\r\n".utf8))) else {
            Issue.record("no HELO")
            return
        }
        #expect(String(decoding: helo, as: UTF8.self) == "HELO localhost.localdomain\r\n")
        guard case .up(let reason, _) = dialogue.received(TextLine(bytes: Array("250 ok\r\n".utf8))) else {
            Issue.record("not up")
            return
        }
        #expect(reason == "smtp: 220 hi")
    }

    @Test("imap quoting escapes quotes and backslashes")
    func imapQuoting() {
        #expect(IMAPDialogue.quoted(#"pa"ss\word"#) == #""pa\"ss\\word""#)
    }
}

@Suite("which checker runs, with which time limit")
struct CheckPlanTests {
    func plan(_ directives: String) throws -> CheckPlan {
        CheckPlan(
            try healthCheck(
                "virtual=10.0.0.1:80\n\treal=127.0.0.1:8080 masq\n\tchecktimeout=3\n\tnegotiatetimeout=7\n\(directives)"
            ))
    }

    @Test("negotiate checks use negotiatetimeout; connect, external and ping use checktimeout")
    func timeouts() throws {
        #expect(try plan("\tchecktype=connect").timeout == .seconds(3))
        #expect(try plan("\tchecktype=external").timeout == .seconds(3))
        #expect(try plan("\tchecktype=negotiate\n\tservice=smtp").timeout == .seconds(7))
        #expect(try plan("\tchecktype=negotiate\n\tservice=mysql").timeout == .seconds(7))
        // Plain HTTP is the loop's own; libcurl keeps the real limit for HTTPS, and the loop's
        // is a backstop a second later.
        #expect(try plan("\tchecktype=negotiate\n\tservice=http").timeout == .seconds(7))
        #expect(try plan("\tchecktype=negotiate\n\tservice=https").timeout == .seconds(8))
        // checkcount attempts of checktimeout, plus the backstop.
        #expect(try plan("\tchecktype=ping\n\tcheckcount=3").timeout == .seconds(10))
        // ldirectord's alarm around RADIUS and LDAP is checktimeout (libcurl keeps LDAP's, the
        // loop's is a backstop).
        #expect(try plan("\tchecktype=negotiate\n\tservice=radius").timeout == .seconds(3))
        #expect(try plan("\tchecktype=negotiate\n\tservice=ldaps").timeout == .seconds(4))
        #expect(try plan("\tchecktype=negotiate\n\tservice=pgsql").timeout == .seconds(7))
        #expect(try plan("\tchecktype=negotiate\n\tservice=pops").timeout == .seconds(8))
        #expect(try plan("\tchecktype=negotiate\n\tservice=imaps").timeout == .seconds(8))
    }

    @Test(
        "every service has a checker or a labelled stand-in",
        arguments: ServiceType.allCases.filter { $0 != .none })
    func everyService(service: ServiceType) throws {
        let plan = try plan("\tchecktype=negotiate\n\tservice=\(service.rawValue)")
        switch plan.kind {
        case .substitute(let named, .connect):
            #expect(named == service)
            #expect(service == .oracle)
        case .immediate, .substitute(_, .ping):
            Issue.record("service=\(service.rawValue) on TCP should be checked, got \(plan.kind)")
        default:
            #expect(service != .oracle)
        }
    }

    @Test("a combined check run on its own negotiates; a UDP connect pings")
    func dispatch() throws {
        #expect(try plan("\tchecktype=3\n\tservice=http").kind == .plainHTTP(target: "/"))
        let udp = CheckPlan(
            try healthCheck("virtual=10.0.0.1:53\n\treal=127.0.0.1:53 gate\n\tprotocol=udp\n\tchecktype=connect"))
        #expect(udp.kind == .ping)
        // ldirectord negotiates whatever the protocol; only oracle's stand-in pings on UDP.
        let pgsql = CheckPlan(
            try healthCheck("virtual=10.0.0.1:5432\n\treal=127.0.0.1:5432 gate\n\tprotocol=udp\n\tservice=pgsql"))
        #expect(pgsql.kind == .pgsql)
    }
}
