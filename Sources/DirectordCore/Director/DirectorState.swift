/// One real server of one virtual service: the unit health is kept for.
public struct RealServerRef: Hashable, Sendable, CustomStringConvertible {
    public var service: ServiceKey
    /// The real server's kernel entry (address and kernel port).
    public var destination: IPVSDestination.Key

    public init(service: ServiceKey, destination: IPVSDestination.Key) {
        self.service = service
        self.destination = destination
    }

    public var description: String { "\(destination) (\(service))" }
}

/// A check to run on a timer, and the real servers whose health its result decides.
///
/// Real servers of different virtual services with the same check (address, port, request ...)
/// and interval share one check: it runs once, and each service records the result in its
/// own health, with its own `failurecount`.
public struct ScheduledCheck: Hashable, Sendable {
    public var check: HealthCheck
    /// Seconds between two checks.
    public var interval: Int
    public var realServers: [RealServerRef]
}

/// Everything the director decides, without I/O: health per (virtual, real), the table the
/// kernel should hold, and what changes and log lines get it there.
///
/// The daemon feeds it check results, maintenance files, reloads and the table it reads from
/// the kernel, applies the operations it returns, and logs the events.
public struct DirectorState: Sendable {
    public private(set) var configuration: Configuration {
        didSet { indexServices() }
    }
    /// Where each virtual service is in ``configuration``, for lookups per check result.
    private var serviceIndex: [ServiceKey: Int] = [:]
    private var health: [RealServerRef: RealServerHealth] = [:]
    /// The kernel's table as last read (``observe(_:)``), with every operation committed since
    /// applied to it: what the next reconciliation starts from.
    public private(set) var observed: IPVSTable
    /// A committed reconciliation had operations the kernel refused: the table must be read
    /// again before the next one. Cleared by ``observe(_:)``.
    public private(set) var needsTableRead = false
    /// Services this director keeps in step: those of the configuration, and those a reload
    /// removed until they are purged. Every other kernel service is left alone.
    public private(set) var managedServices: Set<ServiceKey>
    /// Something changed that the kernel's table may need to follow: a state transition,
    /// maintenance, a reload. Cleared by ``takeReconciliation(phase:)``.
    public private(set) var needsReconcile = true
    /// The last `fallbackcommand` status run per service (ldirectord runs each change once).
    private var fallbackCommandStatus: [ServiceKey: FallbackCommandStatus] = [:]
    /// Real servers of quiescent services whose first verdict was "down": they go into the
    /// table at weight 0 once, as ldirectord's settled table has them (it adds every server at
    /// start and quiesces the failing ones). Weight 0 carries no new connection, so "no traffic
    /// before a passing check" still holds. Cleared once the entry is placed.
    private var quiescentPlacementOwed: Set<RealServerRef> = []

    public enum FallbackCommandStatus: String, Hashable, Sendable {
        case start
        case stop
    }

    /// A `fallbackcommand` to run: `COMMAND start|stop VIP:PORT PROTOCOL`.
    public struct FallbackCommand: Hashable, Sendable {
        public var command: String
        public var status: FallbackCommandStatus
        public var service: ServiceKey
        public var serviceProtocol: ServiceProtocol

        /// The shell command line ldirectord runs.
        public var commandLine: String { "\(command) \(status.rawValue) \(service) \(serviceProtocol.rawValue)" }
    }

    /// Starts from the configuration and the kernel's table as it is.
    ///
    /// What the kernel already holds is adopted: a real server present with weight above 0 is
    /// trusted (up) until its first check, so a restart changes nothing while health is
    /// unchanged; every other real server is down until a check passes.
    public init(configuration: Configuration, observed: IPVSTable) {
        self.configuration = configuration
        self.observed = observed
        managedServices = Set(configuration.virtualServices.filter { $0.refusal == nil }.map(\.key))
        indexServices()
        for virtual in configuration.virtualServices {
            for real in virtual.realServers {
                let ref = RealServerRef(service: virtual.key, destination: real.destinationKey)
                health[ref] = Self.initialHealth(virtual: virtual, ref: ref, observed: observed)
            }
        }
    }

