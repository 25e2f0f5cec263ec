import DirectordChecks
import DirectordCore
import Testing

/// The line-protocol negotiate checks: simpletcp, smtp, pop, imap, nntp, ftp, sip (and oracle's
/// stand-in). pops and imaps are in TLSServiceTests, ldap and ldaps in LDAPCheckTests.
@Suite("text protocol negotiate checks")
struct TextServiceTests {
    let servers: TestServers

    init() throws {
        servers = try TestServers.shared()
    }

    func check(_ service: String, port: String, _ extra: String = "", address: String = "127.0.0.1") throws
        -> HealthCheck
    {
        let six = address.hasPrefix("[")
        return try healthCheck(
            """
            virtual\(six ? "6=[2001:db8::1]" : "=10.0.0.1"):80
            \treal\(six ? "6" : "")=\(address):\(servers.port(port)) gate
            \tservice=\(service)
            \tnegotiatetimeout=2
            \(extra)
            """)
    }

    // MARK: HAProxy agents

    func agentQuery(port: String, timeout: Int = 2) throws -> HealthCheck {
        let service = try configuration(
            """
            virtual=10.0.0.1:80
            \treal=127.0.0.1:80 gate 100
            \tservice=http
            \tagentport=\(servers.port(port))
            \tchecktimeout=\(timeout)
            """)
        return try #require(service.agentCheck(for: service.realServers[0]))
    }

    @Test("an agent's line is the reason, escaped, and reads as HAProxy's words")
    func agentAnswers() async throws {
        let result = await run(try agentQuery(port: "agent"))
        #expect(result.isUp)
        #expect(result.reason == AgentReply.reasonPrefix + "75% drain # busy\\x1B[2J")
        let reply = try #require(AgentReply(result: result))
        #expect(reply.percent == 75 && reply.administrative == .drain && reply.description == "busy\\x1B[2J")
        let partial = await run(try agentQuery(port: "agent_partial"))
        #expect(AgentReply(result: partial)?.operational == .up, "\(partial.reason)")
    }

    @Test("an agent that says nothing, or is not there, gives no answer: the state is left alone")
    func agentSilent() async throws {
        let closed = await run(try agentQuery(port: "agent_closed"))
        #expect(!closed.isUp && AgentReply(result: closed) == nil)
        #expect(closed.reason == "agent: connection closed without an answer")
        let silent = await run(try agentQuery(port: "silent", timeout: 1))
        #expect(!silent.isUp && AgentReply(result: silent) == nil)
        #expect(silent.latency < .seconds(3))
    }

    // MARK: simpletcp

    @Test("simpletcp: sends the request with \\n as newlines, up when a line matches receive")
    func simpleTCP() async throws {
        let result = await run(
            try check("simpletcp", port: "simpletcp", "\trequest=\"status\\n\"\n\treceive=\"^status: run\""))
        #expect(result.isUp, "\(result.reason)")
        let missing = await run(
            try check("simpletcp", port: "simpletcp", "\trequest=\"status\\n\"\n\treceive=\"down\""))
        #expect(!missing.isUp)
        #expect(missing.reason == "simpletcp: receive /down/ not found in 3 lines (26 bytes)")
    }

    @Test("simpletcp: a last line without newline counts")
    func simpleTCPPartialLine() async throws {
        let result = await run(try check("simpletcp", port: "simpletcp", "\trequest=\"partial\"\n\treceive=\"ready$\""))
        #expect(result.isUp, "\(result.reason)")
    }

    @Test("simpletcp: a server that never answers is down at negotiatetimeout")
    func simpleTCPSilent() async throws {
        let result = await run(try check("simpletcp", port: "hold", "\trequest=\"status\"\n\treceive=\"x\""))
        #expect(!result.isUp)
        #expect(result.reason == "simpletcp: no answer from 127.0.0.1:\(servers.port("hold")) within 2 s")
        // A server that closes without a word is down at once, not at negotiatetimeout.
        let closingCheck = try check(
            "simpletcp", port: "silent", "\trequest=\"status\"\n\treceive=\"x\"\n\tnegotiatetimeout=10")
        #expect(closingCheck.negotiateTimeout == .seconds(10))
        let closing = await run(closingCheck)
        #expect(closing.reason == "simpletcp: receive /x/ not found in 0 lines (0 bytes)")
        #expect(closing.latency < .seconds(5))
    }

