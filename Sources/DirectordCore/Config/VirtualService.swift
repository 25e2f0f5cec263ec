/// The `protocol` of a virtual service as ldirectord.cf writes it.
public enum ServiceProtocol: String, Hashable, Sendable, Codable {
    case tcp, udp, fwm
}

/// One `virtual=` or `virtual6=` block, every value resolved.
public struct VirtualService: Hashable, Sendable, Codable {
    /// The line of the `virtual=` directive.
    public var line: Int
    /// The kernel identity of the service.
    public var key: ServiceKey

    // MARK: The kernel service
    public var scheduler: Scheduler = .ldirectordDefault
    public var schedulerFlags: SchedulerFlags = []
    /// nil when the service is not persistent.
    public var persistence: Persistence?
    /// One-packet scheduling; only ever true for a UDP service (`ops`).
    public var onePacket: Bool = false
    public var realServers: [RealServer] = []
    /// Present whenever a per-virtual or global fallback applies, with its port resolved.
    public var fallback: FallbackServer?
    /// Why the kernel (or `ipvsadm`, as ldirectord drives it) would refuse this service, which
    /// ldirectord accepts and then runs without: an unknown scheduler, port 0 without
    /// persistence. directord runs every other service and keeps this one out of the table,
    /// saying so at start, in `status` and in `check-config`. nil for a service that can run.
    public var refusal: String?
    /// The block's directives that made it refused, as written (`schedflags=sh-fAllback`,
    /// `persistent=99999999`, `netmask=255.255.255.256`, `scheduler=roundrobin`), in file
    /// order, each once. The model cannot hold most of their values, so the printer writes them
    /// back as they were, first in the block, and the printed file is refused for the same
    /// first reason.
    public var refusedDirectives: [String] = []
    /// A firewall mark ipvsadm refuses (0, or above 4294967295), as written: the key cannot
    /// hold it, so the printer writes the virtual line with it and the printed file is refused
    /// for the same reason.
    public var refusedMark: String?

    // MARK: Checks
    public var checkType: CheckType = .negotiate
    public var service: ServiceType = .none
    public var checkCommand: String = "/bin/true"
    /// `checkport` as written; each real server holds the port its check really uses.
    public var checkPort: UInt16?
    public var request: String = "/"
    public var receive: String = ""
    public var httpMethod: HTTPMethod = .get
    public var virtualHost: String?
    public var login: String = ""
    public var password: String = ""
    public var database: String = ""
    public var secret: String = ""
    /// `load`: accepted by ldirectord, used by nothing.
    public var load: String?
    /// directord extension `cafile`: HTTPS checks verify the server against this CA bundle.
    public var caFile: String?
    /// directord extension `sniname`: the TLS server name an HTTPS check sends and verifies.
    public var sniName: String?
    /// directord extension `httpstatus`: the statuses an HTTP check accepts; nil: 2xx.
    public var httpStatus: HTTPStatusSet?
    /// directord extension `httpheader`: request header lines an HTTP check sends, in order.
    public var httpHeaders: [String] = []

    // MARK: Timing, merged with the global directives
    public var checkTimeout: Int = 5
    public var negotiateTimeout: Int = 30
    public var checkInterval: Int = 10
    public var checkCount: Int = 1
    public var failureCount: Int = 1
    /// directord's `risecount`: passing checks in a row that bring a failed server back.
    public var riseCount: Int = 1
    /// directord's `downinterval`: seconds between checks of a down server; nil: checkinterval.
    public var downInterval: Int?
    /// directord's `maxejection`: at most this percentage of the real servers are taken out by
    /// failed checks; nil: no limit.
    public var maxEjection: Int?
    /// directord's `slowstart`: seconds over which a real server its checks bring back ramps
    /// from a small share of its weight to all of it; nil: at once.
    public var slowStart: Int?
    /// directord's `draintimeout`: a real server a reload or a stop removes is left at weight 0
    /// until the kernel shows it no connection, at most this many seconds; nil: deleted at once.
    public var drainTimeout: Int?
    /// directord's `agentport`: each real server's HAProxy agent answers on this TCP port with
    /// a weight share or a state (DirectorState+Agent); nil: no agent.
    public var agentPort: UInt16?
    /// directord's `agentinterval`: seconds between agent queries; nil: checkinterval.
    public var agentInterval: Int?
    /// directord's `checkpath=forwarding`: the checks of its direct-routing and tunnelled real
    /// servers go to the virtual address through a private IPVS service that holds only the
    /// real server checked (DirectorState+CheckPath).
    public var checkThroughForwarding = false

