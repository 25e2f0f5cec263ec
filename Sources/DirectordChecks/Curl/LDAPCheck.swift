import CCurl
import DirectordCore

/// `service=ldap` negotiate checks (ldirectord's `check_ldap`): bind (simple, as
/// `login` with `passwd` when both are set, else anonymously), search the base object named by
/// the request (without its leading `/`) with filter `(objectClass=*)`, up when exactly one
/// entry comes back and its DN matches `receive` (any DN when `receive` is empty).
///
/// `service=ldaps` is the same over TLS (certificates unverified unless `cafile` is set;
/// `sniname` sets the TLS server name), as ldirectord's `Net::LDAP` with `scheme => 'ldaps'`.
///
/// Runs through libcurl's LDAP support (its OpenLDAP backend, non-blocking on the same multi
/// handles as HTTP). The time limit is `checktimeout`, ldirectord's alarm around the whole
/// exchange.
///
/// libcurl 7.88 (Debian 12) does not tell the multi-socket API what an LDAP transfer waits for
/// while it connects and binds (it watches no socket then), and for LDAPS the TLS layer may hold
/// the decrypted reply, so the socket never becomes readable again: driven only by socket
/// readiness and curl's timers, an LDAPS check stopped after its TLS handshake and a plain
/// LDAP bind answered later than curl's 200 ms connect timer was never read. The `curl` command
/// gets past this because it runs every transfer whenever it polls; this check nudges its own
/// transfer (``CurlTransfer/nudge()``) on a short timer, 5 ms at first and backing off to
/// 50 ms, until it ends. Measured on loopback (fault_server.py, median of 30): an LDAPS check
/// takes 17 ms instead of never finishing, a plain LDAP check 6 ms instead of 200.
final class LDAPCheck: CurlCheck {
    /// The first nudge's delay and the longest between two.
    static let firstNudge = Duration.milliseconds(5)
    static let longestNudge = Duration.milliseconds(50)

    private var limit: Duration { check.checkTimeout }
    private var base: String { check.request.hasPrefix("/") ? String(check.request.dropFirst()) : check.request }
    private var usesTLS: Bool { check.service == .ldaps }
    private var port: UInt16 { check.port ?? (usesTLS ? 636 : 389) }
    private var endpoint: String { "\(check.address.bracketed):\(port)" }
    private var nudgeTimer: TimerID?
    /// As ldirectord: a simple bind with login and passwd when both are set, else anonymous.
    private var usesCredentials: Bool { !check.login.isEmpty && !check.password.isEmpty }

    /// The path and query of an LDAP URL (RFC 4516) for a base-scope search of `base` asking
    /// for no attributes.
    static func searchPath(base: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~,=+".utf8)
        let escaped = base.utf8.map { allowed.contains($0) ? String(UnicodeScalar($0)) : percent($0) }.joined()
        return "/\(escaped)?1.1?base?(objectClass=*)"
    }

    private static func percent(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return "%" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0x0f)])
    }

    override func begin() {
        startTransfer(protocolName: "LDAP", bodyLimit: context.options.maximumReplyBytes, keepsBody: true) {
            [self] transfer in
            setTarget(
                transfer, scheme: usesTLS ? "ldaps" : "ldap", port: port, path: Self.searchPath(base: base),
                usesTLS: usesTLS)
            setSingleConnection(transfer, timeout: limit)
            if usesCredentials {
                transfer.set(CURLOPT_USERNAME, check.login)
                transfer.set(CURLOPT_PASSWORD, check.password)
            }
            setCertificateVerification(transfer)
            // libldap closes the connection's socket and then curl closes its number again.
            transfer.closesOnlyOwnSockets()
        }
        if !isFinished { scheduleNudge(after: Self.firstNudge) }
    }

    private func scheduleNudge(after delay: Duration) {
        nudgeTimer = context.reactor.schedule(after: delay) { [weak self] in
            guard let self, !self.isFinished else { return }
            self.transfer?.nudge()
            self.scheduleNudge(after: min(delay * 2, Self.longestNudge))
        }
    }

    override func releaseResources() {
        context.reactor.cancel(nudgeTimer)
        nudgeTimer = nil
        super.releaseResources()
    }

    override func timedOut() {
        fail("\(check.service.rawValue): no verdict from libcurl within \(timeoutText) for \(endpoint)")
    }

    override func completed(_ code: CURLcode) {
        guard let transfer else { return }
        let service = check.service.rawValue
        guard code == CURLE_OK else {
            if code == CURLE_LOGIN_DENIED {
                // curl's own text for a refused bind is whatever failed last ("Recv failure: Bad
                // file descriptor"); the LDAP result code (49: invalidCredentials) says more.
                let bind = usesCredentials ? "bind as \(check.login)" : "anonymous bind"
                fail("\(service): \(bind) refused by \(endpoint) (LDAP result \(transfer.responseCode))")
            } else {
                fail(failureReason(code, of: transfer, endpoint: endpoint, limit: limit))
            }
            return
        }
        // curl writes each entry as "DN: <dn>" followed by its attributes (none were asked for).
        let names = String(decoding: transfer.body, as: UTF8.self).split(separator: "\n")
            .filter { $0.hasPrefix("DN: ") }.map { String($0.dropFirst(4)) }
        guard names.count == 1, let name = names.first else {
            fail(
                "\(service): the search for \(base.isEmpty ? "the root DSE" : base) found \(names.count) entries, not 1"
            )
            return
        }
        if receiveIsEmpty(check.receive) {
            succeed("\(service): found \(name)")
            return
        }
        switch context.patterns.match(check.receive, in: Array(name.utf8)) {
        case .success(.found):
            succeed("\(service): found \(name), receive /\(check.receive)/ found")
        case .success(.notFound):
            fail("\(service): receive /\(check.receive)/ not found in \(name)")
        case .success(.gaveUp(let why)):
            fail("\(service): receive /\(check.receive)/ could not be matched: \(why)")
        case .failure(let error):
            fail("\(service): \(error.description)")
        }
    }
}
