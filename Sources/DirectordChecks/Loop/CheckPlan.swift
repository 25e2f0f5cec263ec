import DirectordCore

/// What running a ``HealthCheck`` means: which checker, with which time limit, or a result
/// that needs no I/O at all. ldirectord's `_check_real` dispatch, as a value.
struct CheckPlan: Sendable {
    enum Kind: Equatable {
        /// Known without any I/O.
        case immediate(CheckResult)
        case connect
        case ping
        /// Through libcurl: HTTPS, http_proxy, and URLs ``PlainHTTPCheck`` does not take.
        case http
        /// Spoken directly by ``PlainHTTPCheck``, with this request target.
        case plainHTTP(target: String)
        case mysql
        case pgsql
        case external(perl: Bool)
        case simpleTCP
        /// A query of the real server's HAProxy agent (`agentport`).
        case agent
        case smtp
        case pop
        case imap
        /// `pops` and `imaps`, through libcurl.
        case tlsMail
        case nntp
        case ftp
        case dns
        case sip
        case radius
        /// `ldap` and `ldaps`, through libcurl.
        case ldap
        /// A service directord does not speak (`oracle`: Debian has no Oracle client library):
        /// a TCP connect (or, for UDP, a ping) in its place, and the reason says so.
        case substitute(service: ServiceType, by: Substitute)
    }

    enum Substitute: Equatable {
        case connect
        case ping
    }

    let check: HealthCheck
    let kind: Kind
    /// A plain HTTP check's request, written with the plan: a plan made once
    /// (``CheckLoop/prepare(_:)``) sends the same bytes at every start. Nil for other kinds.
    let request: [UInt8]?

    /// - Parameters:
    ///   - plainHTTPThroughLibcurl: run plain `http://` checks through libcurl too
    ///     (``CheckLoop/Options/plainHTTPThroughLibcurl``).
    ///   - userAgent: the User-Agent a plain HTTP request sends (``CheckLoop/Options/userAgent``).
    init(_ check: HealthCheck, plainHTTPThroughLibcurl: Bool = false, userAgent: String = CheckLoop.Options().userAgent)
    {
        self.check = check
        var kind = Self.kind(of: check)
        if kind == .http, !plainHTTPThroughLibcurl || check.forwardingPath != nil,
            let target = PlainHTTPCheck.requestTarget(for: check)
        {
            kind = .plainHTTP(target: target)
        } else if kind == .http, check.forwardingPath != nil {
            kind = .immediate(
                .down(
                    "checkpath=forwarding: \(check.url) cannot be sent through the virtual service (only plain http:// URLs on the real server can)",
                    latency: .zero))
        }
        self.kind = kind
        if case .plainHTTP(let target) = kind {
            request = PlainHTTPCheck.request(for: check, target: target, userAgent: userAgent)
        } else {
            request = nil
        }
    }

    /// The time limit the loop enforces. libcurl and the ping attempts keep their own, finer
    /// limits; for them this is only a backstop, a second later, in case they never answer.
    var timeout: Duration? {
        switch kind {
        case .immediate: nil
        // RADIUS and LDAP too: ldirectord's alarm around the exchange is checktimeout (libcurl
        // keeps LDAP's, the loop's is a backstop).
        case .connect, .external, .radius, .substitute(_, .connect), .agent: check.checkTimeout
        case .ldap: check.checkTimeout + .seconds(1)
        case .mysql, .pgsql, .simpleTCP, .smtp, .pop, .imap, .nntp, .ftp, .dns, .sip, .plainHTTP:
            check.negotiateTimeout
        case .http, .tlsMail: check.negotiateTimeout + .seconds(1)
        case .ping, .substitute(_, .ping): check.checkTimeout * check.checkCount + .seconds(1)
        }
    }

    var immediateResult: CheckResult? {
        if case .immediate(let result) = kind { return result }
        return nil
    }