    static func initialHealth(virtual: VirtualService, ref: RealServerRef, observed: IPVSTable) -> RealServerHealth {
        if let why = virtual.refusal ?? virtual.realServers.first(where: { $0.destinationKey == ref.destination })?.refusal {
            return RealServerHealth(state: .down, reason: "not run: \(why)", awaitsFirstCheck: false)
        }
        switch virtual.checkType {
        case .on: return RealServerHealth(state: .up, reason: "checktype=on", awaitsFirstCheck: false)
        case .off: return RealServerHealth(state: .down, reason: "checktype=off", awaitsFirstCheck: false)
        default: break
        }
        // The fallback server's entry is not the real server's, even at the same address.
        let isFallback = virtual.fallback.map { $0.destinationKey(for: virtual) == ref.destination } ?? false
        if !isFallback, let present = observed[ref.service]?[destination: ref.destination], present.weight > 0 {
            return RealServerHealth(state: .up, reason: "in the kernel table, trusted until its first check")
        }
        return RealServerHealth(state: .down, reason: "not checked yet")
    }

    // MARK: Health

    public func health(of ref: RealServerRef) -> RealServerHealth? { health[ref] }

    /// The checks to run on timers: one per distinct check and interval. checktype=on and off
    /// need none.
    public var scheduledChecks: [ScheduledCheck] {
        var order: [ScheduledCheck] = []
        var index: [CheckIdentity: Int] = [:]
        for virtual in configuration.virtualServices where virtual.refusal == nil {
            if case .on = virtual.checkType { continue }
            if case .off = virtual.checkType { continue }
            for real in virtual.realServers where real.refusal == nil {
                let ref = RealServerRef(service: virtual.key, destination: real.destinationKey)
                var check = virtual.healthCheck(for: real)
                // Only external checks see the virtual service; others are the same check in
                // every service that has this real server.
                switch check.type {
                case .external, .externalPerl: break
                default: check.externalArguments = []
                }
                let identity = CheckIdentity(check: check, interval: virtual.checkInterval)
                if let position = index[identity] {
                    order[position].realServers.append(ref)
                } else {
                    index[identity] = order.count
                    order.append(ScheduledCheck(check: identity.check, interval: identity.interval, realServers: [ref]))
                }
            }
        }
        return order
    }

    private struct CheckIdentity: Hashable {
        var check: HealthCheck
        var interval: Int
    }

    /// Records a check result for the real servers it decides.
    /// - Returns: log lines that need no table change (soft failures, resets); state changes
    ///   show in the next ``reconcile(phase:)``.
    public mutating func record(_ result: CheckResult, for refs: [RealServerRef]) -> [DirectorEvent] {
        var events: [DirectorEvent] = []
        for ref in refs {
            guard var current = health[ref], let virtual = virtualService(ref.service) else { continue }
            let wasPending = current.isPending
            defer { notePlacement(ref, wasPending: wasPending, now: health[ref], quiescent: virtual.quiescent) }
            for transition in current.record(result, failureCount: virtual.failureCount) {
                switch transition {
                case .wentUp, .wentDown:
                    needsReconcile = true
                case .softFailure(let count, let limit, let reason):
                    events.append(.softFailure(ref.endpoint, virtualID: virtual.id, count: count, limit: limit, reason: reason))
                case .softFailuresReset:
                    events.append(.softFailureReset(ref.endpoint, virtualID: virtual.id))
                }
            }
            health[ref] = current
            // A server down from the start is never in the table: without this line its
            // failure would leave no trace in the log.
            if wasPending, !current.isPending, current.state == .down, !virtual.quiescent {
                events.append(.firstCheckFailed(ref.endpoint, in: ref.service, reason: current.reason))
            }
        }
        return events
    }

    /// A pending real server of a quiescent service that got its first verdict, "down", is
    /// owed its weight-0 entry; one that is up owes nothing.
    private mutating func notePlacement(
        _ ref: RealServerRef, wasPending: Bool, now: RealServerHealth?, quiescent: Bool
    ) {
        guard let now else { return }
        if now.state == .up {
            quiescentPlacementOwed.remove(ref)
        } else if quiescent && wasPending && !now.isPending {
            quiescentPlacementOwed.insert(ref)
            needsReconcile = true
        }
    }

    /// Real servers that have not had their first verdict yet (pending or trusted).
    public var awaitingFirstVerdict: Int {
        health.values.count { $0.awaitsFirstCheck }
    }

    /// A maintenance file names the real server (`true`) or no longer does (`false`).
    ///
    /// A `checktype=on` server leaves maintenance up again at once: no check will ever pass
    /// to bring it back.
    public mutating func setMaintenance(_ inMaintenance: Bool, for ref: RealServerRef) {
        guard var current = health[ref], current.inMaintenance != inMaintenance else { return }
        let wasPending = current.isPending
        if inMaintenance {
            _ = current.enterMaintenance()
        } else {
            current.leaveMaintenance()
            if case .on? = virtualService(ref.service)?.checkType {
                _ = current.force(.up, reason: "checktype=on")
            }
        }
        health[ref] = current
        notePlacement(ref, wasPending: wasPending, now: current, quiescent: virtualService(ref.service)?.quiescent ?? false)
        needsReconcile = true
    }

