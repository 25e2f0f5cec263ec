import CCurl
import DirectordCore
import DirectordSystem

/// `service=http`, `https`, `http_proxy` negotiate checks (ldirectord's `check_http`): a GET or
/// HEAD of the check URL through libcurl, up when the final response is 2xx and its body
/// matches `receive` (``HTTPVerdict``). Plain `http://` checks of the real server itself run
/// in ``PlainHTTPCheck`` instead, which hands them back here at a redirect.
///
/// As ldirectord: the URL is `scheme://REAL:checkport/request` (a per-real request holding a
/// full URL is used as it is); the Host header is `virtualhost`, else the real server's address
/// (bracketed for IPv6); for `http_proxy` the request is a full URL fetched with the real server
/// as the HTTP proxy, and no Host header is forced; redirects are followed for GET and HEAD, up
/// to 7 (LWP's defaults); HTTPS certificates are not verified; `receive` empty (or only
/// newlines) accepts any body; the time limit is `negotiatetimeout` for the whole exchange.
///
/// directord's additions: `cafile` verifies the certificate (and its name: `sniname`, else the
/// URL's host); `sniname` is sent as the TLS server name; the body is read up to
/// ``CheckLoop/Options/maximumBodyBytes`` and judged on what was read; proxies from the
/// environment are ignored (LWP ignores them too); each check opens a new connection.
final class HTTPCheck: CurlCheck {
    /// LWP::UserAgent's `max_redirect`.
    static let maximumRedirects = 7

    private var limit: Duration { check.negotiateTimeout }
    /// What is left of the check's time when it takes over from ``PlainHTTPCheck`` (at a
    /// redirect); reasons still name `negotiatetimeout`.
    private let timeLimit: Duration?

    init(context: LoopContext, check: HealthCheck, timeLimit: Duration? = nil) {
        self.timeLimit = timeLimit
        super.init(context: context, check: check)
    }
    private var isProxy: Bool { check.service == .httpProxy }

    override func begin() {
        if isProxy && !check.url.contains("://") {
            fail(
                "http_proxy checks fetch request= through the real server, so it must be a full URL such as http://www.example.com/; it is '\(check.url)'"
            )
            return
        }
        startTransfer(
            protocolName: "HTTP", bodyLimit: context.options.maximumBodyBytes, keepsBody: HTTPVerdict.needsBody(check),
            configure: configure)
    }

    override func timedOut() {
        fail("no verdict from libcurl within \(timeoutText) for \(check.url)")
    }

    // MARK: Request

    private func configure(_ transfer: CurlTransfer) {
        var url = check.url
        let realEndpoint = "\(check.address.bracketed):\(check.port.map(String.init) ?? "")"
        if check.service == .https, let sniName = check.sniName, let port = check.port,
            url.hasPrefix("https://\(realEndpoint)/")
        {
            // curl takes the TLS server name from the URL, so the URL names `sniname` and
            // CONNECT_TO sends the connection to the real server anyway.
            url = "https://\(sniName):\(port)" + url.dropFirst("https://\(realEndpoint)".count)
            transfer.set(CURLOPT_CONNECT_TO, list: ["\(sniName):\(port):\(check.address.bracketed):\(port)"])
        }
        transfer.set(CURLOPT_URL, url)
        transfer.set(CURLOPT_PATH_AS_IS, 1)
        transfer.set(CURLOPT_PROTOCOLS_STR, "http,https")
        transfer.set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        transfer.set(CURLOPT_FOLLOWLOCATION, check.followsRedirects ? 1 : 0)
        transfer.set(CURLOPT_MAXREDIRS, Self.maximumRedirects)
        transfer.set(CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1)
        setSingleConnection(transfer, timeout: timeLimit ?? limit)
        transfer.set(CURLOPT_USERAGENT, context.options.userAgent)
        if check.httpMethod == .head { transfer.set(CURLOPT_NOBODY, 1) }
        if isProxy {
            let port = check.port.map { ":\($0)" } ?? ""
            transfer.set(CURLOPT_PROXY, "http://\(check.address.bracketed)\(port)")
        } else {
            // An empty proxy turns off curl's use of the http_proxy environment variables.
            transfer.set(CURLOPT_PROXY, "")
            transfer.set(
                CURLOPT_HTTPHEADER, list: ["Host: \(check.virtualHost ?? check.address.bracketed)"] + curlHeaders)
        }
        if isProxy && !check.headers.isEmpty { transfer.set(CURLOPT_HTTPHEADER, list: curlHeaders) }
        setCertificateVerification(transfer)
    }

    /// `httpheader` lines as libcurl takes them: it drops "Name:" with no value (its way to
    /// remove a header of its own) and sends "Name;" as the empty header.
    private var curlHeaders: [String] {
        check.headers.map { header in
            let name = header.prefix { $0 != ":" }
            return header.dropFirst(name.count + 1).allSatisfy { $0 == " " } ? "\(name);" : header
        }
    }

    // MARK: Verdict

    override func completed(_ code: CURLcode) {
        guard let transfer else { return }
        let url = transfer.effectiveURL ?? check.url
        let redirects = transfer.redirectCount
        let place = redirects > 0 ? "\(url) (after \(redirects) redirect\(redirects == 1 ? "" : "s"))" : url
        guard code == CURLE_OK || (code == CURLE_WRITE_ERROR && transfer.bodyWasCut) else {
            fail(describeFailure(code, transfer: transfer, url: place))
            return
        }
        finish(
            with: HTTPVerdict(
                status: transfer.responseCode, reasonPhrase: transfer.reasonPhrase, body: transfer.body,
                bodyWasCut: transfer.bodyWasCut, check: check, patterns: context.patterns, place: place))
    }

    private func describeFailure(_ code: CURLcode, transfer: CurlTransfer, url: String) -> String {
        let endpoint = "\(check.address.bracketed):\(check.port.map(String.init) ?? "?")"
        switch code {
        case CURLE_COULDNT_CONNECT:
            let errno = transfer.systemErrno
            let why = errno != 0 ? errnoText(errno) : transfer.errorText(for: code)
            return isProxy ? "connect to proxy \(endpoint): \(why)" : "connect to \(url): \(why)"
        case CURLE_OPERATION_TIMEDOUT:
            if transfer.responseCode == 0 {
                return "no answer within \(secondsText(limit)) from \(url)"
            }
            return
                "response from \(url) not complete within \(secondsText(limit)) (\(transfer.bodyBytes) bytes of body received)"
        case CURLE_GOT_NOTHING:
            return "\(url): connection closed without a response"
        case CURLE_TOO_MANY_REDIRECTS:
            return "\(url): more than \(Self.maximumRedirects) redirects"
        case CURLE_RECV_ERROR, CURLE_SEND_ERROR:
            let errno = transfer.systemErrno
            let why = errno != 0 ? errnoText(errno) : transfer.errorText(for: code)
            return "\(url): \(why)"
        default:
            return "\(url): \(transfer.errorText(for: code))"
        }
    }
}