    private static func kind(of check: HealthCheck) -> Kind {
        if check.agent { return .agent }
        switch check.type {
        case .on:
            return .immediate(.up("checktype=on: added without checks", latency: .zero))
        case .off:
            return .immediate(.down("checktype=off: not checked, never added", latency: .zero))
        case .ping:
            return .ping
        case .connect:
            // ldirectord pings the real servers of a UDP service instead of connecting.
            if check.protocol == .udp { return .ping }
            return check.port == nil ? missingPort : .connect
        case .external:
            return .external(perl: false)
        case .externalPerl:
            return .external(perl: true)
        case .negotiate, .combined:
            // A combined check run on its own is its negotiate half, as ldirectord's first
            // combined check is; `CombinedCheckState` (in DirectordCore) alternates the two.
            return negotiateKind(of: check)
        }
    }

    private static func negotiateKind(of check: HealthCheck) -> Kind {
        if check.service == .none {
            return .immediate(.up("service=none: not checked, counts as up", latency: .zero))
        }
        guard check.port != nil else { return missingPort }
        switch check.service {
        case .http, .https, .httpProxy: return .http
        case .mysql: return .mysql
        case .pgsql: return .pgsql
        case .simpletcp: return .simpleTCP
        case .smtp, .submission: return .smtp
        case .pop: return .pop
        case .imap: return .imap
        case .pops, .imaps: return .tlsMail
        case .nntp: return .nntp
        case .ftp: return .ftp
        case .dns: return .dns
        case .sip: return .sip
        case .radius: return .radius
        case .ldap, .ldaps: return .ldap
        case .oracle:
            return .substitute(service: check.service, by: check.protocol == .udp ? .ping : .connect)
        case .none:
            return .immediate(.up("service=none: not checked, counts as up", latency: .zero))
        }
    }

    private static var missingPort: Kind {
        .immediate(
            .down(
                "no port to check: give the real server a port, or set checkport= or service=",
                latency: .zero))
    }

    func makeOperation(context: LoopContext) -> CheckOperation? {
        switch kind {
        case .immediate:
            return nil
        case .connect:
            return ConnectCheck(context: context, check: check, label: nil)
        case .ping:
            return PingCheck(context: context, check: check, label: nil)
        case .http:
            return HTTPCheck(context: context, check: check)
        case .plainHTTP:
            // Written by init for this kind, always.
            return PlainHTTPCheck(context: context, check: check, request: request ?? [])
        case .mysql:
            return MySQLCheck(context: context, check: check)
        case .pgsql:
            return PgSQLCheck(context: context, check: check)
        case .external(let perl):
            return ExternalCheck(context: context, check: check, perl: perl)
        case .agent:
            return TextProtocolCheck(context: context, check: check, dialogue: AgentDialogue())
        case .simpleTCP:
            return TextProtocolCheck(
                context: context, check: check, dialogue: SimpleTCPDialogue(check: check, patterns: context.patterns))
        case .smtp:
            return TextProtocolCheck(context: context, check: check, dialogue: SMTPDialogue())
        case .pop:
            return TextProtocolCheck(context: context, check: check, dialogue: POPDialogue(check: check))
        case .imap:
            return TextProtocolCheck(context: context, check: check, dialogue: IMAPDialogue(check: check))
        case .tlsMail:
            return TLSMailCheck(context: context, check: check)
        case .nntp:
            return TextProtocolCheck(context: context, check: check, dialogue: NNTPDialogue())
        case .ftp:
            return FTPCheck(context: context, check: check)
        case .dns:
            return DNSCheck(context: context, check: check)
        case .sip:
            return TextProtocolCheck(context: context, check: check, dialogue: SIPDialogue(check: check))
        case .radius:
            return RADIUSCheck(context: context, check: check)
        case .ldap:
            return LDAPCheck(context: context, check: check)
        case .substitute(let service, .connect):
            return ConnectCheck(
                context: context, check: check,
                label: "service=\(service.rawValue) is not negotiated by directord; TCP connect only")
        case .substitute(let service, .ping):
            return PingCheck(
                context: context, check: check,
                label: "service=\(service.rawValue) is not negotiated by directord; ping only")
        }
    }
}
