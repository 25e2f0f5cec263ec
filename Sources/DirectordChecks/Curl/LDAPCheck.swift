import CCurl
import DirectordCore

/// `service=ldap` negotiate checks (ldirectord's `check_ldap`): bind (simple, as
/// `login` with `passwd` when both are set, else anonymously), search the base object named by
/// the request (without its leading `/`) with filter `(objectClass=*)`, up when exactly one
/// entry comes back and its DN matches `receive` (any DN when `receive` is empty).
///
/// Runs through libcurl's LDAP support (its OpenLDAP backend, non-blocking on the same multi
/// handles as HTTP). The time limit is `checktimeout`, ldirectord's alarm around the whole
/// exchange.
///
/// Not `ldaps`: with libcurl 7.88 (Debian 12) an LDAPS transfer driven by the multi-socket API
/// stops after its TLS handshake (curl stops watching the socket and never sends the bind;
/// `curl` on the command line works because it polls every transfer). ``CheckPlan`` therefore
/// gives `ldaps` a labelled TCP connect. The code below would handle `ldaps` unchanged once
/// libcurl does.
final class LDAPCheck: CurlCheck {
    private var timeoutSeconds: Int { max(1, check.checkTimeout) }
    private var base: String { check.request.hasPrefix("/") ? String(check.request.dropFirst()) : check.request }
    private var endpoint: String { "\(check.address.bracketed):\(check.port ?? 389)" }

    /// An LDAP URL (RFC 4516) for a base-scope search of `base` asking for no attributes.
    static func url(scheme: String, endpoint: String, base: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~,=+".utf8)
        let escaped = base.utf8.map { allowed.contains($0) ? String(UnicodeScalar($0)) : percent($0) }.joined()
        return "\(scheme)://\(endpoint)/\(escaped)?1.1?base?(objectClass=*)"
    }

    private static func percent(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return "%" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0x0f)])
    }

    override func begin() {
        startTransfer(protocolName: "LDAP", bodyLimit: context.options.maximumReplyBytes, keepsBody: true) {
            [self] transfer in
            let scheme = check.service == .ldaps ? "ldaps" : "ldap"
            transfer.set(CURLOPT_URL, Self.url(scheme: scheme, endpoint: endpoint, base: base))
            transfer.set(CURLOPT_PROTOCOLS_STR, "ldap,ldaps")
            setSingleConnection(transfer, timeout: .seconds(timeoutSeconds))
            transfer.set(CURLOPT_PROXY, "")
            if !check.login.isEmpty && !check.password.isEmpty {
                transfer.set(CURLOPT_USERNAME, check.login)
                transfer.set(CURLOPT_PASSWORD, check.password)
            }
            setCertificateVerification(transfer)
        }
    }

    override func timedOut() {
        fail("\(check.service.rawValue): no verdict from libcurl within \(timeoutText) for \(endpoint)")
    }

    override func completed(_ code: CURLcode) {
        guard let transfer else { return }
        let service = check.service.rawValue
        guard code == CURLE_OK else {
            switch code {
            case CURLE_OPERATION_TIMEDOUT:
                fail("\(service): no answer from \(endpoint) within \(timeoutSeconds) s")
            case CURLE_COULDNT_CONNECT:
                let errno = transfer.systemErrno
                fail(
                    "\(service): connect to \(endpoint): \(errno != 0 ? errnoText(errno) : transfer.errorText(for: code))"
                )
            default:
                fail("\(service): \(endpoint): \(transfer.errorText(for: code))")
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
