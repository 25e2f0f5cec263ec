/// A real server of a virtual service as the kernel's IPVS table holds it.
///
/// Counters live in ``IPVSDestinationStatistics``; this is what the daemon decides.
public struct IPVSDestination: Hashable, Sendable, Codable {
    public var address: IPAddress
    /// The destination port. Direct routing and tunnelling never rewrite the port, so for them
    /// the kernel entry conventionally carries the virtual service's port (``RealServer/port``).
    public var port: UInt16
    public var forwarding: ForwardingMethod
    /// The scheduling weight (`IPVS_DEST_ATTR_WEIGHT`, a C `int`); 0 keeps existing connections
    /// but takes no new ones (ldirectord's quiescent state). The kernel refuses a negative weight.
    public var weight: Int32
    /// The most active connections the server is given; 0 means no limit (`u_threshold`).
    public var upperThreshold: UInt32
    /// Below this many connections an overloaded server is given new ones again (`l_threshold`).
    public var lowerThreshold: UInt32

    public init(
        address: IPAddress,
        port: UInt16,
        forwarding: ForwardingMethod,
        weight: Int32,
        upperThreshold: UInt32 = 0,
        lowerThreshold: UInt32 = 0
    ) {
        self.address = address
        self.port = port
        self.forwarding = forwarding
        self.weight = weight
        self.upperThreshold = upperThreshold
        self.lowerThreshold = lowerThreshold
    }

    /// What identifies a destination within its service: address and port.
    public struct Key: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
        public var address: IPAddress
        public var port: UInt16

        public init(address: IPAddress, port: UInt16) {
            self.address = address
            self.port = port
        }

        /// `IP:PORT`, IPv6 in brackets, as `ipvsadm -Ln` writes it.
        public var description: String { "\(address.bracketed):\(port)" }

        public static func < (lhs: Key, rhs: Key) -> Bool {
            (lhs.address, lhs.port) < (rhs.address, rhs.port)
        }
    }

    public var key: Key { Key(address: address, port: port) }
}

/// The forwarding method as the kernel encodes it in a connection-flags word.
extension ForwardingMethod {
    /// The value in `IP_VS_CONN_F_FWD_MASK` bits (`IPVS_DEST_ATTR_FWD_METHOD`).
    public var kernelValue: UInt32 {
        switch self {
        case .masq: 0
        case .local: 1
        case .ipip: 2
        case .gate: 3
        case .bypass: 4
        }
    }

    /// The method of a kernel connection-flags word; nil for the unused values 5 to 7.
    public init?(kernelValue: UInt32) {
        switch kernelValue & 0x7 {
        case 0: self = .masq
        case 1: self = .local
        case 2: self = .ipip
        case 3: self = .gate
        case 4: self = .bypass
        default: return nil
        }
    }
}
