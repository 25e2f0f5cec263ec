/// A parsed ldirectord.cf with every default resolved.
///
/// Values are final: each ``VirtualService`` carries its own timeouts, counts, quiescence and
/// fallback, already merged from the global directives, so nothing downstream re-derives a
/// default. ``globals`` keeps what only makes sense for the whole daemon, plus the global
/// defaults as written (for printing the file back).
public struct Configuration: Hashable, Sendable, Codable {
    public var globals: GlobalSettings
    public var virtualServices: [VirtualService]

    public init(globals: GlobalSettings = GlobalSettings(), virtualServices: [VirtualService] = []) {
        self.globals = globals
        self.virtualServices = virtualServices
    }

    /// Every real server of every virtual service.
    public var realServerCount: Int { virtualServices.reduce(0) { $0 + $1.realServers.count } }

    /// The configuration with every `passwd`, `secret` and `httpheader` value replaced by
    /// `<hidden>`, to show on a terminal or in a report.
    public var hidingSecrets: Configuration {
        var copy = self
        for index in copy.virtualServices.indices {
            if !copy.virtualServices[index].password.isEmpty { copy.virtualServices[index].password = Self.hidden }
            if !copy.virtualServices[index].secret.isEmpty { copy.virtualServices[index].secret = Self.hidden }
            copy.virtualServices[index].httpHeaders = copy.virtualServices[index].httpHeaders.map {
                "\($0.prefix { $0 != ":" }): \(Self.hidden)"
            }
        }
        return copy
    }

    public static let hidden = "<hidden>"
}

/// Where ldirectord's log lines go (`logfile`).
public enum LogTarget: Hashable, Sendable, Codable {
    /// A file path (the value starts with `/`).
    case file(String)
    /// A syslog facility such as `local0` (any other value).
    case syslog(facility: String)

    public static let ldirectordDefault = LogTarget.file("/var/log/ldirectord.log")

    public var configValue: String {
        switch self {
        case .file(let path): path
        case .syslog(let facility): facility
        }
    }
}

/// The directives that apply to the daemon as a whole.
public struct GlobalSettings: Hashable, Sendable, Codable {
    /// Seconds between checks (`checkinterval`, default 10).
    public var checkInterval: Int = 10
    /// Re-read the file when its content changes (`autoreload`, default no).
    public var autoreload: Bool = false
    /// Run with the file's path when it changes on disk (`callback`).
    public var callback: String?
    /// `logfile`, default /var/log/ldirectord.log.
    public var logTarget: LogTarget = .ldirectordDefault
    /// Other configuration files to run an instance for (`execute`, repeatable).
    public var execute: [String] = []
    /// Stay in the foreground, logging to stdout (`supervised`).
    public var supervised: Bool = false
    /// Check each virtual service in its own process, honouring per-virtual `checkinterval`
    /// (`fork`). directord never forks; it keeps the directive's effect on intervals.
    public var fork: Bool = false
    /// Re-add a failed real server that is missing from the kernel with weight 0 instead of
    /// leaving it out, when quiescent (`readdquiescent`).
    public var readdQuiescent: Bool = false
    /// Files named after real servers here take them out of service (`maintenancedir`).
    public var maintenanceDirectory: String?
    /// `emailalertfrom`.
    public var emailAlertFrom: String?
    /// `repair` (directord's own): put back, once per repair interval, what was changed in the
    /// kernel's table behind directord's back. `repair=no` leaves the operator's edits alone.
    public var repair: Bool = true
    /// `repairinterval` (directord's own): seconds between two reads of the whole table for
    /// the repair; nil: ``defaultRepairInterval(realServers:)``.
    public var repairInterval: Int?

    /// How often the repair reads the whole table when the file does not say: every
    /// `checkinterval`, but at most ``repairReadBudget`` destinations a second, so that a large
    /// table is not read in full every second (10,000 real servers at `checkinterval=1`: every
    /// 20 s). A read costs the kernel and directord one message per destination.
    public func defaultRepairInterval(realServers: Int) -> Int {
        let budgeted = (realServers + Self.repairReadBudget - 1) / Self.repairReadBudget
        return max(checkInterval, budgeted, 1)
    }