    // MARK: Mail and news

    @Test("smtp: a 2xx greeting and an accepted EHLO are up")
    func smtp() async throws {
        let result = await run(try check("smtp", port: "smtp"))
        #expect(result.isUp, "\(result.reason)")
        #expect(result.reason == "smtp: 220 test.example ESMTP ready")
        let refused = await run(try check("smtp", port: "smtp_bad"))
        #expect(!refused.isUp)
        #expect(refused.reason == "smtp: greeting 554 no service here")
    }

    @Test("pop: a +OK greeting is up; with login, USER/PASS must be accepted")
    func pop() async throws {
        #expect(await run(try check("pop", port: "pop")).isUp)
        let login = await run(try check("pop", port: "pop", "\tlogin=tester\n\tpasswd=secret"))
        #expect(login.isUp, "\(login.reason)")
        let wrong = await run(try check("pop", port: "pop", "\tlogin=tester\n\tpasswd=wrong"))
        #expect(!wrong.isUp)
        #expect(wrong.reason == "pop: login as tester refused: -ERR [AUTH] invalid login")
        #expect(!wrong.reason.contains("wrong"))
    }

    @Test("imap: an OK greeting is up; with login, LOGIN must be accepted")
    func imap() async throws {
        #expect(await run(try check("imap", port: "imap")).isUp)
        #expect(await run(try check("imap", port: "imap", "\tlogin=tester\n\tpasswd=secret")).isUp)
        let wrong = await run(try check("imap", port: "imap", "\tlogin=tester\n\tpasswd=bad"))
        #expect(!wrong.isUp)
        #expect(wrong.reason == "imap: login as tester refused: a1 NO [AUTHENTICATIONFAILED] invalid")
    }

    @Test("nntp: a greeting starting with 2 is up")
    func nntp() async throws {
        #expect(await run(try check("nntp", port: "nntp")).isUp)
        let refused = await run(try check("nntp", port: "nntp_bad"))
        #expect(!refused.isUp)
        #expect(refused.reason == "nntp: greeting 502 access denied")
    }

    @Test("a text service that accepts and never speaks is down at negotiatetimeout")
    func silent() async throws {
        let result = await run(try check("smtp", port: "silent"))
        #expect(!result.isUp)
        #expect(result.latency >= .seconds(1.9) && result.latency < .seconds(3))
    }

    // MARK: FTP

    @Test("ftp: the default request checks the login only")
    func ftpLogin() async throws {
        let anonymous = await run(try check("ftp", port: "ftp"))
        #expect(anonymous.isUp, "\(anonymous.reason)")
        #expect(anonymous.reason == "ftp: logged in as anonymous")
        let wrong = await run(try check("ftp", port: "ftp", "\tlogin=tester\n\tpasswd=nope"))
        #expect(!wrong.reason.contains("nope"))
        #expect(!wrong.isUp)
        #expect(wrong.reason == "ftp: login as tester refused: 530 Login incorrect.")
    }

    @Test("ftp: a requested file is fetched in passive mode and matched against receive")
    func ftpFile() async throws {
        let found = await run(
            try check(
                "ftp", port: "ftp", "\tlogin=tester\n\tpasswd=secret\n\trequest=\"/health.txt\"\n\treceive=\"healthy\"")
        )
        #expect(found.isUp, "\(found.reason)")
        let big = await run(try check("ftp", port: "ftp", "\trequest=\"/big.txt\"\n\treceive=\"^x+\""))
        #expect(big.isUp, "\(big.reason)")
        let tail = await run(try check("ftp", port: "ftp", "\trequest=\"/big.txt\"\n\treceive=\"TAIL\""))
        #expect(!tail.isUp)
        #expect(tail.reason == "ftp: receive /TAIL/ not found in the first 65536 bytes of /big.txt")
        let mismatch = await run(try check("ftp", port: "ftp", "\trequest=\"/health.txt\"\n\treceive=\"sick\""))
        #expect(!mismatch.isUp)
        #expect(mismatch.reason == "ftp: receive /sick/ not found in 16 bytes of /health.txt")
        let missing = await run(try check("ftp", port: "ftp", "\trequest=\"/nothing.txt\"\n\treceive=\"x\""))
        #expect(!missing.isUp)
        #expect(missing.reason == "ftp: RETR /nothing.txt refused: 550 No such file")
    }

