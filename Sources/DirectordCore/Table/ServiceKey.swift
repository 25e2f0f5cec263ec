/// The transport protocol of an address-and-port IPVS service.
///
/// The corresponding C constants are `IPPROTO_TCP`, `IPPROTO_UDP` and `IPPROTO_SCTP`.
public enum TransportProtocol: String, Hashable, Sendable, Codable, CaseIterable {
    case tcp
    case udp
    case sctp
}

/// What identifies a virtual service in the kernel: an address, port and protocol, or a
/// firewall mark.
///
/// Two services with equal keys are the same kernel entry; everything else about a service
/// (scheduler, persistence, flags) can be edited in place.
public enum ServiceKey: Hashable, Sendable {
    case inet(TransportProtocol, IPAddress, port: UInt16)
    case firewallMark(UInt32, AddressFamily)

    public var family: AddressFamily {
        switch self {
        case .inet(_, let address, _): address.family
        case .firewallMark(_, let family): family
        }
    }

    /// The port of an address service; 0 for a firewall-mark service.
    public var port: UInt16 {
        switch self {
        case .inet(_, _, let port): port
        case .firewallMark: 0
        }
    }
}

extension ServiceKey: CustomStringConvertible {
    /// ldirectord's `get_virtual` text: `IP:PORT`, `[IPv6]:PORT`, or the mark.
    public var description: String {
        switch self {
        case .inet(_, let address, let port): "\(address.bracketed):\(port)"
        case .firewallMark(let mark, _): "\(mark)"
        }
    }
}

extension ServiceKey: Comparable {
    /// The order `ipvsadm -Ln` lists services in (as checked against ipvsadm 1.31 in the lab):
    /// address services, then firewall marks; address services by family (IPv4 first), then
    /// protocol (TCP, UDP, SCTP), address and port; marks by number, then family.
    /// (``IPVSListing`` reproduces `ipvsadm`'s own comparison, which also wraps around for
    /// addresses 2^31 apart; this is the total order it approximates.)
    public static func < (lhs: ServiceKey, rhs: ServiceKey) -> Bool {
        switch (lhs, rhs) {
        case (.inet(let p1, let a1, let port1), .inet(let p2, let a2, let port2)):
            if a1.family != a2.family { return a1.family == .ipv4 }
            if p1 != p2 { return p1.ipProtocolNumber < p2.ipProtocolNumber }
            if a1 != a2 { return a1 < a2 }
            return port1 < port2
        case (.inet, .firewallMark): return true
        case (.firewallMark, .inet): return false
        case (.firewallMark(let m1, let f1), .firewallMark(let m2, let f2)):
            if m1 != m2 { return m1 < m2 }
            return f1 == .ipv4 && f2 == .ipv6
        }
    }
}

extension ServiceKey: Codable {
    private enum CodingKeys: String, CodingKey { case `protocol`, address, port, firewallMark, family }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let mark = try container.decodeIfPresent(UInt32.self, forKey: .firewallMark) {
            self = .firewallMark(mark, try container.decode(AddressFamily.self, forKey: .family))
        } else {
            self = .inet(
                try container.decode(TransportProtocol.self, forKey: .protocol),
                try container.decode(IPAddress.self, forKey: .address),
                port: try container.decode(UInt16.self, forKey: .port))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .inet(let proto, let address, let port):
            try container.encode(proto, forKey: .protocol)
            try container.encode(address, forKey: .address)
            try container.encode(port, forKey: .port)
        case .firewallMark(let mark, let family):
            try container.encode(mark, forKey: .firewallMark)
            try container.encode(family, forKey: .family)
        }
    }
}
