import DirectordChecks
import DirectordCore
import Testing

/// HTTP and HTTPS negotiate checks against real servers on loopback, with their faults.
@Suite("HTTP negotiate checks")
struct HTTPCheckTests {
    let servers: TestServers

    init() throws {
        servers = try TestServers.shared()
    }

    func http(_ request: String, receive: String? = nil, extra: String = "", port: String = "http") throws
        -> HealthCheck
    {
        try healthCheck(
            """
            virtual=10.0.0.1:80
            \treal=127.0.0.1:\(servers.port(port)) gate
            \tservice=http
            \trequest="\(request)"
            \(receive.map { "\treceive=\"\($0)\"" } ?? "")
            \tnegotiatetimeout=2
            \(extra)
            """)
    }

    @Test("a 2xx whose body matches receive is up")
    func upWhenBodyMatches() async throws {
        let result = await run(try http("/ok", receive: "OK"))
        #expect(result.isUp, "\(result.reason)")
        #expect(result.reason == "HTTP 200 OK, receive /OK/ found")
        #expect(result.latency < .seconds(1))
    }

    @Test("without receive, any 2xx is up, whatever the body (ldirectord: !($receive =~ /.+/))")
    func anyBodyWithoutReceive() async throws {
        #expect(await run(try http("/empty")).isUp)
        #expect(await run(try http("/body/anything")).isUp)
    }

    @Test("receive is an unanchored Perl regular expression matched against the body")
    func perlRegex() async throws {
        #expect(await run(try http("/ok", receive: "healthy$")).isUp)
        #expect(await run(try http("/ok", receive: "OK\\s+heal")).isUp)
        #expect(await run(try http("/ok", receive: "(?i)ok HEALTHY")).isUp)
        #expect(await run(try http("/ok", receive: "^healthy")).isUp == false)
        // Bytes that are not UTF-8 are matched as bytes, as Perl does.
        #expect(await run(try http("/body/%FFready", receive: "\\xffready")).isUp)
    }

    @Test("a body that does not match is down, and says what was looked for and where")
    func downWhenBodyDoesNotMatch() async throws {
        let check = try http("/ok", receive: "nope")
        let result = await run(check)
        #expect(!result.isUp)
        #expect(result.reason == "receive /nope/ not found in 11 bytes from \(check.url)")
    }

    @Test("an invalid receive regex is down with the regex error, and check-config can tell")
    func invalidRegex() async throws {
        let check = try http("/ok", receive: "(unclosed")
        #expect(check.receiveProblem?.contains("missing closing parenthesis") == true)
        let result = await run(check)
        #expect(!result.isUp)
        #expect(result.reason.contains("is not a valid regular expression"))
    }

    @Test("a non-2xx status is down with its status line", arguments: [404, 500, 503])
    func statusDown(status: Int) async throws {
        let check = try http("/status/\(status)")
        let result = await run(check)
        #expect(!result.isUp)
        #expect(result.reason.hasPrefix("HTTP \(status) "))
        #expect(result.reason.hasSuffix("from \(check.url)"))
    }

    @Test("a server that accepts and never answers is down at negotiatetimeout, not later")
    func hangingServer() async throws {
        let result = await run(try http("/hang"))
        #expect(!result.isUp)
        #expect(result.reason.hasPrefix("no answer within 2 s from http://127.0.0.1:"))
        #expect(result.latency >= .seconds(1.9) && result.latency < .seconds(3))
    }

    @Test("a body that drips slowly is down at negotiatetimeout")
    func drippingBody() async throws {
        let result = await run(try http("/drip", receive: "never"))
        #expect(!result.isUp)
        #expect(result.reason.contains("not complete within 2 s"), "\(result.reason)")
        #expect(result.latency < .seconds(3))
    }

    @Test("a reset connection is down")
    func reset() async throws {
        let result = await run(try http("/reset"))
        #expect(!result.isUp)
        #expect(result.reason.contains("Connection reset by peer"), "\(result.reason)")
    }

    @Test("a connection closed without an answer is down")
    func closedWithoutAnswer() async throws {
        let result = await run(try http("/close"))
        #expect(!result.isUp)
        #expect(result.reason.contains("connection closed without a response"), "\(result.reason)")
    }

    @Test("a refused connection is down with the system's reason")
    func refused() async throws {
        let result = await run(try http("/", port: "closed"))
        #expect(!result.isUp)
        #expect(result.reason.hasPrefix("connect to http://127.0.0.1:"))
        #expect(result.reason.hasSuffix(": Connection refused"))
    }

    @Test("redirects are followed, up to 7 as LWP does")
    func redirects() async throws {
        let followed = await run(try http("/redirect/3", receive: "redirected"))
        #expect(followed.isUp, "\(followed.reason)")
        let seven = await run(try http("/redirect/7", receive: "redirected"))
        #expect(seven.isUp, "\(seven.reason)")
        let eight = await run(try http("/redirect/8", receive: "redirected"))
        #expect(!eight.isUp)
        #expect(eight.reason.contains("more than 7 redirects"))
        let loop = await run(try http("/redirect-loop"))
        #expect(!loop.isUp)
    }

