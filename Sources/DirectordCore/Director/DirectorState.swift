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
    /// Time between two starts of the check (checkinterval; the parser keeps it at 1 s or more).
    public var interval: Duration
    public var realServers: [RealServerRef]
    /// `downinterval`: the time between two starts while every real server it decides is down;
    /// nil: `interval` always.
    public var downInterval: Duration? = nil
}

/// Everything the director decides, without I/O: health per (virtual, real), the table the
/// kernel should hold, and what changes and log lines get it there.
///
/// The daemon feeds it check results, maintenance files, reloads and the table it reads from
/// the kernel, applies the operations it returns, and logs the events.
public struct DirectorState: Sendable {
    // The stored state is internal, not private, so that DirectorState+Table and
    // DirectorState+Reload can reach it; outside the core it is read-only or invisible.
    public internal(set) var configuration: Configuration {
        didSet { indexServices() }
    }
    /// Where each virtual service is in ``configuration``, for lookups per check result.
    var serviceIndex: [ServiceKey: Int] = [:]
    var health: [RealServerRef: RealServerHealth] = [:]
    /// The kernel's table as last read (``observe(_:)``), with every operation committed since
    /// applied to it: what the next reconciliation starts from.
    public internal(set) var observed: IPVSTable
    /// A committed reconciliation had operations the kernel refused: the table must be read
    /// again before the next one. Cleared by ``observe(_:)``.
    public internal(set) var needsTableRead = false
    /// Services this director keeps in step: those of the configuration, and those a reload
    /// removed until they are purged. Every other kernel service is left alone.
    public internal(set) var managedServices: Set<ServiceKey>
    /// Something changed that the kernel's table may need to follow: a state transition,
    /// maintenance, a reload. Cleared by ``takeReconciliation(phase:)``.
    public internal(set) var needsReconcile = true
    /// The local error of each server's last check, where it was one (DirectorState+LocalFault);
    /// the up servers whose local failures in a row are held back, by the round of checks that
    /// must end before they count; that round while it runs, and the last one ended; the
    /// error whose results are set aside while nearly every check fails with it.
    var localFaults: [RealServerRef: String] = [:]
    var localFaultHeld: [RealServerRef: Int] = [:]
    var localFaultRound: LocalFaultRound?
    var localFaultRoundsEnded = 0
    var localFaultsChanged = false
    public internal(set) var localFaultFreeze: String?
    /// Results recorded so far, one per real server a result decides: the director's logical
    /// clock. A check notes it when it begins and gives it back with its result
    /// (``record(_:for:checkBegan:)``), which tells a result of a check begun before some other
    /// result from one begun after it.
    public internal(set) var resultsRecorded = 0
    /// Real servers no check decides (checktype=on or off, refused ones): a round of checks
    /// does not wait for them, and they are not in the share of failing checks.
    var uncheckedServers: Set<RealServerRef> = []
    /// When each real server was last taken out by its checks, in order (`maxejection` holds
    /// in the ones that failed last).
    var wentDownOrder: [RealServerRef: Int] = [:]
    var wentDownCount = 0
    /// The last `fallbackcommand` status run per service (ldirectord runs each change once).
    var fallbackCommandStatus: [ServiceKey: FallbackCommandStatus] = [:]
    /// Real servers of quiescent services whose first verdict was "down": they go into the
    /// table at weight 0 once, as ldirectord's settled table has them (it adds every server at
    /// start and quiesces the failing ones). Weight 0 carries no new connection, so "no traffic
    /// before a passing check" still holds. Cleared once the entry is placed.
    var quiescentPlacementOwed: Set<RealServerRef> = []
    /// Real servers kept at weight 0 on the operator's word (DirectorState+Drains).
    public internal(set) var drains: [RealServerRef: Drain] = [:]
    /// Real servers ramping to their weight after coming back (`slowstart`,
    /// DirectorState+SlowStart), and the time the daemon last gave (seconds since 1970).
    public internal(set) var ramps: [RealServerRef: Ramp] = [:]
    public internal(set) var clock: Double = 0
    /// Entries a reload removed, left at weight 0 until idle (`draintimeout`,
    /// DirectorState+Departures), and the services a reload removed that still hold some.
    public internal(set) var departures: [RealServerRef: Departure] = [:]
    /// The firewall mark of each real server checked through the forwarding path
    /// (DirectorState+CheckPath), kept with the configuration.
    public internal(set) var checkPaths: [RealServerRef: UInt32] = [:]
    /// The real server of each check path's private service.
    var checkPathOwners: [ServiceKey: RealServerRef] = [:]
    /// What each real server's agent said last (`agentport`, DirectorState+Agent).
    public internal(set) var agents: [RealServerRef: AgentState] = [:]
    var departingServices: [ServiceKey: IPVSService] = [:]

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
        managedServices.formUnion(checkPathServiceKeys)
        for virtual in configuration.virtualServices {
            for real in virtual.realServers {
                let ref = RealServerRef(service: virtual.key, destination: real.destinationKey)
                health[ref] = Self.initialHealth(virtual: virtual, ref: ref, observed: observed)
            }
        }
    }

    static func initialHealth(virtual: VirtualService, ref: RealServerRef, observed: IPVSTable) -> RealServerHealth {
        if let why = virtual.refusal
            ?? virtual.realServers.first(where: { $0.destinationKey == ref.destination })?.refusal
        {
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
        // Sized once: checks are large values, and growing moved them all several times.
        var order: [ScheduledCheck] = []
        order.reserveCapacity(configuration.realServerCount)
        var index: [CheckIdentity: Int] = [:]
        index.reserveCapacity(configuration.realServerCount)
        for virtual in configuration.virtualServices where virtual.refusal == nil {
            if case .on = virtual.checkType { continue }
            if case .off = virtual.checkType { continue }
            for real in virtual.realServers where real.refusal == nil {
                let ref = RealServerRef(service: virtual.key, destination: real.destinationKey)
                let check = virtual.healthCheck(for: real, forwardingPath: forwardingPath(ref))
                var identities = [
                    CheckIdentity(
                        check: check, interval: .seconds(virtual.checkInterval),
                        downInterval: virtual.downInterval.map { .seconds($0) })
                ]
                if let agent = virtual.agentCheck(for: real) {
                    identities.append(
                        CheckIdentity(check: agent, interval: .seconds(virtual.agentInterval ?? virtual.checkInterval)))
                }
                for identity in identities {
                    if let position = index[identity] {
                        order[position].realServers.append(ref)
                    } else {
                        index[identity] = order.count
                        order.append(
                            ScheduledCheck(
                                check: identity.check, interval: identity.interval, realServers: [ref],
                                downInterval: identity.downInterval))
                    }
                }
            }
        }
        return order
    }

    private struct CheckIdentity: Hashable {
        var check: HealthCheck
        var interval: Duration
        var downInterval: Duration? = nil
    }

    /// Whether every real server these refs name is down by its checks (not pending, not in
    /// maintenance, whose file is looked at each round): their check then runs every
    /// `downinterval`.
    public func allDown(_ refs: [RealServerRef]) -> Bool {
        refs.allSatisfy { ref in
            guard let health = health[ref] else { return false }
            return health.state == .down && !health.awaitsFirstCheck && !health.inMaintenance
        }
    }

    /// Records a check result for the real servers it decides.
    /// - Parameter checkBegan: ``resultsRecorded`` when the check began; nil: after every
    ///   result recorded so far.
    /// - Returns: log lines that need no table change (soft failures, resets); state changes
    ///   show in the next ``reconcile(phase:)``.
    public mutating func record(
        _ result: CheckResult, for refs: [RealServerRef], checkBegan: Int? = nil
    ) -> [DirectorEvent] {
        var events: [DirectorEvent] = []
        for ref in refs {
            resultsRecorded += 1
            if localFaultRound != nil { noteInLocalFaultRound(ref, checkBegan: checkBegan) }
            guard var current = health[ref], let virtual = virtualService(ref.service),
                !setAsideLocalFault(result, for: ref, isUp: current.state == .up)
            else { continue }
            let wasPending = current.isPending
            let heldBefore = virtual.maxEjection == nil ? [] : ejectionHeld(virtual)
            defer { notePlacement(ref, wasPending: wasPending, now: health[ref], quiescent: virtual.quiescent) }
            for transition in current.record(result, failureCount: virtual.failureCount, riseCount: virtual.riseCount) {
                switch transition {
                case .wentDown:
                    needsReconcile = true
                    ramps[ref] = nil
                    wentDownCount += 1
                    wentDownOrder[ref] = wentDownCount
                case .wentUp:
                    needsReconcile = true
                    if !wasPending, let began = beginRamp(ref, in: virtual) { events.append(began) }
                case .softFailure(let count, let limit, let reason):
                    events.append(
                        .softFailure(ref.endpoint, virtualID: virtual.id, count: count, limit: limit, reason: reason))
                case .softFailuresReset:
                    events.append(.softFailureReset(ref.endpoint, virtualID: virtual.id))
                }
            }
            health[ref] = current
            if virtual.maxEjection != nil { events += ejectionEvents(virtual, heldBefore: heldBefore) }
            // A server down from the start is never in the table: without this line its
            // failure would leave no trace in the log.
            if wasPending, !current.isPending, current.state == .down, !virtual.quiescent {
                events.append(.firstCheckFailed(ref.endpoint, in: ref.service, reason: current.reason))
            }
        }
        events += updateLocalFaultFreeze()
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
            noteMaintenanceInLocalFaultRound(ref)
        } else {
            current.leaveMaintenance()
            if case .on? = virtualService(ref.service)?.checkType {
                _ = current.force(.up, reason: "checktype=on")
            }
        }
        health[ref] = current
        notePlacement(
            ref, wasPending: wasPending, now: current, quiescent: virtualService(ref.service)?.quiescent ?? false)
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

    /// What follows from the configuration alone: where each service is, the check paths.
    private mutating func indexServices() {
        serviceIndex = Dictionary(
            configuration.virtualServices.enumerated().map { ($1.key, $0) }, uniquingKeysWith: { first, _ in first })
        checkPaths = Self.checkPathMarks(for: configuration)
        checkPathOwners = Dictionary(
            checkPaths.map { (ServiceKey.firewallMark($0.value, $0.key.service.family), $0.key) },
            uniquingKeysWith: { first, _ in first })
        uncheckedServers = []
        for virtual in configuration.virtualServices {
            let checked: Bool
            switch virtual.checkType {
            case .on, .off: checked = false
            default: checked = virtual.refusal == nil
            }
            for real in virtual.realServers where !checked || real.refusal != nil {
                uncheckedServers.insert(RealServerRef(service: virtual.key, destination: real.destinationKey))
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
    var endpoint: DirectorEvent.Endpoint {
        DirectorEvent.Endpoint(address: destination.address, port: destination.port)
    }
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