    // MARK: Behaviour, merged with the global directives
    public var quiescent: Bool = false
    public var cleanStop: Bool = true
    public var fallbackCommand: String?
    public var emailAlert: EmailAlert?
    public var monitorFile: String?
    public var serviceName: String?
    public var comment: String?

    public init(line: Int, key: ServiceKey) {
        self.line = line
        self.key = key
    }

    public var family: AddressFamily { key.family }

    public var `protocol`: ServiceProtocol {
        switch key {
        case .inet(.udp, _, _): .udp
        case .inet: .tcp
        case .firewallMark: .fwm
        }
    }

    /// ldirectord's `get_virtual_id_str`: `tcp:1.2.3.4:80`, `fwm:1`, `fwm6:1`.
    public var id: String { key.virtualID }

    /// Whether the checks of `real` go through the forwarding path (`checkpath=forwarding`): a
    /// direct-routing or tunnelled real server of an address-and-port service, with a check
    /// that directord speaks over a plain TCP connection. Any other is checked directly.
    public func checksThroughForwarding(_ real: RealServer) -> Bool {
        guard checkThroughForwarding, case .inet = key, [.gate, .ipip].contains(real.forwarding) else { return false }
        return forwardingPathUnsupported == nil
    }

    /// Why this service's checks cannot take the forwarding path, or nil when they can.
    public var forwardingPathUnsupported: String? {
        if case .firewallMark = key { return "a firewall-mark service has no address to send them to" }
        switch checkType {
        case .connect where self.protocol != .udp: return nil
        case .negotiate, .combined:
            let spoken: [ServiceType] = [.http, .simpletcp, .smtp, .submission, .pop, .imap, .nntp]
            if spoken.contains(service) && self.protocol != .udp { return nil }
            return "service=\(service.rawValue) checks are not sent over a plain TCP connection of directord's own"
        default:
            return "checktype=\(checkType.configValue) is not a TCP check"
        }
    }

    /// The query of a real server's HAProxy agent, when the service has an `agentport`.
    public func agentCheck(for real: RealServer) -> HealthCheck? {
        guard let agentPort else { return nil }
        // Only what the query uses: agents of the same address and port are one query.
        return HealthCheck(
            type: .connect, service: .none, protocol: .tcp, address: real.address, port: agentPort,
            request: "", receive: "", url: "tcp://\(real.address.bracketed):\(agentPort)", virtualHost: nil,
            httpMethod: .get, checkTimeout: .seconds(checkTimeout), negotiateTimeout: .seconds(checkTimeout),
            checkCount: 1, login: "", password: "", database: "", secret: "", checkCommand: "",
            externalArguments: [], caFile: nil, sniName: nil, acceptedStatus: .success, headers: [], agent: true)
    }

    /// Everything a checker needs to check one of this service's real servers.
    /// - Parameters:
    ///   - real: One of this service's real servers.
    ///   - forwardingPath: The way through the kernel's forwarding its checks take
    ///     (`checkpath=forwarding`); nil: directly.
    public func healthCheck(for real: RealServer, forwardingPath: ForwardingPath? = nil) -> HealthCheck {
        HealthCheck(
            type: checkType,
            service: service,
            protocol: self.protocol,
            address: real.address,
            port: real.checkPort,
            request: real.request,
            receive: real.receive,
            url: real.checkURL,
            virtualHost: virtualHost,
            httpMethod: httpMethod,
            checkTimeout: .seconds(checkTimeout),
            negotiateTimeout: .seconds(negotiateTimeout),
            checkCount: checkCount,
            login: login,
            password: password,
            database: database,
            secret: secret,
            checkCommand: checkCommand,
            externalArguments: externalArguments(for: real),
            caFile: caFile,
            sniName: sniName,
            acceptedStatus: httpStatus ?? .success,
            headers: httpHeaders,
            forwardingPath: forwardingPath)
    }

