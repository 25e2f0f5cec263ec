import DirectordCore

/// The verdict on a final HTTP response, the same whichever engine fetched it (libcurl or
/// ``PlainHTTPCheck``): up when the status is 2xx (or one `httpstatus` names) and `receive` is
/// found in the body, as ldirectord's `check_http`.
struct HTTPVerdict {
    var isUp: Bool
    var reason: String

    /// - Parameters:
    ///   - place: the URL as reasons name it ("http://10.0.0.1:80/health", with any redirects).
    init(
        status: Int, reasonPhrase: String, body: [UInt8], bodyWasCut: Bool, check: HealthCheck,
        patterns: ReceivePatternCache, place: String
    ) {
        let statusText = reasonPhrase.isEmpty ? "HTTP \(status)" : "HTTP \(status) \(reasonPhrase)"
        guard check.acceptedStatus.contains(status) else {
            let accepted = check.acceptedStatus == .success ? "" : " (httpstatus=\(check.acceptedStatus))"
            self.init(isUp: false, reason: "\(statusText) from \(place)\(accepted)")
            return
        }
        if receiveIsEmpty(check.receive) {
            self.init(isUp: true, reason: statusText)
            return
        }
        let cut = bodyWasCut ? " (read the first \(body.count) bytes of a longer body)" : ""
        switch patterns.match(check.receive, in: body) {
        case .success(.found):
            self.init(isUp: true, reason: "\(statusText), receive /\(check.receive)/ found\(cut)")
        case .success(.notFound):
            let head = check.httpMethod == .head ? " (a HEAD response has no body)" : cut
            self.init(
                isUp: false, reason: "receive /\(check.receive)/ not found in \(body.count) bytes from \(place)\(head)")
        case .success(.gaveUp(let why)):
            self.init(
                isUp: false,
                reason:
                    "receive /\(check.receive)/ could not be matched against \(body.count) bytes from \(place): \(why)")
        case .failure(let error):
            self.init(isUp: false, reason: error.description)
        }
    }

    init(isUp: Bool, reason: String) {
        self.isUp = isUp
        self.reason = reason
    }

    /// Whether the body matters to the verdict: only for an accepted answer to a GET with a
    /// receive.
    static func needsBody(_ check: HealthCheck) -> Bool {
        check.httpMethod == .get && !receiveIsEmpty(check.receive)
    }
}

extension CheckOperation {
    final func finish(with verdict: HTTPVerdict) {
        if verdict.isUp { succeed(verdict.reason) } else { fail(verdict.reason) }
    }
}

extension HealthCheck {
    /// Redirects are followed, as ldirectord's LWP follows them, unless `httpstatus` accepts a
    /// 3xx status: then the redirect itself is the answer judged.
    var followsRedirects: Bool {
        // Through the forwarding path only directord's own HTTP client goes (libcurl cannot mark
        // its socket here): the redirect is judged as an answer.
        forwardingPath == nil && !acceptedStatus.ranges.contains { $0.overlaps(300...399) }
    }
}
