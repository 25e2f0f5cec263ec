import Synchronization

/// An IPVS table in memory that answers as the kernel does, for testing code that drives the
/// kernel's table (the daemon's reconciler) without root or a kernel.
///
/// It keeps the kernel's rules, as the contract tests check against Debian 12's kernel in the
/// lab (the same cases run against this fake on the host and against the kernel in lab/run):
/// a batch is worked through to the end, each failure reported by position; adding what
/// exists, or naming a service, destination or scheduler that does not exist, fails as the
/// kernel fails; weights must not be negative; a lower threshold above the upper one (0 for
/// "no limit" included) is refused; an IPv6 prefix length outside 1...128 is refused;
/// destinations must be unicast and of the service's family unless tunnelled. Like the kernel,
/// it accepts port 0 on a service that is not persistent and one-packet scheduling on TCP
/// (only `ipvsadm` refuses those).
public final class InMemoryIPVSTable: IPVSControl {
    private struct State {
        var services: [ServiceKey: IPVSSnapshot.Service] = [:]
        /// Services in the order they were added, standing in for the kernel's hash order.
        var order: [ServiceKey] = []
        var daemons: [IPVSSyncDaemon.Role: IPVSSyncDaemon] = [:]
        var appliedBatches = 0
    }

    private let state = Mutex(State())
    private let schedulers: Set<String>
    private let persistenceEngines: Set<String>
    private let interfaces: [String: Int]
    private let reportedInfo: IPVSInfo

    /// - Parameters:
    ///   - schedulers: the scheduler modules "loaded": every one of Debian 12's kernel by default,
    ///     and `none` (a service without a scheduler, which the kernel accepts).
    ///   - persistenceEngines: persistence engine modules "loaded" (the kernel has `sip`).
    ///   - interfaces: network interfaces and their MTUs, for sync daemons.
    ///   - info: what ``info()`` reports.
    public init(
        schedulers: Set<String> = Set(Scheduler.known + ["none"]),
        persistenceEngines: Set<String> = [],
        interfaces: [String: Int] = ["lo": 65536, "eth0": 1500],
        info: IPVSInfo = IPVSInfo(version: 0x010201, connectionTableSize: 4096),
        table: IPVSTable = IPVSTable()
    ) {
        self.schedulers = schedulers
        self.persistenceEngines = persistenceEngines
        self.interfaces = interfaces
        self.reportedInfo = info
        state.withLock { state in
            for entry in table.entries {
                state.services[entry.service.key] = IPVSSnapshot.Service(
                    entry.service, destinations: entry.destinations.map { IPVSSnapshot.Destination($0) })
                state.order.append(entry.service.key)
            }
        }
    }

    /// How many non-empty batches ``apply(_:)`` has been given.
    public var appliedBatches: Int { state.withLock { $0.appliedBatches } }

    // MARK: IPVSControl

    public func info() throws(IPVSError) -> IPVSInfo { reportedInfo }

    public func snapshot() throws(IPVSError) -> IPVSSnapshot {
        state.withLock { state in
            IPVSSnapshot(info: reportedInfo, services: state.order.map { state.services[$0]! })
        }
    }

    public func apply(_ operations: [TableOperation]) throws(IPVSError) {
        guard !operations.isEmpty else { return }
        let failures = state.withLock { state -> [IPVSOperationFailure] in
            state.appliedBatches += 1
            var failures: [IPVSOperationFailure] = []
            for (index, operation) in operations.enumerated() {
                do throws(IPVSError) {
                    try apply(operation, to: &state)
                } catch {
                    failures.append(IPVSOperationFailure(index: index, operation: operation, error: error))
                }
            }
            return failures
        }
        if !failures.isEmpty { throw .operationsFailed(failures, attempted: operations.count) }
    }

    public func flush() throws(IPVSError) {
        state.withLock { state in
            state.services = [:]
            state.order = []
        }
    }

    public func syncDaemons() throws(IPVSError) -> [IPVSSyncDaemon] {
        state.withLock { state in IPVSSyncDaemon.Role.allCases.compactMap { state.daemons[$0] } }
    }

    public func startSyncDaemon(_ daemon: IPVSSyncDaemon) throws(IPVSError) {
        try state.withLock { (state: inout State) throws(IPVSError) in
            guard state.daemons[daemon.role] == nil else { throw .syncDaemonRunning(daemon.role) }
            guard let interfaceMTU = interfaces[daemon.interface] else { throw .interfaceNotFound(daemon.interface) }
            var running = daemon
            // start_sync_thread(): a backup reads with the interface's MTU (at least 1500), a
            // master sends 1500-byte datagrams; an explicit size is kept within 1024 (backup)
            // or 1 (master) and the largest UDP payload.
            let headers = daemon.group?.family == .ipv6 ? 48 : 28
            let mtu = daemon.role == .backup ? min(max(interfaceMTU, 1500), 65535) : 1500
            let smallest = daemon.role == .backup ? 1024 : 1
            if let asked = daemon.maxLength, asked != 0 {
                running.maxLength = UInt16(min(max(Int(asked), smallest), 65535 - headers))
            } else {
                running.maxLength = UInt16(mtu - headers)
            }
            running.group = daemon.group ?? IPAddress.v4(0xe000_0051)
            running.port = daemon.port ?? 8848
            running.ttl = daemon.ttl ?? 1
            state.daemons[daemon.role] = running
        }
    }