    public func virtualService(_ key: ServiceKey) -> VirtualService? {
        serviceIndex[key].map { configuration.virtualServices[$0] }
    }

    /// A real server of the configuration, by its reference.
    public func realServer(_ ref: RealServerRef) -> (VirtualService, RealServer)? {
        guard let virtual = virtualService(ref.service),
            let real = virtual.realServers.first(where: { $0.destinationKey == ref.destination })
        else { return nil }
        return (virtual, real)
    }

    private mutating func indexServices() {
        serviceIndex = Dictionary(
            configuration.virtualServices.enumerated().map { ($1.key, $0) }, uniquingKeysWith: { first, _ in first })
    }

    // MARK: The table

    /// The table the kernel should hold for the managed services, given their health.
    ///
    /// - An up real server is there with its configured weight, forwarding and thresholds.
    /// - A down one is removed, or with `quiescent=yes` kept with weight 0: if the kernel still
    ///   has it, or always with `readdquiescent=yes`.
    /// - A real server not checked yet (and not trusted) stays as the kernel has it: absent, or
    ///   already at weight 0; it gets no traffic before it has passed a check.
    /// - The fallback server is there exactly when no real server of its service is up, with
    ///   weight 1 and never quiesced; while a service's real servers still await their first
    ///   check, the kernel's fallback entry stays as it is, so a start neither adds a fallback
    ///   that checks are about to remove nor removes one a restart found.
    public func desiredTable() -> IPVSTable {
        var table = IPVSTable()
        for virtual in configuration.virtualServices where virtual.refusal == nil {
            let current = observed[virtual.key]
            var destinations: [IPVSDestination] = []
            var anyUp = false
            var anyPending = false
            for real in virtual.realServers where real.refusal == nil {
                let ref = RealServerRef(service: virtual.key, destination: real.destinationKey)
                let state = health[ref] ?? RealServerHealth(state: .down, reason: "")
                let configured = real.destination(weight: Int32(real.weight))
                if state.state == .up {
                    anyUp = true
                    destinations.append(configured)
                } else if state.isPending {
                    anyPending = true
                    if let present = current?[destination: ref.destination] { destinations.append(present) }
                } else if virtual.quiescent
                    && (configuration.globals.readdQuiescent || current?[destination: ref.destination] != nil
                        || quiescentPlacementOwed.contains(ref))
                {
                    destinations.append(real.destination(weight: 0))
                }
            }
            if let fallback = virtual.fallback {
                let key = fallback.destinationKey(for: virtual)
                destinations.removeAll { $0.key == key }
                if !anyUp {
                    if anyPending {
                        if let present = current?[destination: key] { destinations.append(present) }
                    } else {
                        destinations.append(fallback.destination(for: virtual))
                    }
                }
            }
            table.upsert(IPVSService(virtual))
            for destination in destinations { table.upsert(destination, in: virtual.key) }
        }
        return table
    }

    /// What turns the kernel's table into the desired one: the operations (for the managed
    /// services only), the log lines once they are applied, and the fallback commands to run.
    public func reconcile(phase: DirectorEvent.Phase) -> Reconciliation {
        let managedObserved = IPVSTable(observed.entries.filter { managedServices.contains($0.service.key) })
        let desired = desiredTable()
        let operations = TableDiff.diff(from: managedObserved, to: desired)
        let events = operations.compactMap { event(for: $0, observed: managedObserved, phase: phase) }
        return Reconciliation(operations: operations, events: events, fallbackCommands: fallbackCommands())
    }

    /// The reconciliation to apply now; clears ``needsReconcile``, so changes made while it is
    /// being applied ask for the next one.
    public mutating func takeReconciliation(phase: DirectorEvent.Phase) -> Reconciliation {
        needsReconcile = false
        return reconcile(phase: phase)
    }

    /// The kernel's table, freshly read: what someone changed behind directord's back shows
    /// in the next reconciliation, which this asks for.
    public mutating func observe(_ table: IPVSTable) {
        observed = table
        needsTableRead = false
        needsReconcile = true
    }

    /// Asks for another reconciliation, e.g. after one failed against a changed table.
    public mutating func requestReconcile() {
        needsReconcile = true
    }