    @Test("a huge body is read up to the cap and judged on that")
    func hugeBody() async throws {
        let early = await run(try http("/huge", receive: "^aaaa"))
        #expect(early.isUp, "\(early.reason)")
        #expect(early.reason.contains("read the first 1048576 bytes of a longer body"))
        let late = await run(try http("/huge", receive: "NEEDLE"))
        #expect(!late.isUp)
        // Judged on the first MiB, not the 8 MiB the server would send.
        #expect(late.reason.contains("not found in 1048576 bytes"), "\(late.reason)")
    }

    @Test("the Host header is virtualhost, else the real server's address")
    func hostHeader() async throws {
        #expect(await run(try http("/headers", receive: "^GET /headers Host=127\\.0\\.0\\.1$")).isUp)
        let named = try http("/headers", receive: "Host=www\\.example\\.com$", extra: "\tvirtualhost=www.example.com")
        #expect(await run(named).isUp)
    }

    @Test("IPv6: the URL and the Host header bracket the address")
    func ipv6() async throws {
        let check = try healthCheck(
            """
            virtual6=[2001:db8::1]:80
            \treal6=[::1]:\(servers.port("http6")) gate
            \tservice=http
            \trequest="/headers"
            \treceive="Host=\\[::1\\]$"
            \tnegotiatetimeout=2
            """)
        #expect(check.url == "http://[::1]:\(servers.port("http6"))/headers")
        let result = await run(check)
        #expect(result.isUp, "\(result.reason)")
    }

    @Test("HEAD: up on 2xx; a receive string can never match the empty body (as ldirectord)")
    func head() async throws {
        let plain = try http("/ok", extra: "\thttpmethod=HEAD")
        #expect(await run(plain).isUp)
        let withReceive = await run(try http("/ok", receive: "OK", extra: "\thttpmethod=HEAD"))
        #expect(!withReceive.isUp)
        #expect(withReceive.reason.contains("a HEAD response has no body"))
    }

    @Test("per-real request and receive override the virtual's")
    func perRealRequest() async throws {
        let check = try healthCheck(
            """
            virtual=10.0.0.1:80
            \treal=127.0.0.1:\(servers.port("http")) gate 1 "body/per-real" "per-real"
            \tservice=http
            \trequest="/status/500"
            \treceive="nothing"
            \tnegotiatetimeout=2
            """)
        let result = await run(check)
        #expect(result.isUp, "\(result.reason)")
    }

    @Test("http_proxy: the request is a full URL fetched through the real server as proxy")
    func httpProxy() async throws {
        let check = try healthCheck(
            """
            virtual=10.0.0.1:3128
            \treal=127.0.0.1:\(servers.port("http")) gate
            \tservice=http_proxy
            \trequest="http://www.example.com/index.html"
            \treceive="^proxied http://www\\.example\\.com/index\\.html Host=www\\.example\\.com$"
            \tnegotiatetimeout=2
            """)
        let result = await run(check)
        #expect(result.isUp, "\(result.reason)")
        let notAURL = try healthCheck(
            """
            virtual=10.0.0.1:3128
            \treal=127.0.0.1:\(servers.port("http")) gate
            \tservice=http_proxy
            """)
        let bad = await run(notAURL)
        #expect(!bad.isUp)
        #expect(bad.reason.contains("must be a full URL"))
    }

    // MARK: HTTPS

    func https(_ extra: String) throws -> HealthCheck {
        try healthCheck(
            """
            virtual=10.0.0.1:443
            \treal=127.0.0.1:\(servers.port("https")) gate
            \tservice=https
            \trequest="/ok"
            \treceive="OK"
            \tnegotiatetimeout=2
            \(extra)
            """)
    }

    @Test("HTTPS does not verify the certificate by default, as ldirectord")
    func httpsUnverified() async throws {
        let result = await run(try https(""))
        #expect(result.isUp, "\(result.reason)")
    }

    @Test("cafile verifies the certificate; sniname is the name sent and verified")
    func httpsVerified() async throws {
        let named = await run(try https("\tcafile=\(servers.ca)\n\tsniname=check.example"))
        #expect(named.isUp, "\(named.reason)")
        // Without sniname the certificate must hold the real server's address.
        let byAddress = await run(try https("\tcafile=\(servers.ca)"))
        #expect(byAddress.isUp, "\(byAddress.reason)")
    }

    @Test("a certificate from another CA, or for another name, is down")
    func httpsVerificationFails() async throws {
        let otherCA = await run(try https("\tcafile=\(servers.other_ca)\n\tsniname=check.example"))
        #expect(!otherCA.isUp)
        #expect(otherCA.reason.contains("certificate"), "\(otherCA.reason)")
        let otherName = await run(try https("\tcafile=\(servers.ca)\n\tsniname=wrong.example"))
        #expect(!otherName.isUp)
        #expect(otherName.reason.contains("wrong.example"), "\(otherName.reason)")
    }
}
