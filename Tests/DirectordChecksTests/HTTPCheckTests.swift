import DirectordCore
import Foundation
import Testing

@testable import DirectordChecks

/// The two ways a plain `http://` check runs; every plain-HTTP test runs both, so they keep
/// the same verdicts and reasons.
enum HTTPEngine: String, CaseIterable, CustomTestStringConvertible {
    /// ``PlainHTTPCheck``, the default.
    case direct
    /// libcurl, as HTTPS checks and what the direct engine hands over.
    case libcurl

    var testDescription: String { rawValue }

    func run(_ check: HealthCheck) async -> CheckResult {
        switch self {
        case .direct: await sharedLoop.check(check)
        case .libcurl: await libcurlLoop.check(check)
        }
    }
}

/// A loop that runs plain HTTP through libcurl.
let libcurlLoop: CheckLoop = {
    var options = CheckLoop.Options()
    options.plainHTTPThroughLibcurl = true
    do {
        return try CheckLoop(options: options)
    } catch {
        fatalError("cannot create the check loop: \(error)")
    }
}()

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

    @Test("a 2xx whose body matches receive is up", arguments: HTTPEngine.allCases)
    func upWhenBodyMatches(engine: HTTPEngine) async throws {
        let result = await engine.run(try http("/ok", receive: "OK"))
        #expect(result.isUp, "\(result.reason)")
        #expect(result.reason == "HTTP 200 OK, receive /OK/ found")
        #expect(result.latency < .seconds(1))
    }

    @Test(
        "without receive, any 2xx is up, whatever the body (ldirectord: !($receive =~ /.+/))",
        arguments: HTTPEngine.allCases)
    func anyBodyWithoutReceive(engine: HTTPEngine) async throws {
        #expect(await engine.run(try http("/empty")).isUp)
        #expect(await engine.run(try http("/body/anything")).isUp)
    }

    @Test("receive is an unanchored Perl regular expression matched against the body", arguments: HTTPEngine.allCases)
    func perlRegex(engine: HTTPEngine) async throws {
        #expect(await engine.run(try http("/ok", receive: "healthy$")).isUp)
        #expect(await engine.run(try http("/ok", receive: "OK\\s+heal")).isUp)
        #expect(await engine.run(try http("/ok", receive: "(?i)ok HEALTHY")).isUp)
        #expect(await engine.run(try http("/ok", receive: "^healthy")).isUp == false)
        // Bytes that are not UTF-8 are matched as bytes, as Perl does.
        #expect(await engine.run(try http("/body/%FFready", receive: "\\xffready")).isUp)
    }

    @Test("a body that does not match is down, and says what was looked for and where", arguments: HTTPEngine.allCases)
    func downWhenBodyDoesNotMatch(engine: HTTPEngine) async throws {
        let check = try http("/ok", receive: "nope")
        let result = await engine.run(check)
        #expect(!result.isUp)
        #expect(result.reason == "receive /nope/ not found in 11 bytes from \(check.url)")
    }

    @Test(
        "an invalid receive regex is down with the regex error, and check-config can tell",
        arguments: HTTPEngine.allCases)
    func invalidRegex(engine: HTTPEngine) async throws {
        let check = try http("/ok", receive: "(unclosed")
        #expect(check.receiveProblem?.contains("missing closing parenthesis") == true)
        let result = await engine.run(check)
        #expect(!result.isUp)
        #expect(result.reason.contains("is not a valid regular expression"))
    }

    @Test("a non-2xx status is down with its status line", arguments: [404, 500, 503], HTTPEngine.allCases)
    func statusDown(status: Int, engine: HTTPEngine) async throws {
        let check = try http("/status/\(status)")
        let result = await engine.run(check)
        #expect(!result.isUp)
        #expect(result.reason.hasPrefix("HTTP \(status) "))
        #expect(result.reason.hasSuffix("from \(check.url)"))
    }

    @Test(
        "a server that accepts and never answers is down at negotiatetimeout, not later", arguments: HTTPEngine.allCases
    )
    func hangingServer(engine: HTTPEngine) async throws {
        let result = await engine.run(try http("/hang"))
        #expect(!result.isUp)
        #expect(result.reason.hasPrefix("no answer within 2 s from http://127.0.0.1:"))
        #expect(result.latency >= .seconds(1.9) && result.latency < .seconds(3))
    }

    @Test("a body that drips slowly is down at negotiatetimeout", arguments: HTTPEngine.allCases)
    func drippingBody(engine: HTTPEngine) async throws {
        let result = await engine.run(try http("/drip", receive: "never"))
        #expect(!result.isUp)
        #expect(result.reason.contains("not complete within 2 s"), "\(result.reason)")
        #expect(result.latency < .seconds(3))
    }

    @Test("a reset connection is down", arguments: HTTPEngine.allCases)
    func reset(engine: HTTPEngine) async throws {
        let result = await engine.run(try http("/reset"))
        #expect(!result.isUp)
        #expect(result.reason.contains("Connection reset by peer"), "\(result.reason)")
    }

    @Test("a connection closed without an answer is down", arguments: HTTPEngine.allCases)
    func closedWithoutAnswer(engine: HTTPEngine) async throws {
        let result = await engine.run(try http("/close"))
        #expect(!result.isUp)
        #expect(result.reason.contains("connection closed without a response"), "\(result.reason)")
    }

    @Test("a refused connection is down with the system's reason", arguments: HTTPEngine.allCases)
    func refused(engine: HTTPEngine) async throws {
        let result = await engine.run(try http("/", port: "closed"))
        #expect(!result.isUp)
        #expect(result.reason.hasPrefix("connect to http://127.0.0.1:"))
        #expect(result.reason.hasSuffix(": Connection refused"))
    }

    @Test("redirects are followed, up to 7 as LWP does", arguments: HTTPEngine.allCases)
    func redirects(engine: HTTPEngine) async throws {
        let followed = await engine.run(try http("/redirect/3", receive: "redirected"))
        #expect(followed.isUp, "\(followed.reason)")
        let seven = await engine.run(try http("/redirect/7", receive: "redirected"))
        #expect(seven.isUp, "\(seven.reason)")
        let eight = await engine.run(try http("/redirect/8", receive: "redirected"))
        #expect(!eight.isUp)
        #expect(eight.reason.contains("more than 7 redirects"))
        let loop = await engine.run(try http("/redirect-loop"))
        #expect(!loop.isUp)
    }

    @Test("httpstatus: the codes it names pass, others fail naming it", arguments: HTTPEngine.allCases)
    func acceptedStatus(engine: HTTPEngine) async throws {
        let accepting = "\thttpstatus=200-204,404"
        #expect(await engine.run(try http("/status/404", extra: accepting)).isUp)
        #expect(await engine.run(try http("/status/204", receive: nil, extra: accepting)).isUp)
        let refused = await engine.run(try http("/status/503", extra: accepting))
        #expect(!refused.isUp)
        #expect(refused.reason.hasSuffix("(httpstatus=200-204,404)"), "\(refused.reason)")
        // A status outside the default 2xx now passes; receive is still looked for in its body.
        #expect(await engine.run(try http("/status/404", receive: "status 404", extra: accepting)).isUp)
        #expect(!(await engine.run(try http("/status/404", receive: "nothing", extra: accepting)).isUp))
        // Without httpstatus, 2xx only, as ldirectord.
        #expect(!(await engine.run(try http("/status/404")).isUp))
    }

    @Test("a 3xx that httpstatus accepts is the answer judged, not followed", arguments: HTTPEngine.allCases)
    func acceptedRedirect(engine: HTTPEngine) async throws {
        let judged = await engine.run(try http("/redirect/3", extra: "\thttpstatus=302"))
        #expect(judged.isUp, "\(judged.reason)")
        #expect(judged.reason.hasPrefix("HTTP 302"), "\(judged.reason)")
        // Followed, the chain ends at a 200 the set does not name.
        #expect(!(await engine.run(try http("/redirect/3", extra: "\thttpstatus=200,301")).isUp))
        let followed = await engine.run(try http("/redirect/3", extra: "\thttpstatus=200-299,404"))
        #expect(followed.isUp, "\(followed.reason)")
    }

    @Test("httpheader lines are sent after the check's own, replacing its User-Agent", arguments: HTTPEngine.allCases)
    func customHeaders(engine: HTTPEngine) async throws {
        let extra = "\thttpheader=X-Check: directord\n\thttpheader=User-Agent: probe/1\n\thttpheader=X-Empty:"
        let check = try http("/header-lines", receive: "^Host: 127\\.0\\.0\\.1\\s", extra: extra)
        #expect(check.headers == ["X-Check: directord", "User-Agent: probe/1", "X-Empty: "])
        #expect(await engine.run(check).isUp)
        for wanted in ["(?m)^X-Check: directord$", "(?m)^User-Agent: probe/1$", "(?m)^X-Empty:"] {
            let result = await engine.run(try http("/header-lines", receive: wanted, extra: extra))
            #expect(result.isUp, "\(wanted): \(result.reason)")
        }
        // One User-Agent only: the written one replaces the check's own.
        let twice = await engine.run(try http("/header-lines", receive: "(?s)User-Agent.*User-Agent", extra: extra))
        #expect(!twice.isUp)
    }

    @Test("a check prepared once sends, at every start, the request it sends unprepared")
    func preparedCheck() async throws {
        let extra = "\thttpheader=X-Check: directord"
        for wanted in ["(?m)^User-Agent: directord$", "(?m)^X-Check: directord$", "^Host: 127\\.0\\.0\\.1\\s"] {
            let check = try http("/header-lines", receive: wanted, extra: extra)
            let prepared = sharedLoop.prepare(check)
            #expect(
                prepared.plan.request
                    == PlainHTTPCheck.request(for: check, target: "/header-lines", userAgent: "directord"))
            for _ in 1...3 {
                let result = await withCheckedContinuation { continuation in
                    sharedLoop.execute { sharedLoop.startOnLoop(prepared) { continuation.resume(returning: $0) } }
                }
                #expect(result.isUp, "\(wanted): \(result.reason)")
            }
        }
        // Through libcurl nothing is written ahead: libcurl writes its own request.
        #expect(libcurlLoop.prepare(try http("/header-lines")).plan.request == nil)
    }

    @Test("a huge body is read up to the cap and judged on that", arguments: HTTPEngine.allCases)
    func hugeBody(engine: HTTPEngine) async throws {
        let early = await engine.run(try http("/huge", receive: "^aaaa"))
        #expect(early.isUp, "\(early.reason)")
        #expect(early.reason.contains("read the first 1048576 bytes of a longer body"))
        let late = await engine.run(try http("/huge", receive: "NEEDLE"))
        #expect(!late.isUp)
        // Judged on the first MiB, not the 8 MiB the server would send.
        #expect(late.reason.contains("not found in 1048576 bytes"), "\(late.reason)")
    }

    @Test("the Host header is virtualhost, else the real server's address", arguments: HTTPEngine.allCases)
    func hostHeader(engine: HTTPEngine) async throws {
        #expect(await engine.run(try http("/headers", receive: "^GET /headers Host=127\\.0\\.0\\.1$")).isUp)
        let named = try http("/headers", receive: "Host=www\\.example\\.com$", extra: "\tvirtualhost=www.example.com")
        #expect(await engine.run(named).isUp)
    }

    @Test("IPv6: the URL and the Host header bracket the address", arguments: HTTPEngine.allCases)
    func ipv6(engine: HTTPEngine) async throws {
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
        let result = await engine.run(check)
        #expect(result.isUp, "\(result.reason)")
    }

    @Test(
        "HEAD: up on 2xx; a receive string can never match the empty body (as ldirectord)",
        arguments: HTTPEngine.allCases)
    func head(engine: HTTPEngine) async throws {
        let plain = try http("/ok", extra: "\thttpmethod=HEAD")
        #expect(await engine.run(plain).isUp)
        let withReceive = await engine.run(try http("/ok", receive: "OK", extra: "\thttpmethod=HEAD"))
        #expect(!withReceive.isUp)
        #expect(withReceive.reason.contains("a HEAD response has no body"))
    }

    @Test("per-real request and receive override the virtual's", arguments: HTTPEngine.allCases)
    func perRealRequest(engine: HTTPEngine) async throws {
        let check = try healthCheck(
            """
            virtual=10.0.0.1:80
            \treal=127.0.0.1:\(servers.port("http")) gate 1 "body/per-real" "per-real"
            \tservice=http
            \trequest="/status/500"
            \treceive="nothing"
            \tnegotiatetimeout=2
            """)
        let result = await engine.run(check)
        #expect(result.isUp, "\(result.reason)")
    }

    @Test(
        "chunked bodies, bodies that end with the connection, and 100 Continue are read whole",
        arguments: HTTPEngine.allCases)
    func framings(engine: HTTPEngine) async throws {
        let chunked = await engine.run(try http("/chunked", receive: "^OK chunked healthy$"))
        #expect(chunked.isUp, "\(chunked.reason)")
        let untilClose = await engine.run(try http("/until-close", receive: "until close"))
        #expect(untilClose.isUp, "\(untilClose.reason)")
        let interim = await engine.run(try http("/continue", receive: "after continue"))
        #expect(interim.isUp, "\(interim.reason)")
        #expect(interim.reason.hasPrefix("HTTP 200 OK"))
    }

    @Test("a reply that is not HTTP, or shorter than its Content-Length, is down", arguments: HTTPEngine.allCases)
    func malformed(engine: HTTPEngine) async throws {
        let garbage = await engine.run(try http("/garbage"))
        #expect(!garbage.isUp)
        // A timeout of 10 s, so that a verdict at the close (well under 5 s however busy the
        // machine) and one at the timeout cannot be mistaken.
        let short = await engine.run(try http("/short", receive: "OK", extra: "\tnegotiatetimeout=10"))
        #expect(!short.isUp)
        #expect(short.latency < .seconds(5), "a closed connection is a verdict, not a wait for the timeout")
    }

    @Test("plain http:// URLs on the real server are spoken directly; others go through libcurl")
    func engineChoice() throws {
        #expect(CheckPlan(try http("/ok")).kind == .plainHTTP(target: "/ok"))
        #expect(CheckPlan(try http("/a?b=c&d")).kind == .plainHTTP(target: "/a?b=c&d"))
        #expect(CheckPlan(try http("/ok"), plainHTTPThroughLibcurl: true).kind == .http)
        // A fragment or a space: libcurl's URL rules decide what is sent.
        #expect(CheckPlan(try http("/a#b")).kind == .http)
        #expect(CheckPlan(try http("/a b")).kind == .http)
        let elsewhere = try healthCheck(
            """
            virtual=10.0.0.1:80
            \treal=127.0.0.1:\(servers.port("http")) gate 1 "http://www.example.com/health" "OK"
            \tservice=http
            """)
        #expect(CheckPlan(elsewhere).kind == .http)
        #expect(CheckPlan(try https("")).kind == .http)
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
        let otherCA = await run(try https("\tcafile=\(servers.otherCA)\n\tsniname=check.example"))
        #expect(!otherCA.isUp)
        #expect(otherCA.reason.contains("certificate"), "\(otherCA.reason)")
        let otherName = await run(try https("\tcafile=\(servers.ca)\n\tsniname=wrong.example"))
        #expect(!otherName.isUp)
        #expect(otherName.reason.contains("wrong.example"), "\(otherName.reason)")
    }
}