    public func stopSyncDaemon(_ role: IPVSSyncDaemon.Role) throws(IPVSError) {
        try state.withLock { (state: inout State) throws(IPVSError) in
            guard state.daemons.removeValue(forKey: role) != nil else { throw .syncDaemonNotRunning(role) }
        }
    }

    // MARK: The kernel's rules (net/netfilter/ipvs/ip_vs_ctl.c, ip_vs_genl_set_cmd)

    private func apply(_ operation: TableOperation, to state: inout State) throws(IPVSError) {
        if let refusal = operation.refusal { throw refusal }
        switch operation {
        case .addService(let service):
            guard state.services[service.key] == nil else { throw .serviceExists(service.key) }
            try check(service)
            state.services[service.key] = IPVSSnapshot.Service(service)
            state.order.append(service.key)
        case .editService(let service):
            guard state.services[service.key] != nil else { throw .serviceNotFound(service.key) }
            try check(service)
            state.services[service.key]!.service = service
        case .deleteService(let service):
            guard state.services.removeValue(forKey: service.key) != nil else { throw .serviceNotFound(service.key) }
            state.order.removeAll { $0 == service.key }
        case .addDestination(let destination, let key):
            guard let entry = state.services[key] else { throw .serviceNotFound(key) }
            try checkThresholdLimit(destination, service: key)
            try checkFamily(destination, service: key)
            try checkRanges(destination, service: key)
            guard !entry.destinations.contains(where: { $0.destination.key == destination.key }) else {
                throw .destinationExists(destination.key, service: key)
            }
            try checkUnicast(destination, service: key)
            state.services[key]!.destinations.append(IPVSSnapshot.Destination(destination))
        case .editDestination(let destination, let key):
            guard let entry = state.services[key] else { throw .serviceNotFound(key) }
            try checkThresholdLimit(destination, service: key)
            try checkFamily(destination, service: key)
            try checkRanges(destination, service: key)
            guard let index = entry.destinations.firstIndex(where: { $0.destination.key == destination.key }) else {
                throw .destinationNotFound(destination.key, service: key)
            }
            state.services[key]!.destinations[index].destination = destination
        case .deleteDestination(let destination, let key):
            guard let entry = state.services[key] else { throw .serviceNotFound(key) }
            guard let index = entry.destinations.firstIndex(where: { $0.destination.key == destination.key }) else {
                throw .destinationNotFound(destination.key, service: key)
            }
            state.services[key]!.destinations.remove(at: index)
        }
    }

    private func check(_ service: IPVSService) throws(IPVSError) {
        guard schedulers.contains(service.scheduler.rawValue) else {
            throw .schedulerNotFound(service.scheduler.rawValue, service: service.key)
        }
        if let engine = service.persistenceEngine, !engine.isEmpty, !persistenceEngines.contains(engine) {
            throw .persistenceEngineNotFound(engine, service: service.key)
        }
        if service.key.family == .ipv6, !(1...128).contains(service.effectiveNetmask) {
            throw .invalidService(
                service, reason: "IPv6 persistence prefix length \(service.effectiveNetmask) is outside 1 to 128")
        }
    }

    /// The kernel's attribute policy refuses thresholds above `INT_MAX` before anything else.
    private func checkThresholdLimit(_ destination: IPVSDestination, service key: ServiceKey) throws(IPVSError) {
        if let reason = IPVSError.thresholdReason(destination) {
            throw .invalidDestination(destination, service: key, reason: reason)
        }
    }

    /// A destination of another family than its service only by tunnelling.
    private func checkFamily(_ destination: IPVSDestination, service key: ServiceKey) throws(IPVSError) {
        if destination.address.family != key.family && destination.forwarding != .ipip {
            throw .invalidDestination(
                destination, service: key,
                reason: "an \(destination.address.family == .ipv4 ? "IPv4" : "IPv6") destination in an "
                    + "\(key.family == .ipv4 ? "IPv4" : "IPv6") service needs tunnelling (ipip)")
        }
    }

    private func checkRanges(_ destination: IPVSDestination, service key: ServiceKey) throws(IPVSError) {
        if destination.weight < 0 {
            throw .weightOutOfRange(destination.weight, destination: destination.key, service: key)
        }
        if destination.lowerThreshold > destination.upperThreshold {
            throw .thresholdsOutOfOrder(
                lower: destination.lowerThreshold, upper: destination.upperThreshold, destination: destination.key,
                service: key)
        }
    }

    /// `inet_addr_type` must say local or unicast; `ipv6_addr_type` unicast and not link-local.
    private func checkUnicast(_ destination: IPVSDestination, service key: ServiceKey) throws(IPVSError) {
        let refused: Bool
        switch destination.address {
        case .v4(let value):
            refused = value >> 24 == 0 || value == 0xffff_ffff || value >> 28 == 0xe
        case .v6(let high, let low):
            let unspecified = high == 0 && low == 0
            let multicast = high >> 56 == 0xff
            let linkLocal = high >> 54 == 0x3fa  // fe80::/10
            refused = unspecified || multicast || linkLocal
        }
        if refused {
            throw .invalidDestination(
                destination, service: key,
                reason:
                    "\(destination.address) is not a unicast address (multicast, broadcast, unspecified or link-local)")
        }
    }
}
