import DirectordCore
import DirectordSystem

/// `service=http` negotiate checks of a URL on the real server itself, spoken directly on the
/// loop: one TCP connection, one HTTP/1.1 request, the response read by
/// ``HTTPResponseParser``, the verdict by ``HTTPVerdict``, as ``HTTPCheck`` would reach it.
///
/// Why not libcurl for these too: they are nearly every check of a large director, and a
/// libcurl transfer costs several times the CPU of the exchange itself (easy-handle set-up,
/// URL parsing, its own timers and socket callbacks, allocations). What this engine does not
/// do, it hands to ``HTTPCheck``: HTTPS, `http_proxy`, a URL that names another host or holds
/// bytes libcurl would rewrite (chosen in ``CheckPlan``), and a redirect, at which the whole
/// check starts again in libcurl, which follows it as LWP does, within the time that is left.
final class PlainHTTPCheck: CheckOperation {
    private let check: HealthCheck
    private let request: [UInt8]
    private let connection: StreamConnection
    private var parser: HTTPResponseParser
    /// The libcurl check that took over at a redirect.
    private var takeover: HTTPCheck?

    /// `request`: the whole request, from ``request(for:target:userAgent:)``.
    init(context: LoopContext, check: HealthCheck, request: [UInt8]) {
        self.check = check
        self.request = request
        connection = StreamConnection(reactor: context.reactor, check: check, port: check.port ?? 0)
        parser = HTTPResponseParser(
            bodyLimit: context.options.maximumBodyBytes, isHeadRequest: check.httpMethod == .head)
        super.init(context: context)
    }

    /// The request target when this engine can run `check`: `service=http` and a URL of the
    /// form `http://REAL:PORT/...` (what ldirectord builds from `request=`) whose path is
    /// printable ASCII without a fragment, sent as it is written, as libcurl sends it.
    static func requestTarget(for check: HealthCheck) -> String? {
        guard check.service == .http, let port = check.port else { return nil }
        let origin = "http://\(check.address.bracketed):\(port)"
        guard check.url.hasPrefix(origin + "/") else { return nil }
        let target = check.url.dropFirst(origin.count)
        let printable = target.utf8.allSatisfy { byte in
            (0x21...0x7E).contains(byte) && byte != UInt8(ascii: "#") && byte != UInt8(ascii: "\\")
        }
        return printable ? String(target) : nil
    }

    private var limit: Duration { check.negotiateTimeout }

    override func begin() {
        connection.onFailure = { [weak self] error in
            guard let self else { return }
            if error.operation == "connect" {
                self.fail("connect to \(self.check.url): \(error.reason)")
            } else {
                self.fail("\(self.check.url): \(error.reason)")
            }
        }
        connection.onData = { [weak self] bytes in
            guard let self else { return }
            self.act(on: self.parser.consume(bytes))
        }
        connection.onEnd = { [weak self] in
            guard let self else { return }
            self.act(on: self.parser.endOfInput())
        }
        connection.send(request)
        connection.connect {}
    }

    /// The request `check` sends to `target` (from ``requestTarget(for:)``): the same at every
    /// start, so a check that runs many times has it written once (``CheckLoop/prepare(_:)``).
    static func request(for check: HealthCheck, target: String, userAgent: String) -> [UInt8] {
        let method = check.httpMethod == .head ? "HEAD" : "GET"
        let host = check.virtualHost ?? check.address.bracketed
        // `httpheader` lines come after the check's own, and replace a User-Agent or Accept of
        // the check's own, as libcurl's custom headers replace its own.
        let written = Set(check.headers.map { $0.prefix { $0 != ":" }.lowercased() })
        var head = "\(method) \(target) HTTP/1.1\r\nHost: \(host)\r\n"
        if !written.contains("user-agent") { head += "User-Agent: \(userAgent)\r\n" }
        if !written.contains("accept") { head += "Accept: */*\r\n" }
        head += "Connection: close\r\n"
        for header in check.headers { head += header + "\r\n" }
        return Array((head + "\r\n").utf8)
    }

    override func timedOut() {
        if let takeover {
            takeover.fail("no verdict within \(secondsText(limit)) for \(check.url) (redirected)")
        } else if parser.head == nil {
            fail("no answer within \(secondsText(limit)) from \(check.url)")
        } else {
            fail(
                "response from \(check.url) not complete within \(secondsText(limit)) (\(parser.bodyBytes) bytes of body received)"
            )
        }
    }

    override func releaseResources() {
        // The check is over, with the answer in or given up: a reset, as HAProxy ends its
        // checks, leaves no connection waiting out TIME_WAIT on either end (10,000 checks a
        // second would hold 600,000) and costs about a tenth less CPU per check (checks bench).
        connection.resetOnClose = true
        connection.close()
        takeover?.fail("check ended")
        takeover = nil
    }

    private func act(on progress: HTTPResponseParser.Progress) {
        switch progress {
        case .needMore:
            break
        case .headReceived:
            // Neither a redirect nor a failed status needs the body to be judged.
            if let head = parser.head, !check.acceptedStatus.contains(head.status) { judge(head) }
        case .complete:
            if let head = parser.head { judge(head) }
        case .malformed(let why):
            fail("\(check.url): \(why)")
        }
    }

    private func judge(_ head: HTTPResponseParser.Head) {
        if (300..<400).contains(head.status) && head.location != nil && check.followsRedirects {
            handOverToLibcurl()
            return
        }
        finish(
            with: HTTPVerdict(
                status: head.status, reasonPhrase: head.reasonPhrase, body: parser.body,
                bodyWasCut: parser.bodyWasCut, check: check, patterns: context.patterns, place: check.url))
    }

    private func handOverToLibcurl() {
        connection.close()
        let left = limit - elapsed
        guard left > .milliseconds(1) else {
            fail("no answer within \(secondsText(limit)) from \(check.url)")
            return
        }
        let curl = HTTPCheck(context: context, check: check, timeLimit: left)
        takeover = curl
        curl.run(timeout: nil) { [weak self] result in
            guard let self else { return }
            self.takeover = nil
            if result.isUp { self.succeed(result.reason) } else { self.fail(result.reason) }
        }
    }
}