/// How a check's connection ends, seen from the real server.
@Suite("HTTP checks: the end of the connection")
struct HTTPConnectionEndTests {
    /// Accepts one connection on `listener` on a thread of its own, started at once (a task
    /// could wait for the test pool's few threads longer than the check's time limit), answers
    /// 200 with "OK", keeps its end open and reports what came after the answer: "reset" or
    /// "end of file".
    static func answerOnce(_ listener: Int32) -> AsyncStream<String> {
        let (seen, report) = AsyncStream.makeStream(of: String.self)
        Thread.detachNewThread {
            let client = accept(listener, nil, nil)
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var buffer = [UInt8](repeating: 0, count: 4096)
            _ = recv(client, &buffer, buffer.count, 0)
            let answer = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK".utf8)
            _ = send(client, answer, answer.count, Int32(MSG_NOSIGNAL))
            let count = recv(client, &buffer, buffer.count, 0)
            let error = errno
            close(client)
            report.yield(
                count == 0 ? "end of file" : count < 0 && error == ECONNRESET ? "reset" : "\(count), errno \(error)")
            report.finish()
        }
        return seen
    }

    @Test("the direct engine ends with a reset once the answer is in: no TIME_WAIT on either end")
    func resetOnceAnswered() async throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socket in
                bind(listener, socket, length) == 0 && listen(listener, 4) == 0
                    && getsockname(listener, socket, &length) == 0
            }
        }
        try #require(bound)
        let port = UInt16(bigEndian: address.sin_port)
        let seen = Self.answerOnce(listener)
        let check = try healthCheck(
            """
            virtual=10.0.0.1:80
            \treal=127.0.0.1:\(port) gate
            \tservice=http
            \trequest="/health"
            \treceive="OK"
            \tnegotiatetimeout=2
            """)
        let result = await sharedLoop.check(check)
        #expect(result.isUp, "\(result.reason)")
        var report = seen.makeAsyncIterator()
        #expect(await report.next() == "reset")
    }
}
