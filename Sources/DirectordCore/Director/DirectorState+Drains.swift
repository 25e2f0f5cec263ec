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
        }

        public var origin: Origin
        public var configured: IPVSDestination

        public init(origin: Origin, configured: IPVSDestination) {
            self.origin = origin
            self.configured = configured
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
                real.destination(weight: Int32(real.weight)) == item.drain.configured,
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
                    drains[ref] = Drain(origin: .ipvsadm, configured: real.destination(weight: Int32(real.weight)))
                    events.append(.realServerDrained(endpoint, in: virtual.key))
                } else if drains[ref] != nil, before.weight == 0, now.weight > 0 {
                    drains[ref] = nil
                    events.append(.realServerUndrained(endpoint, in: virtual.key))
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
            return real.destination(weight: Int32(real.weight)) == drain.configured
        }
    }
}
