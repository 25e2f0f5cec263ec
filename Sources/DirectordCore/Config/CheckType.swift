/// How the real servers of a virtual service are checked (ldirectord's `checktype`).
public enum CheckType: Hashable, Sendable {
    /// A TCP connect (for a UDP service ldirectord pings instead).
    case connect
    /// A service-specific exchange, per ``ServiceType``.
    case negotiate
    /// ICMP echo.
    case ping
    /// No checks; real servers are never added.
    case off
    /// No checks; real servers are always added.
    case on
    /// Run `checkcommand` with ldirectord's four arguments; exit status 0 is up.
    case external
    /// Run the `checkcommand` file with perl and the same arguments.
    case externalPerl
    /// Connect checks, with a negotiate check after every `negotiateEvery` passing connects
    /// (`checktype=N`).
    case combined(negotiateEvery: Int)

    /// The word as it is written in ldirectord.cf.
    public var configValue: String {
        switch self {
        case .connect: "connect"
        case .negotiate: "negotiate"
        case .ping: "ping"
        case .off: "off"
        case .on: "on"
        case .external: "external"
        case .externalPerl: "external-perl"
        case .combined(let every): "\(every)"
        }
    }

    /// The named check types, in the order ldirectord's error message lists them.
    public static let named: [CheckType] = [.connect, .negotiate, .on, .off, .ping, .external, .externalPerl]
}

extension CheckType: CustomStringConvertible {
    public var description: String {
        if case .combined(let every) = self { return "combined(\(every))" }
        return configValue
    }
}

extension CheckType: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let every = try? container.decode(Int.self) {
            self = .combined(negotiateEvery: every)
            return
        }
        let word = try container.decode(String.self)
        guard let type = Self.named.first(where: { $0.configValue == word }) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "unknown checktype \(word)")
        }
        self = type
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if case .combined(let every) = self {
            try container.encode(every)
        } else {
            try container.encode(configValue)
        }
    }
}

/// The protocol a negotiate check speaks (ldirectord's `service`).
public enum ServiceType: String, Hashable, Sendable, Codable, CaseIterable {
    case dns, ftp, http, https
    case httpProxy = "http_proxy"
    case imap, imaps, ldap, ldaps, nntp, mysql, none, oracle, pop, pops, radius, pgsql, sip, smtp, submission
    case simpletcp

    /// ldirectord's `ld_service_to_port`: the port a check uses when neither `checkport` nor
    /// the real server names one.
    public var wellKnownPort: UInt16? {
        switch self {
        case .ftp: 21
        case .smtp: 25
        case .dns: 53
        case .http: 80
        case .pop: 110
        case .nntp: 119
        case .imap: 143
        case .ldap: 389
        case .https: 443
        case .submission: 587
        case .ldaps: 636
        case .imaps: 993
        case .pops: 995
        case .oracle: 1521
        case .radius: 1812
        case .httpProxy: 3128
        case .mysql: 3306
        case .sip: 5060
        case .pgsql: 5432
        case .none, .simpletcp: nil
        }
    }

    /// ldirectord's `ld_port_to_service`: the service a virtual's port implies.
    public static func implied(byPort port: UInt16) -> ServiceType {
        allCases.first { $0.wellKnownPort == port } ?? .none
    }

    /// The order ldirectord's error message lists them in.
    public static let listedOrder: [ServiceType] = [
        .dns, .ftp, .http, .https, .httpProxy, .imap, .imaps, .ldap, .ldaps, .mysql, .nntp, .none, .oracle,
        .pop, .pops, .radius, .pgsql, .simpletcp, .sip, .smtp, .submission,
    ]
}

/// The HTTP method of an HTTP negotiate check (ldirectord's `httpmethod`).
public enum HTTPMethod: String, Hashable, Sendable, Codable {
    case get = "GET"
    case head = "HEAD"
}
