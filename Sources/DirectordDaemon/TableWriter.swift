public import DirectordCore
import DirectordSystem

/// The only writer of the kernel's IPVS table, on its own serial queue.
///
/// Netlink calls are quick but blocking syscalls (a dump of 10,000 destinations, a batch of
/// changes); running them here keeps them off the check loop, so no check waits on the kernel
/// table, and off Swift's cooperative threads.
public actor TableWriter {
    private let executor: DispatchQueueExecutor
    private let control: any IPVSControl
    private let dryRun: Bool
    private let log: DirectorLog

    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// - Parameters:
    ///   - control: the kernel (``NetlinkIPVSClient``) or, for a dry run, an in-memory table.
    ///   - dryRun: log every operation instead of pretending it reached a kernel.
    public init(control: any IPVSControl, dryRun: Bool, log: DirectorLog) {
        executor = DispatchQueueExecutor(label: "directord.ipvs")
        self.control = control
        self.dryRun = dryRun
        self.log = log
    }

    /// Operations sent to the kernel since start.
    public private(set) var operationsApplied = 0
    /// Batches (apply calls) since start.
    public private(set) var batchesApplied = 0

    public func table() throws(IPVSError) -> IPVSTable {
        try control.table()
    }

    /// The table with its counters (connections per destination).
    public func snapshot() throws(IPVSError) -> IPVSSnapshot {
        try control.snapshot()
    }

    public func syncDaemons() throws(IPVSError) -> [IPVSSyncDaemon] {
        try control.syncDaemons()
    }

    public func startSyncDaemon(_ daemon: IPVSSyncDaemon) throws(IPVSError) {
        if dryRun { log.log("dry run: start \(daemon.ipvsadmLine)", priority: .debug) }
        try control.startSyncDaemon(daemon)
    }

    public func stopSyncDaemon(_ role: IPVSSyncDaemon.Role) throws(IPVSError) {
        if dryRun { log.log("dry run: stop the \(role.rawValue) sync daemon", priority: .debug) }
        try control.stopSyncDaemon(role)
    }

    public func apply(_ operations: [TableOperation]) throws(IPVSError) {
        guard !operations.isEmpty else { return }
        if dryRun {
            for operation in operations { log.log("dry run: \(operation)", priority: .debug) }
        }
        batchesApplied += 1
        operationsApplied += operations.count
        try control.apply(operations)
    }
}
