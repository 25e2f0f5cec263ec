/// Reads and changes the kernel's IPVS table.
///
/// ``NetlinkIPVSClient`` (module DirectordIPVS) talks to the kernel; ``InMemoryIPVSTable`` is a
/// faithful fake with the kernel's rules for tests of code that drives a table. Calls are
/// synchronous: the kernel answers IPVS requests while the request is being sent, so a call
/// takes microseconds per operation and never waits on the network. Implementations serialise
/// concurrent calls.
public protocol IPVSControl: Sendable {
    /// The IPVS version and connection table size.
    func info() throws(IPVSError) -> IPVSInfo

    /// Every service and destination, with counters, in the kernel's order.
    func snapshot() throws(IPVSError) -> IPVSSnapshot

    /// Applies the operations in order, as one batch.
    ///
    /// Every operation is attempted even when an earlier one fails (the kernel works through a
    /// batch that way), so the table afterwards holds whatever succeeded.
    ///
    /// - Throws: ``IPVSError/operationsFailed(_:attempted:)`` listing each failed operation by
    ///   its position and the kernel's reason; other cases when the batch could not be sent.
    func apply(_ operations: [TableOperation]) throws(IPVSError)

    /// Deletes every service and destination.
    func flush() throws(IPVSError)

    /// The connection-sync daemons that run (at most one master and one backup).
    func syncDaemons() throws(IPVSError) -> [IPVSSyncDaemon]

    /// Starts a connection-sync daemon: a master sends connection state to the backup director,
    /// which keeps it so connections survive a failover.
    func startSyncDaemon(_ daemon: IPVSSyncDaemon) throws(IPVSError)

    /// Stops the connection-sync daemon of that role.
    func stopSyncDaemon(_ role: IPVSSyncDaemon.Role) throws(IPVSError)
}

extension IPVSControl {
    /// The table without counters, to compare with a desired one.
    public func table() throws(IPVSError) -> IPVSTable {
        try snapshot().table
    }

    /// Makes the kernel's table equal to `desired` with the fewest operations.
    ///
    /// - Returns: the operations applied (empty when the table was already right).
    @discardableResult
    public func reconcile(to desired: IPVSTable) throws(IPVSError) -> [TableOperation] {
        let operations = TableDiff.diff(from: try table(), to: desired)
        if !operations.isEmpty { try apply(operations) }
        return operations
    }
}

/// A connection-synchronisation daemon of the kernel (`ipvsadm --start-daemon`).
///
/// When starting one, nil options take the kernel's defaults; the kernel reports every value
/// of a running daemon.
public struct IPVSSyncDaemon: Hashable, Sendable, Codable {
    /// The corresponding C constants are `IP_VS_STATE_MASTER` and `IP_VS_STATE_BACKUP`.
    public enum Role: String, Hashable, Sendable, Codable, CaseIterable {
        case master
        case backup

        public var kernelValue: UInt32 { self == .master ? 1 : 2 }
    }

    public var role: Role
    /// The interface the multicast sync messages use (`--mcast-interface`).
    public var interface: String
    /// Which director pair the messages belong to (`--syncid`, 0 to 255).
    public var syncID: UInt8
    /// The largest sync message payload (`--sync-maxlen`).
    public var maxLength: UInt16?
    /// The multicast group (`--mcast-group`; the kernel's default is 224.0.0.81).
    public var group: IPAddress?
    /// The UDP port (`--mcast-port`; default 8848).
    public var port: UInt16?
    /// The multicast TTL (`--mcast-ttl`; default 1).
    public var ttl: UInt8?

    public init(
        role: Role, interface: String, syncID: UInt8, maxLength: UInt16? = nil, group: IPAddress? = nil,
        port: UInt16? = nil, ttl: UInt8? = nil
    ) {
        self.role = role
        self.interface = interface
        self.syncID = syncID
        self.maxLength = maxLength
        self.group = group
        self.port = port
        self.ttl = ttl
    }

    /// The line `ipvsadm -L --daemon` prints:
    /// `master sync daemon (mcast=eth0, syncid=1, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)`.
    public var ipvsadmLine: String {
        var text = "\(role.rawValue) sync daemon (mcast=\(interface), syncid=\(syncID)"
        if let maxLength, maxLength != 0 { text += ", maxlen=\(maxLength)" }
        if let group { text += ", group=\(group)" }
        if let port, port != 0 { text += ", port=\(port)" }
        if let ttl, ttl != 0 { text += ", ttl=\(ttl)" }
        return text + ")"
    }
}
