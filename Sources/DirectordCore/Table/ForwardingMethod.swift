/// How the director forwards packets to a real server.
///
/// ldirectord's names are the raw values. The kernel knows two more (`local`, `bypass`)
/// that appear in dumps of tables other tools wrote; ldirectord.cf cannot ask for them.
/// The corresponding C constants are `IP_VS_CONN_F_MASQ`, `IP_VS_CONN_F_LOCALNODE`,
/// `IP_VS_CONN_F_TUNNEL`, `IP_VS_CONN_F_DROUTE` and `IP_VS_CONN_F_BYPASS`.
public enum ForwardingMethod: String, Hashable, Sendable, Codable, CaseIterable {
    /// Direct routing (`ipvsadm -g`, listed as "Route").
    case gate
    /// NAT (`ipvsadm -m`, listed as "Masq").
    case masq
    /// IP-in-IP tunnelling (`ipvsadm -i`, listed as "Tunnel").
    case ipip
    /// The real server is the director itself (listed as "Local").
    case local
    /// Bypass (listed as "Bypass").
    case bypass

    /// The methods an ldirectord.cf may name.
    public static let configurable: [ForwardingMethod] = [.gate, .masq, .ipip]

    /// The word `ipvsadm -Ln` prints in its Forward column.
    public var ipvsadmName: String {
        switch self {
        case .gate: "Route"
        case .masq: "Masq"
        case .ipip: "Tunnel"
        case .local: "Local"
        case .bypass: "Bypass"
        }
    }

    /// Direct routing and tunnelling keep the destination port: the kernel entry carries
    /// the virtual service's port whatever port was asked for (as `ipvsadm` enforces).
    public var keepsVirtualPort: Bool { self == .gate || self == .ipip }
}