    /// ldirectord's arguments to an external check; none for other checks, which are the same
    /// check in every service that has their real server (and, at 10,000 real servers, were
    /// 40,000 strings formatted for nothing at every reload).
    private func externalArguments(for real: RealServer) -> [String] {
        switch checkType {
        case .external, .externalPerl: break
        default: return []
        }
        let virtualServer: String =
            switch key {
            case .inet(_, let address, _): address.bracketed
            case .firewallMark(let mark, _): "\(mark)"
            }
        return [virtualServer, "\(key.port)", real.address.bracketed, "\(real.configuredPort ?? 0)"]
    }
}

/// One real server of a virtual service (ranges are expanded), every value resolved.
public struct RealServer: Hashable, Sendable, Codable {
    /// The line of its `real=` directive.
    public var line: Int
    public var address: IPAddress
    /// The destination port in the kernel table. For gate and ipip on an address service this
    /// is always the virtual service's port, as `ipvsadm` enforces; a real written without a
    /// port uses the virtual service's port.
    public var port: UInt16
    /// The port as written on the `real=` line; nil when none was.
    public var configuredPort: UInt16?
    public var forwarding: ForwardingMethod
    public var weight: Int
    /// `l:N`: below this many connections an overloaded server takes traffic again; 0 = none.
    public var lowerThreshold: UInt32 = 0
    /// `u:N`: the most connections the server is given; 0 = no limit.
    public var upperThreshold: UInt32 = 0
    /// Why the kernel (or `ipvsadm`) would refuse this real server's entry (a weight above
    /// 2147483647, a lower threshold above the upper one ...): it is kept out of the table and not
    /// checked, the rest of its service runs. nil for a real server that can run.
    public var refusal: String?

    // MARK: Its check, resolved
    /// The port the check connects to: `checkport`, else the port written on the real line,
    /// else the service's well-known port; nil when none of these exists.
    public var checkPort: UInt16?
    public var request: String
    public var receive: String
    /// The URL an HTTP(S) check fetches, built as ldirectord builds it.
    public var checkURL: String
    /// Whether the real line gave its own request and receive strings, and which of them
    /// ldirectord honours.
    public var ownCheckStrings: OwnCheckStrings = .none

    public init(
        line: Int, address: IPAddress, port: UInt16, configuredPort: UInt16?, forwarding: ForwardingMethod,
        weight: Int, checkPort: UInt16?, request: String, receive: String, checkURL: String
    ) {
        self.line = line
        self.address = address
        self.port = port
        self.configuredPort = configuredPort
        self.forwarding = forwarding
        self.weight = weight
        self.checkPort = checkPort
        self.request = request
        self.receive = receive
        self.checkURL = checkURL
    }

    /// `IP:PORT` with the kernel port, IPv6 in brackets, as ldirectord's log lines write it.
    public var endpoint: String { "\(address.bracketed):\(port)" }
}

/// Which check strings a `real=` line gave itself.
public enum OwnCheckStrings: String, Hashable, Sendable, Codable {
    /// None: the virtual's request and receive strings are used.
    case none
    /// `"REQUEST", "RECEIVE"`, both used.
    case requestAndReceive
    /// `"/REQUEST", "RECEIVE"`: ldirectord keeps the request (for SQL, simpletcp, LDAP ...
    /// checks) but loses the receive string and anything after it, and its HTTP check uses the
    /// virtual's URL. directord reads such a line the same way, with a warning.
    case requestOnly
}

/// The way to a real server through the kernel's forwarding (`checkpath=forwarding`): a check
/// connects to the virtual address with its socket marked, and the kernel sends it through the
/// private IPVS service of that mark, which holds only the real server checked.
public struct ForwardingPath: Hashable, Sendable, Codable {
    public var virtualAddress: IPAddress
    public var mark: UInt32

    public init(virtualAddress: IPAddress, mark: UInt32) {
        self.virtualAddress = virtualAddress
        self.mark = mark
    }
}

extension ServiceKey {
    /// ldirectord's `get_virtual_id_str`: `tcp:1.2.3.4:80`, `udp:[2001:db8::1]:53`, `fwm:1`,
    /// `fwm6:1`; also how `directord events` names a virtual service.
    public var virtualID: String {
        switch self {
        case .firewallMark(let mark, let family): "fwm\(family == .ipv6 ? "6" : ""):\(mark)"
        case .inet(.udp, _, _): "udp:\(self)"
        case .inet(.sctp, _, _): "sctp:\(self)"
        case .inet(.tcp, _, _): "tcp:\(self)"
        }
    }
}