    @Test("ftp over IPv6 uses EPSV")
    func ftpIPv6() async throws {
        let result = await run(
            try check("ftp", port: "ftp6", "\trequest=\"/health.txt\"\n\treceive=\"healthy\"", address: "[::1]"))
        #expect(result.isUp, "\(result.reason)")
    }

    // MARK: SIP

    @Test("sip: OPTIONS over UDP or TCP, up on 200 OK; the Via names this end", arguments: ["udp", "tcp"])
    func sip(transport: String) async throws {
        let ok = try healthCheck(
            """
            virtual=10.0.0.1:5060
            \treal=127.0.0.1:\(servers.port("sip")) masq
            \tprotocol=\(transport)
            \tservice=sip
            \tlogin="monitor@example.com"
            \tnegotiatetimeout=2
            """)
        let result = await run(ok)
        #expect(result.isUp, "\(result.reason)")
        #expect(result.reason == "sip: SIP/2.0 200 OK")
        var busy = ok
        busy.login = "busy@example.com"
        let refused = await run(busy)
        #expect(!refused.isUp)
        #expect(refused.reason == "sip: SIP/2.0 486 Busy Here")
    }

    // MARK: Services without a dialogue here

    @Test("oracle, which directord does not negotiate, is a labelled TCP connect")
    func substituteConnect() async throws {
        let result = await run(try check("oracle", port: "http"))
        #expect(result.isUp)
        #expect(
            result.reason
                == "service=oracle is not negotiated by directord; TCP connect only: connected to 127.0.0.1:\(servers.port("http"))"
        )
        let refused = await run(try check("oracle", port: "closed"))
        #expect(!refused.isUp)
        #expect(refused.reason.hasPrefix("service=oracle is not negotiated by directord; TCP connect only: connect to"))
    }

    @Test("on a UDP service, oracle's stand-in is a ping")
    func substitutePing() async throws {
        let check = try healthCheck(
            """
            virtual=10.0.0.1:1521
            \treal=127.0.0.1:1521 gate
            \tprotocol=udp
            \tservice=oracle
            """)
        let result = await run(check)
        #expect(result.isUp, "\(result.reason)")
        #expect(result.reason == "service=oracle is not negotiated by directord; ping only: echo reply from 127.0.0.1")
    }
}

@Suite("checks that need no I/O")
struct ImmediateCheckTests {
    @Test("checktype=on is up, off is down, service=none is up; none of them waits")
    func immediate() async throws {
        let on = await run(try healthCheck("virtual=10.0.0.1:80\n\treal=127.0.0.1:80 gate\n\tchecktype=on"))
        #expect(on.isUp && on.latency == .zero)
        let off = await run(try healthCheck("virtual=10.0.0.1:80\n\treal=127.0.0.1:80 gate\n\tchecktype=off"))
        #expect(!off.isUp)
        let none = await run(try healthCheck("virtual=10.0.0.1:9999\n\treal=127.0.0.1:80 gate\n\tchecktype=negotiate"))
        #expect(none.isUp)
        #expect(none.reason == "service=none: not checked, counts as up")
    }

    @Test("a check with no port is down and says how to give it one")
    func noPort() async throws {
        let check = try healthCheck("virtual=10.0.0.1:9999\n\treal=127.0.0.1 gate\n\tchecktype=connect")
        #expect(check.port == nil)
        let result = await run(check)
        #expect(!result.isUp)
        #expect(result.reason.hasPrefix("no port to check"))
    }
}
