import CCurl
import DirectordCore
import DirectordSystem

/// A check that is one libcurl transfer on the loop's multi handles (``HTTPCheck``,
/// ``LDAPCheck``): the transfer's life, and the options every such check shares. Subclasses
/// set their protocol's options in `configure` and judge the result in ``completed(_:)``.
class CurlCheck: CheckOperation {
    let check: HealthCheck
    private(set) var transfer: CurlTransfer?
    private var multi: CurlMulti?

    init(context: LoopContext, check: HealthCheck) {
        self.check = check
        super.init(context: context)
    }

    /// Starts the transfer; a setup failure is the check's failure, named after `protocolName`.
    final func startTransfer(
        protocolName: String, bodyLimit: Int, keepsBody: Bool, configure: (CurlTransfer) -> Void
    ) {
        do {
            let multi = try context.curl(for: check.address, port: check.port)
            let transfer = CurlTransfer(handle: try multi.makeEasyHandle(), bodyLimit: bodyLimit, keepsBody: keepsBody)
            self.multi = multi
            self.transfer = transfer
            configure(transfer)
            try transfer.start(on: multi) { [weak self] code in
                guard let self else { return }
                self.completed(code)
            }
        } catch {
            fail("cannot start the \(protocolName) check: \(error.description)")
        }
    }

    /// The transfer ended with `code`; called on the loop, at most once.
    func completed(_ code: CURLcode) {
        preconditionFailure("\(type(of: self)) must judge its transfer")
    }

    override func releaseResources() {
        if let transfer, let multi { multi.remove(transfer) }
        transfer = nil
    }

    /// One new connection, used once, within `timeout`, with small buffers.
    final func setSingleConnection(_ transfer: CurlTransfer, timeout: Duration) {
        transfer.set(CURLOPT_TIMEOUT_MS, max(1, Int(timeout.nanoseconds / 1_000_000)))
        transfer.set(CURLOPT_FORBID_REUSE, 1)
        transfer.set(CURLOPT_FRESH_CONNECT, 1)
        // A health reply is small; libcurl's default 16 KB download and 64 KB upload buffers,
        // held by every check in flight, made 80 KB per check (hundreds of MB at thousands).
        transfer.set(CURLOPT_BUFFERSIZE, 4096)
        transfer.set(CURLOPT_UPLOAD_BUFFERSIZE, 16384)
        // URLs name addresses, so there is nothing to cache, and curl 7.88 walks its whole DNS
        // cache (one entry per real server and port) whenever it adds to it.
        transfer.set(CURLOPT_DNS_CACHE_TIMEOUT, 0)
    }

    /// Points the transfer at the real server: `scheme://REAL:port/path`. With TLS and
    /// `sniname`, the URL names `sniname` instead (curl takes the TLS server name, and the name it
    /// verifies, from the URL) and `CURLOPT_CONNECT_TO` sends the connection to the real server.
    final func setTarget(_ transfer: CurlTransfer, scheme: String, port: UInt16, path: String, usesTLS: Bool) {
        let real = check.address.bracketed
        if usesTLS, let sniName = check.sniName {
            transfer.set(CURLOPT_URL, "\(scheme)://\(sniName):\(port)\(path)")
            transfer.set(CURLOPT_CONNECT_TO, list: ["\(sniName):\(port):\(real):\(port)"])
        } else {
            transfer.set(CURLOPT_URL, "\(scheme)://\(real):\(port)\(path)")
        }
        transfer.set(CURLOPT_PROTOCOLS_STR, scheme)
        // An empty proxy turns off curl's use of the *_proxy environment variables.
        transfer.set(CURLOPT_PROXY, "")
    }

    /// The reason for a failed transfer that every checked protocol words the same way
    /// (``HTTPCheck`` has its own): "service: ...", naming the real server's endpoint.
    final func failureReason(
        _ code: CURLcode, of transfer: CurlTransfer, endpoint: String, limit: Duration
    ) -> String {
        let service = check.service.rawValue
        switch code {
        case CURLE_OPERATION_TIMEDOUT:
            return "\(service): no answer from \(endpoint) within \(secondsText(limit))"
        case CURLE_COULDNT_CONNECT:
            let errno = transfer.systemErrno
            return
                "\(service): connect to \(endpoint): \(errno != 0 ? errnoText(errno) : transfer.errorText(for: code))"
        case CURLE_SSL_CONNECT_ERROR:
            return "\(service): TLS handshake with \(endpoint) failed: \(transfer.errorText(for: code))"
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE:
            return
                "\(service): \(endpoint)'s certificate is not accepted by cafile=\(check.caFile ?? ""): \(transfer.errorText(for: code))"
        default:
            return "\(service): \(endpoint): \(transfer.errorText(for: code))"
        }
    }

    /// TLS: `cafile` verifies the certificate and its name against that file only; without
    /// it nothing is verified, as ldirectord.
    final func setCertificateVerification(_ transfer: CurlTransfer) {
        if let caFile = check.caFile {
            transfer.set(CURLOPT_CAINFO, caFile)
            // Only that file: not also the system's CA directory curl would otherwise add.
            transfer.setNull(CURLOPT_CAPATH)
            transfer.set(CURLOPT_SSL_VERIFYPEER, 1)
            transfer.set(CURLOPT_SSL_VERIFYHOST, 2)
        } else {
            transfer.set(CURLOPT_SSL_VERIFYPEER, 0)
            transfer.set(CURLOPT_SSL_VERIFYHOST, 0)
        }
    }
}
