/// Traffic counters and rates of a service or destination (`IPVS_SVC_ATTR_STATS64`,
/// `IPVS_DEST_ATTR_STATS64`), what `ipvsadm -Ln --stats` and `--rate` print.
///
/// Rates are the kernel's estimates, per second, averaged over a few seconds.
public struct IPVSStatistics: Hashable, Sendable, Codable {
    /// Connections scheduled.
    public var connections: UInt64
    public var incomingPackets: UInt64
    public var outgoingPackets: UInt64
    public var incomingBytes: UInt64
    public var outgoingBytes: UInt64
    /// Connections per second.
    public var connectionRate: UInt64
    public var incomingPacketRate: UInt64
    public var outgoingPacketRate: UInt64
    public var incomingByteRate: UInt64
    public var outgoingByteRate: UInt64

    public init(
        connections: UInt64 = 0, incomingPackets: UInt64 = 0, outgoingPackets: UInt64 = 0,
        incomingBytes: UInt64 = 0, outgoingBytes: UInt64 = 0, connectionRate: UInt64 = 0,
        incomingPacketRate: UInt64 = 0, outgoingPacketRate: UInt64 = 0, incomingByteRate: UInt64 = 0,
        outgoingByteRate: UInt64 = 0
    ) {
        self.connections = connections
        self.incomingPackets = incomingPackets
        self.outgoingPackets = outgoingPackets
        self.incomingBytes = incomingBytes
        self.outgoingBytes = outgoingBytes
        self.connectionRate = connectionRate
        self.incomingPacketRate = incomingPacketRate
        self.outgoingPacketRate = outgoingPacketRate
        self.incomingByteRate = incomingByteRate
        self.outgoingByteRate = outgoingByteRate
    }

    public static let zero = IPVSStatistics()
}

/// The connection counts of one destination, what `ipvsadm -Ln` prints beside each real server.
public struct IPVSConnectionCounts: Hashable, Sendable, Codable {
    /// Established connections (`ActiveConn`).
    public var active: UInt32
    /// Connections in other states (`InActConn`).
    public var inactive: UInt32
    /// Persistence templates pointing at the server (`PersistConn`).
    public var persistent: UInt32

    public init(active: UInt32 = 0, inactive: UInt32 = 0, persistent: UInt32 = 0) {
        self.active = active
        self.inactive = inactive
        self.persistent = persistent
    }

    public static let zero = IPVSConnectionCounts()
}

/// What the kernel says about IPVS itself (`IPVS_CMD_GET_INFO`).
public struct IPVSInfo: Hashable, Sendable, Codable {
    /// The IPVS version word, `0x010201` for 1.2.1.
    public var version: UInt32
    /// Buckets in the connection hash table (`ip_vs_conn_tab_bits` module parameter).
    public var connectionTableSize: UInt32

    public init(version: UInt32, connectionTableSize: UInt32) {
        self.version = version
        self.connectionTableSize = connectionTableSize
    }

    /// `1.2.1`, as `ipvsadm` prints the version word.
    public var versionString: String {
        "\(version >> 16 & 0xff).\(version >> 8 & 0xff).\(version & 0xff)"
    }
}

/// The whole IPVS state read from the kernel: every service and destination with its counters,
/// in the order the kernel listed them.
///
/// ``table`` is the part that can be compared with a desired table. The kernel's order is kept
/// because `ipvsadm`'s sort is not a total order (it subtracts unsigned addresses into a signed
/// `int`), so reproducing its listing byte for byte needs the order it started from.
public struct IPVSSnapshot: Hashable, Sendable, Codable {
    public struct Destination: Hashable, Sendable, Codable {
        public var destination: IPVSDestination
        public var connections: IPVSConnectionCounts
        public var statistics: IPVSStatistics

        public init(
            _ destination: IPVSDestination, connections: IPVSConnectionCounts = .zero,
            statistics: IPVSStatistics = .zero
        ) {
            self.destination = destination
            self.connections = connections
            self.statistics = statistics
        }
    }

    public struct Service: Hashable, Sendable, Codable {
        public var service: IPVSService
        public var statistics: IPVSStatistics
        /// In the order the kernel listed them.
        public var destinations: [Destination]

        public init(_ service: IPVSService, statistics: IPVSStatistics = .zero, destinations: [Destination] = []) {
            self.service = service
            self.statistics = statistics
            self.destinations = destinations
        }
    }

    public var info: IPVSInfo
    /// In the order the kernel listed them.
    public var services: [Service]

    public init(info: IPVSInfo, services: [Service] = []) {
        self.info = info
        self.services = services
    }

    /// The table without counters.
    public var table: IPVSTable {
        IPVSTable(
            services.map { IPVSTable.Entry(service: $0.service, destinations: $0.destinations.map(\.destination)) })
    }
}