    /// Destinations a second the repair reads at most by default.
    public static let repairReadBudget = 500
    /// `metrics` (directord's own): where to serve Prometheus metrics at `/metrics`; none
    /// when nil.
    public var metrics: ListenAddress?
    /// `syncdaemon` and its companions (directord's own): the kernel's connection-sync daemons
    /// this director runs, so that a director pair's backup holds the connections of the
    /// active one.
    public var connectionSync = ConnectionSync()
    /// The file says, with the comment `# directord: no virtual services`, that it means to
    /// have none: only then may a reload remove every service. Read only in a file without
    /// virtual services (false in any other).
    public var meansNoServices: Bool = false

    /// The comment that lets a file without virtual services be reloaded.
    public static let noServicesComment = "# directord: no virtual services"

    /// The global defaults as written, or nil where the file did not set them. Each virtual
    /// service already holds the merged value; these exist so the file can be printed back.
    public var defaults = Defaults()

    public init() {}

    public struct Defaults: Hashable, Sendable, Codable {
        public var checkTimeout: Int?
        public var negotiateTimeout: Int?
        public var checkCount: Int?
        public var failureCount: Int?
        public var quiescent: Bool?
        public var cleanStop: Bool?
        public var fallback: FallbackServer?
        public var fallback6: FallbackServer?
        public var fallbackCommand: String?
        public var emailAlert: String?
        public var emailAlertFrequency: Int?
        public var emailAlertStatus: DaemonStatusSet?
        public var smtp: String?
        /// directord's health policy (`risecount`, `downinterval`, `maxejection`).
        public var policy = HealthPolicy()
        public init() {}
    }
}

/// directord's own health policy directives, global defaults a block may override; nil where
/// the file does not write them.
public struct HealthPolicy: Hashable, Sendable, Codable {
    /// `risecount`: passing checks in a row that bring a failed real server back.
    public var riseCount: Int?
    /// `downinterval`: seconds between the checks of a real server that is down.
    public var downInterval: Int?
    /// `maxejection`: the largest share (percent) of a service's real servers failed checks may
    /// take out.
    public var maxEjection: Int?
    /// `slowstart`: seconds over which a real server that comes back ramps to its weight.
    public var slowStart: Int?
    /// `draintimeout`: seconds a removed real server is left at weight 0 for its connections
    /// to end before it is deleted.
    public var drainTimeout: Int?
    /// `agentport`: the TCP port of the real servers' HAProxy agents.
    public var agentPort: Int?
    /// `agentinterval`: seconds between two agent queries.
    public var agentInterval: Int?
    /// `checkpath=forwarding`: checks go through the virtual service's forwarding path.
    public var checkThroughForwarding: Bool?

    public init() {}
}

/// The server that takes the traffic of a virtual service while none of its real servers is
/// up (`fallback`, `fallback6`). Always weight 1, no thresholds; never quiesced.
public struct FallbackServer: Hashable, Sendable, Codable {
    public var address: IPAddress
    /// The port as written; nil means the virtual service's port.
    public var port: UInt16?
    public var forwarding: ForwardingMethod

    public init(address: IPAddress, port: UInt16?, forwarding: ForwardingMethod) {
        self.address = address
        self.port = port
        self.forwarding = forwarding
    }
}

/// Persistence of a virtual service (`persistent`, `netmask`).
public struct Persistence: Hashable, Sendable, Codable {
    /// Seconds a client sticks to its real server.
    public var timeout: UInt32
    /// Clients whose addresses agree under this mask share a real server: an IPv4 mask in host
    /// byte order (0xffffffff by default) or an IPv6 prefix length (128 by default).
    public var netmask: UInt32

    public init(timeout: UInt32, netmask: UInt32) {
        self.timeout = timeout
        self.netmask = netmask
    }

    public static func defaultNetmask(for family: AddressFamily) -> UInt32 {
        family == .ipv4 ? 0xffff_ffff : 128
    }