    /// Records that a reconciliation was applied: its operations (but those the kernel refused,
    /// by index) are in ``observed``, purged services are no longer managed and the fallback
    /// commands count as run. A refused operation means the table is not what was thought:
    /// ``needsTableRead``.
    public mutating func commit(_ reconciliation: Reconciliation, refused: Set<Int> = []) {
        let applied = reconciliation.operations.enumerated().filter { !refused.contains($0.offset) }.map(\.element)
        if let table = try? observed.applying(applied), refused.isEmpty {
            observed = table
        } else {
            needsTableRead = true
            needsReconcile = true
        }
        for operation in reconciliation.operations {
            switch operation {
            case .addDestination(let destination, let key), .editDestination(let destination, let key):
                quiescentPlacementOwed.remove(RealServerRef(service: key, destination: destination.key))
            default: break
            }
        }
        let configured = Set(configuration.virtualServices.map(\.key))
        for case .deleteService(let service) in reconciliation.operations where !configured.contains(service.key) {
            managedServices.remove(service.key)
        }
        for command in reconciliation.fallbackCommands {
            fallbackCommandStatus[command.service] = command.status
        }
    }

    /// `fallbackcommand start` when a service has lost every real server, `stop` when one is
    /// back, each change once; nothing while a service's servers await their first check.
    func fallbackCommands() -> [FallbackCommand] {
        var commands: [FallbackCommand] = []
        for virtual in configuration.virtualServices {
            guard let command = virtual.fallbackCommand else { continue }
            var anyUp = false
            var anyPending = false
            for real in virtual.realServers {
                let state = health[RealServerRef(service: virtual.key, destination: real.destinationKey)]
                if state?.state == .up { anyUp = true }
                if state?.isPending == true { anyPending = true }
            }
            if !anyUp && anyPending { continue }
            let status: FallbackCommandStatus = anyUp ? .stop : .start
            if fallbackCommandStatus[virtual.key] != status {
                commands.append(
                    FallbackCommand(command: command, status: status, service: virtual.key, serviceProtocol: virtual.protocol))
            }
        }
        return commands
    }

    // MARK: Reload and stop

    /// Takes a new, valid configuration. Real servers kept (same service and kernel entry)
    /// keep their health; new ones are adopted as at start. Services the new file drops stay
    /// managed until the next reconciliation purges them.
    ///
    /// A running service that the new file makes one the kernel would refuse (a mistyped
    /// scheduler) keeps its running definition instead of going dark, as the kernel keeps it
    /// when ldirectord's `ipvsadm -E` fails.
    /// - Returns: the services that kept their running definition.
    @discardableResult
    public mutating func reload(_ loaded: Configuration) -> [VirtualService] {
        var newConfiguration = loaded
        var kept: [VirtualService] = []
        for (index, virtual) in newConfiguration.virtualServices.enumerated() where virtual.refusal != nil {
            if let running = virtualService(virtual.key), running.refusal == nil {
                newConfiguration.virtualServices[index] = running
                kept.append(virtual)
            }
        }
        var newHealth: [RealServerRef: RealServerHealth] = [:]
        for virtual in newConfiguration.virtualServices {
            for real in virtual.realServers {
                let ref = RealServerRef(service: virtual.key, destination: real.destinationKey)
                switch virtual.checkType {
                case .on, .off:
                    newHealth[ref] = Self.initialHealth(virtual: virtual, ref: ref, observed: observed)
                default:
                    newHealth[ref] = health[ref] ?? Self.initialHealth(virtual: virtual, ref: ref, observed: observed)
                }
            }
        }
        health = newHealth
        quiescentPlacementOwed = quiescentPlacementOwed.filter { newHealth[$0] != nil }
        needsReconcile = true
        let newKeys = Set(newConfiguration.virtualServices.filter { $0.refusal == nil }.map(\.key))
        managedServices = managedServices.union(newKeys)
        fallbackCommandStatus = fallbackCommandStatus.filter { newKeys.contains($0.key) }
        configuration = newConfiguration
        return kept
    }

    /// On stop: every service with `cleanstop=yes` is deleted (its destinations with it), and
    /// `fallbackcommand stop` runs where `start` was the last status.
    public func shutdown() -> Reconciliation {
        var operations: [TableOperation] = []
        var events: [DirectorEvent] = []
        for virtual in configuration.virtualServices where virtual.cleanStop {
            guard let entry = observed[virtual.key] else { continue }
            for destination in entry.destinations {
                events.append(.realServerPurged(destination.endpoint, in: virtual.key, phase: .stop))
            }
            operations.append(.deleteService(entry.service))
            events.append(.virtualServicePurged(virtual.key, phase: .stop))
        }
        var commands: [FallbackCommand] = []
        for virtual in configuration.virtualServices {
            if let command = virtual.fallbackCommand, fallbackCommandStatus[virtual.key] == .start {
                commands.append(
                    FallbackCommand(command: command, status: .stop, service: virtual.key, serviceProtocol: virtual.protocol))
            }
        }
        return Reconciliation(operations: operations, events: events, fallbackCommands: commands)
    }

