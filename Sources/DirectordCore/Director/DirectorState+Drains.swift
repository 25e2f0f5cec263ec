/// Drains: real servers whose checks pass but that take no new connections (weight 0), on the
/// operator's word. The operator's habit, `ipvsadm -e ... -w 0`, is one: directord keeps it
/// instead of putting the configured weight back at its next repair.
///
/// The rules, as the README states them:
/// - A managed real server that is up, that directord left with a weight above 0, and that a
///   read of the kernel's table finds at weight 0, is drained: it stays at weight 0 (logged
///   once) whatever its checks say, until the operator gives it a weight again (`ipvsadm -e
///   ... -w N`), or a reload changes that real server's line, or it leaves the configuration.
/// - A drained server that fails its checks is handled as any other (deleted, or quiesced);
///   when it passes again it comes back at weight 0, still drained.
/// - A drained server does not count as up for its service: when every real server is down or
///   drained, the fallback server goes in and `fallbackcommand start` runs.
/// - Deleted entries and services are still put back (and logged): only weight 0 is taken as
///   the operator's word. `repair=no` turns repair off altogether.
/// - Drains outlive a restart (the daemon keeps them in a file under its run directory): a
///   drained server found at weight 0 at start stays drained.
extension DirectorState {
    /// Why a real server is drained, and the entry its configuration asked for then: a reload
    /// that changes that entry ends the drain.
    public struct Drain: Hashable, Sendable, Codable {
        public enum Origin: String, Hashable, Sendable, Codable {
            /// Its weight was set to 0 outside directord (`ipvsadm -e ... -w 0`).
            case ipvsadm
            /// `directord drain`.
            case command
        }

        /// `drain --remove-when-idle`: the entry goes once the kernel shows it no connection, or
        /// at the deadline (seconds since 1970, so that it means the same after a restart).
        public struct Removal: Hashable, Sendable, Codable {
            public var deadline: Double?
            /// The entry is out of the table.
            public var done: Bool

            public init(deadline: Double?, done: Bool = false) {
                self.deadline = deadline
                self.done = done
            }
        }

        public var origin: Origin
        public var configured: IPVSDestination
        public var removal: Removal?

        public init(origin: Origin, configured: IPVSDestination, removal: Removal? = nil) {
            self.origin = origin
            self.configured = configured
            self.removal = removal
        }
    }

    /// A drain as the daemon keeps it on disk.
    public struct SavedDrain: Hashable, Sendable, Codable {
        public var service: ServiceKey
        public var destination: IPVSDestination.Key
        public var drain: Drain

        public init(service: ServiceKey, destination: IPVSDestination.Key, drain: Drain) {
            self.service = service
            self.destination = destination
            self.drain = drain
        }
    }

    /// Every drain, in a stable order, for the daemon to save.
    public var savedDrains: [SavedDrain] {
        drains.map { SavedDrain(service: $0.key.service, destination: $0.key.destination, drain: $0.value) }
            .sorted { "\($0.service) \($0.destination)" < "\($1.service) \($1.destination)" }
    }

    /// Takes back the drains saved before a restart, those still true: the real server is in
    /// the configuration with the same entry, and the kernel still holds it at weight 0.
    public mutating func restoreDrains(_ saved: [SavedDrain]) {
        for item in saved {
            let ref = RealServerRef(service: item.service, destination: item.destination)
            guard let (virtual, real) = realServer(ref), virtual.refusal == nil, real.refusal == nil,
                real.destination(weight: Int32(clamping: real.weight)) == item.drain.configured,
                observed[ref.service]?[destination: ref.destination]?.weight == 0
            else { continue }
            drains[ref] = item.drain
        }
        needsReconcile = true
    }

    /// Whether the real server is drained.
    public func isDrained(_ ref: RealServerRef) -> Bool { drains[ref] != nil }