    /// The mask as ldirectord.cf and `ipvsadm -Ln` write it.
    public func netmaskText(for family: AddressFamily) -> String {
        family == .ipv4 ? IPAddress.v4(netmask).description : "\(netmask)"
    }
}

/// E-mail alerts for a virtual service, merged from the global and per-virtual directives.
public struct EmailAlert: Hashable, Sendable, Codable {
    /// Recipient addresses, as written (`emailalert`).
    public var recipients: String
    /// Seconds between repeated alerts for a real server still down; 0 = no repeats.
    public var frequency: Int
    public var statuses: DaemonStatusSet
    /// The SMTP server; nil means the local mail command.
    public var smtp: String?

    public init(recipients: String, frequency: Int, statuses: DaemonStatusSet, smtp: String?) {
        self.recipients = recipients
        self.frequency = frequency
        self.statuses = statuses
        self.smtp = smtp
    }
}

extension Configuration {
    /// The same configuration with every source line number set to 0: two files that mean the
    /// same thing compare equal this way, whatever their layout.
    public func sourceLinesCleared() -> Configuration {
        var copy = self
        copy.virtualServices = virtualServices.map { $0.sourceLinesCleared() }
        return copy
    }
}

extension VirtualService {
    public func sourceLinesCleared() -> VirtualService {
        var copy = self
        copy.line = 0
        copy.realServers = realServers.map {
            var real = $0
            real.line = 0
            return real
        }
        return copy
    }
}

/// An address and port to listen on: `IP:PORT`, `[IPv6]:PORT` (`0.0.0.0:9100` and
/// `[::]:9100` for every address).
public struct ListenAddress: Hashable, Sendable, Codable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// `IP:PORT` or `[IPv6]:PORT`, the port 1 to 65535; nil for anything else.
    public init?(_ text: some StringProtocol) {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var host = text[..<colon]
        let portText = text[text.index(after: colon)...]
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = host.dropFirst().dropLast()
            guard let address = IPAddress(host, family: .ipv6) else { return nil }
            self.address = address
        } else {
            guard let address = IPAddress(host, family: .ipv4) else { return nil }
            self.address = address
        }
        guard !portText.isEmpty, portText.utf8.count <= 5, portText.allSatisfy(\.isASCIIDigit),
            let port = Int(portText), (1...65535).contains(port)
        else { return nil }
        self.port = UInt16(port)
    }

    public var description: String { "\(address.bracketed):\(port)" }
}

/// The kernel's connection-sync daemons as the file asks for them (`syncdaemon=`,
/// `syncinterface=`, `syncid=`, `syncgroup=`, `syncport=`, `syncttl=`, `syncmaxlen=`:
/// directord's own directives, what `ipvsadm --start-daemon` takes). Unset values are the
/// kernel's defaults.
public struct ConnectionSync: Hashable, Sendable, Codable {
    /// Which daemons run: `master` sends this director's connections, `backup` receives the
    /// peer's, `both` does both (a pair where either director may be the active one).
    public enum Mode: String, Hashable, Sendable, Codable, CaseIterable {
        case master
        case backup
        case both

        public var roles: [IPVSSyncDaemon.Role] {
            switch self {
            case .master: [.master]
            case .backup: [.backup]
            case .both: [.master, .backup]
            }
        }
    }

    /// nil: no daemon (ldirectord's behaviour: the operator runs `ipvsadm --start-daemon`).
    public var mode: Mode?
    public var interface: String?
    /// 0 to 255; 0 (the kernel's default) makes a backup accept every sync ID.
    public var syncID: UInt8?
    public var group: IPAddress?
    public var port: UInt16?
    public var ttl: UInt8?
    public var maxLength: UInt16?

    public init() {}

    /// The daemons to run, one a role; none without `syncdaemon` or an interface.
    public var daemons: [IPVSSyncDaemon] {
        guard let mode, let interface else { return [] }
        return mode.roles.map {
            IPVSSyncDaemon(
                role: $0, interface: interface, syncID: syncID ?? 0, maxLength: maxLength, group: group, port: port,
                ttl: ttl)
        }
    }
}