    // MARK: Log lines for operations

    func event(for operation: TableOperation, observed: IPVSTable, phase: DirectorEvent.Phase) -> DirectorEvent? {
        switch operation {
        case .addService(let service):
            return .virtualServiceAdded(service.key)
        case .editService(let service):
            return .virtualServiceChanged(service.key)
        case .deleteService(let service):
            return .virtualServicePurged(service.key, phase: phase)
        case .addDestination(let destination, let key), .editDestination(let destination, let key),
            .deleteDestination(let destination, let key):
            let virtual = virtualService(key)
            let ref = RealServerRef(service: key, destination: destination.key)
            let isReal = virtual?.realServers.contains { $0.destinationKey == destination.key } ?? false
            let isFallback = virtual.flatMap { virtual in virtual.fallback.map { $0.destinationKey(for: virtual) } }
                == destination.key
            // A fallback at the address of a real server is the real server while that is up.
            let asFallback = isFallback && !(isReal && health[ref]?.state == .up)
            let reason = health[ref]?.reason
            switch operation {
            case .addDestination:
                if asFallback { return .fallbackAdded(destination.endpoint, in: key) }
                if destination.weight == 0 && quiescentPlacementOwed.contains(ref) {
                    return .realServerQuiesced(destination.endpoint, in: key, reason: reason)
                }
                return destination.weight == 0
                    ? .realServerReaddedQuiescent(destination.endpoint, in: key, reason: reason)
                    : .realServerAdded(destination.endpoint, in: key, weight: destination.weight, reason: reason)
            case .editDestination:
                if asFallback { return .fallbackRestored(destination.endpoint, in: key) }
                let before = observed[key]?[destination: destination.key]
                if destination.weight == 0 && (before?.weight ?? 1) > 0 {
                    return .realServerQuiesced(destination.endpoint, in: key, reason: reason)
                }
                return .realServerRestored(destination.endpoint, in: key, weight: destination.weight, reason: reason)
            default:
                if isFallback && !isReal { return .fallbackDeleted(destination.endpoint, in: key) }
                if isReal { return .realServerDeleted(destination.endpoint, in: key, reason: reason) }
                return .realServerPurged(destination.endpoint, in: key, phase: phase)
            }
        }
    }
}

/// The result of ``DirectorState/reconcile(phase:)``.
public struct Reconciliation: Hashable, Sendable {
    /// In an order the kernel accepts; empty when the kernel already matches.
    public var operations: [TableOperation]
    /// One per operation that ldirectord would log, to log once the operations are applied.
    public var events: [DirectorEvent]
    public var fallbackCommands: [DirectorState.FallbackCommand]

    public var isEmpty: Bool { operations.isEmpty && fallbackCommands.isEmpty }
}

extension RealServerRef {
    var endpoint: DirectorEvent.Endpoint { DirectorEvent.Endpoint(address: destination.address, port: destination.port) }
}

extension IPVSDestination {
    var endpoint: DirectorEvent.Endpoint { DirectorEvent.Endpoint(address: address, port: port) }
}

extension RealServer {
    public var destinationKey: IPVSDestination.Key { IPVSDestination.Key(address: address, port: port) }

    /// This real server's kernel entry with the given weight.
    public func destination(weight: Int32) -> IPVSDestination {
        IPVSDestination(
            address: address, port: port, forwarding: forwarding, weight: weight, upperThreshold: upperThreshold,
            lowerThreshold: lowerThreshold)
    }
}

extension FallbackServer {
    /// The kernel port: direct routing and tunnelling use the service's port, as for real
    /// servers; otherwise the port written, else the service's.
    func kernelPort(for virtual: VirtualService) -> UInt16 {
        if case .inet(_, _, let servicePort) = virtual.key, forwarding.keepsVirtualPort { return servicePort }
        return port ?? virtual.key.port
    }

    public func destinationKey(for virtual: VirtualService) -> IPVSDestination.Key {
        IPVSDestination.Key(address: address, port: kernelPort(for: virtual))
    }

    /// The fallback's kernel entry: weight 1, no thresholds (ldirectord's parse_fallback).
    public func destination(for virtual: VirtualService) -> IPVSDestination {
        IPVSDestination(address: address, port: kernelPort(for: virtual), forwarding: forwarding, weight: 1)
    }
}