    /// Compares a fresh read of the kernel's table with what directord last left there: a
    /// weight the operator set to 0 starts a drain, a weight given back to a drained server
    /// ends it.
    mutating func noticeOperatorWeights(in table: IPVSTable) -> [DirectorEvent] {
        guard configuration.globals.repair else { return [] }
        var events: [DirectorEvent] = []
        for virtual in configuration.virtualServices where virtual.refusal == nil {
            let fallbackKey = virtual.fallback.map { $0.destinationKey(for: virtual) }
            for real in virtual.realServers where real.refusal == nil && real.destinationKey != fallbackKey {
                let ref = RealServerRef(service: virtual.key, destination: real.destinationKey)
                guard let now = table[ref.service]?[destination: ref.destination],
                    let before = observed[ref.service]?[destination: ref.destination]
                else { continue }
                let endpoint = DirectorEvent.Endpoint(address: ref.destination.address, port: ref.destination.port)
                if drains[ref] == nil, health[ref]?.state == .up, before.weight > 0, now.weight == 0 {
                    drains[ref] = Drain(
                        origin: .ipvsadm, configured: real.destination(weight: Int32(clamping: real.weight)))
                    events.append(.realServerDrained(endpoint, in: virtual.key, origin: .ipvsadm))
                } else if drains[ref] != nil, before.weight == 0, now.weight > 0 {
                    drains[ref] = nil
                    events.append(.realServerUndrained(endpoint, in: virtual.key, origin: .ipvsadm))
                }
            }
        }
        return events
    }

    /// After a reload: a drain ends when its real server left the configuration or its line
    /// changed.
    mutating func keepDrainsStillConfigured() {
        drains = drains.filter { ref, drain in
            guard let (virtual, real) = realServer(ref), virtual.refusal == nil, real.refusal == nil else {
                return false
            }
            return real.destination(weight: Int32(clamping: real.weight)) == drain.configured
        }
    }

    // MARK: drain and undrain

    /// The managed real servers a `drain` or `undrain` names: REAL as maintenancedir names
    /// them (`names`, per real server: IP:PORT, IP, host names), in the virtual service VIRTUAL
    /// (its `IP:PORT`, `tcp:IP:PORT` or firewall mark) or in every one.
    public func refs(named real: String, in virtual: String?, names: [RealServerRef: [String]]) -> [RealServerRef] {
        var found: [RealServerRef] = []
        for service in configuration.virtualServices where service.refusal == nil {
            if let virtual, virtual != "\(service.key)", virtual != service.id { continue }
            for server in service.realServers where server.refusal == nil {
                let ref = RealServerRef(service: service.key, destination: server.destinationKey)
                if (names[ref] ?? [server.endpoint]).contains(real) { found.append(ref) }
            }
        }
        return found
    }

    /// `directord drain`: weight 0 at once, kept until `undrain` (or a reload that changes the
    /// server's line); with `removeWhenIdle`, the entry goes once it has no connection left.
    public mutating func drain(_ refs: [RealServerRef], removeWhenIdle: Bool, deadline: Double?) -> [DirectorEvent] {
        var events: [DirectorEvent] = []
        for ref in refs {
            guard let (_, real) = realServer(ref) else { continue }
            let removal = removeWhenIdle ? Drain.Removal(deadline: deadline) : nil
            let drain = Drain(
                origin: .command, configured: real.destination(weight: Int32(clamping: real.weight)), removal: removal)
            guard drains[ref] != drain else { continue }
            drains[ref] = drain
            // A server the kernel carries at a weight gets its line with the edit to 0, in the
            // next reconciliation; any other is said here.
            let carried =
                health[ref]?.state == .up && (observed[ref.service]?[destination: ref.destination]?.weight ?? 0) > 0
            if !carried { events.append(.realServerDrained(endpoint(ref), in: ref.service, origin: .command)) }
        }
        needsReconcile = true
        return events
    }

    /// `directord undrain`: the configured weight again (if its checks pass).
    public mutating func undrain(_ refs: [RealServerRef]) -> [DirectorEvent] {
        var events: [DirectorEvent] = []
        for ref in refs where drains.removeValue(forKey: ref) != nil {
            events.append(.realServerUndrained(endpoint(ref), in: ref.service, origin: .command))
        }
        needsReconcile = true
        return events
    }

    /// Drains waiting for their real server to be idle: removed once the kernel shows it no
    /// established connection (`connections` per real server), or at the deadline.
    public mutating func removeIdleDrains(connections: [RealServerRef: UInt32], now: Double) {
        for (ref, drain) in drains {
            guard var removal = drain.removal, !removal.done else { continue }
            let idle = connections[ref].map { $0 == 0 } ?? true
            guard idle || removal.deadline.map({ now >= $0 }) == true else { continue }
            removal.done = true
            drains[ref]?.removal = removal
            needsReconcile = true
        }
    }

    /// Real servers drained with `--remove-when-idle` still waiting for their last connection.
    public var drainsAwaitingIdle: [RealServerRef] {
        drains.filter { $0.value.removal.map { !$0.done } ?? false }.map(\.key)
    }

    private func endpoint(_ ref: RealServerRef) -> DirectorEvent.Endpoint {
        DirectorEvent.Endpoint(address: ref.destination.address, port: ref.destination.port)
    }
}
