import CCurl
import DirectordCore

/// `service=pops` and `imaps` negotiate checks (ldirectord's `check_pop` with `USESSL`, and
/// `check_imaps`): TLS, the server's greeting and, when `login` is set, a login with `login`
/// and `passwd`; up when all of that works.
///
/// Runs through libcurl (`pop3s://`, `imaps://`) with `CURLOPT_CONNECT_ONLY`, on the loop's
/// multi handles: for these protocols curl's connect phase is the TLS handshake, the greeting
/// (`+OK` for POP3, `* OK` or `* PREAUTH` for IMAP; a refusal fails at once, a line curl does
/// not take for a reply at all, such as the other protocol's greeting, at the time limit), the
/// capability query and, given credentials, the login, and `CONNECT_ONLY` stops right after
/// it, before any mailbox command. curl logs in as the server offers: for POP3 APOP, SASL or
/// USER/PASS (as Mail::POP3Client's default mode, which prefers APOP too); for IMAP SASL or
/// LOGIN (where Net::IMAP::Simple always sends LOGIN). A refused login is curl's `CURLE_LOGIN_DENIED`.
/// Then QUIT or LOGOUT goes out, as ldirectord's `close` and `quit` send, so the server logs
/// a clean logout.
///
/// Certificates are not verified unless `cafile` is set, and `sniname` sets the TLS server
/// name, as for HTTPS. The time limit is `negotiatetimeout` (ldirectord's `TIMEOUT` and
/// `timeout` arguments), kept by libcurl; the loop's is a backstop a second later.
final class TLSMailCheck: CurlCheck {
    private var limit: Duration { check.negotiateTimeout }
    private var isIMAP: Bool { check.service == .imaps }
    private var port: UInt16 { check.port ?? (isIMAP ? 993 : 995) }
    private var endpoint: String { "\(check.address.bracketed):\(port)" }

    override func begin() {
        startTransfer(protocolName: check.service.rawValue, bodyLimit: 0, keepsBody: false) { [self] transfer in
            setTarget(transfer, scheme: isIMAP ? "imaps" : "pop3s", port: port, path: "/", usesTLS: true)
            setSingleConnection(transfer, timeout: limit)
            transfer.set(CURLOPT_CONNECT_ONLY, 1)
            // FORBID_REUSE would make curl close the connection as soon as the login is done,
            // before QUIT or LOGOUT can be sent. A CONNECT_ONLY connection is never handed to
            // another transfer anyway, and curl closes it when the transfer is removed.
            transfer.set(CURLOPT_FORBID_REUSE, 0)
            // As ldirectord: a login (with whatever passwd says, even nothing) only when login is set.
            if !check.login.isEmpty {
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
        switch code {
        case CURLE_OK:
            transfer.sendWithoutWaiting(isIMAP ? "a9 LOGOUT\r\n" : "QUIT\r\n")
            if check.login.isEmpty {
                succeed("\(service): greeting received over TLS from \(endpoint)")
            } else {
                succeed("\(service): logged in as \(check.login)")
            }
        case CURLE_LOGIN_DENIED:
            fail("\(service): login as \(check.login) refused by \(endpoint)")
        default:
            fail(failureReason(code, of: transfer, endpoint: endpoint, limit: limit))
        }
    }
}
