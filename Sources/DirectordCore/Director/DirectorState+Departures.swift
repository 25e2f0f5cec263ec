/// Drain on removal (`draintimeout=SECONDS`): a real server a reload removes, and at a clean
/// stop every real server, goes to weight 0 first and leaves the table once the kernel shows it
/// no established connection, or at the timeout. Established connections then end on their
/// own instead of being cut (keepalived issue 1228).
///
/// The rules, as the README states them:
/// - The timeout is the new file's for a service it keeps, the old file's for one it drops.
/// - A service the new file drops stays in the table, holding its departing servers at weight
///   0 (new connections find no server), until the last of them leaves.
/// - A departing server written back into the file by a later reload stops departing: it is
///   adopted as any new server (kept at weight 0 until its first check passes).
/// - The time limit runs from the first time the daemon gives after the reload; ActiveConn
///   decides idleness (closed connections in TIME_WAIT carry nothing).
extension DirectorState {
    /// A removed real server's entry, kept at weight 0 until it is idle.
    public struct Departure: Hashable, Sendable {
        /// The kernel's entry, at weight 0.
        public var entry: IPVSDestination
        public var seconds: Int
        /// Seconds since 1970; nil until the daemon next gives the time.
        public var deadline: Double?
        /// Why it may go now ("no connection left", the timeout); nil while it waits.
        public var ended: String?
    }

    /// Before a reload takes `newConfiguration`: the real servers it removes from the kernel's
    /// table start departing, where a `draintimeout` applies; those it writes back stop.
    mutating func beginDepartures(to newConfiguration: Configuration) {
        let newServices = Dictionary(
            newConfiguration.virtualServices.filter { $0.refusal == nil }.map { ($0.key, $0) },
            uniquingKeysWith: { first, _ in first })
        for virtual in configuration.virtualServices where virtual.refusal == nil {
            guard let present = observed[virtual.key] else { continue }
            let kept = newServices[virtual.key]
            guard let seconds = kept.map({ $0.drainTimeout }) ?? virtual.drainTimeout else { continue }
            let keptKeys = Set(kept?.realServers.filter { $0.refusal == nil }.map(\.destinationKey) ?? [])
            let fallbackKey = virtual.fallback?.destinationKey(for: virtual)
            for real in virtual.realServers where real.refusal == nil && real.destinationKey != fallbackKey {
                guard !keptKeys.contains(real.destinationKey), var entry = present[destination: real.destinationKey]
                else { continue }
                entry.weight = 0
                departures[RealServerRef(service: virtual.key, destination: real.destinationKey)] = Departure(
                    entry: entry, seconds: seconds)
            }
            if kept == nil, departures.keys.contains(where: { $0.service == virtual.key }) {
                departingServices[virtual.key] = present.service
            }
        }
        // Written back: configured again, adopted as a new real server.
        for ref in departures.keys {
            guard let kept = newServices[ref.service],
                kept.realServers.contains(where: { $0.refusal == nil && $0.destinationKey == ref.destination })
            else { continue }
            departures[ref] = nil
            departingServices[ref.service] = nil
        }
    }

    /// Departures still waiting for their last connection.
    public var departuresAwaitingIdle: [RealServerRef] {
        departures.filter { $0.value.ended == nil }.map(\.key)
    }

    /// Departures whose real server is idle (ActiveConn 0 in `connections`, or no entry), or
    /// whose time is up, may go: the next reconciliation deletes them.
    public mutating func endIdleDepartures(connections: [RealServerRef: UInt32], now: Double) {
        for (ref, departure) in departures where departure.ended == nil {
            let active = connections[ref] ?? 0
            if active == 0 {
                departures[ref]?.ended = "removed from the configuration; no connection left"
            } else if let deadline = departure.deadline, now >= deadline {
                departures[ref]?.ended =
                    "removed from the configuration; draintimeout=\(departure.seconds) reached with \(active) connection\(active == 1 ? "" : "s") left"
            } else {
                continue
            }
            needsReconcile = true
        }
    }

    /// The departing entries the table still holds for a service, at weight 0.
    func departingEntries(of key: ServiceKey) -> [IPVSDestination] {
        departures.filter { $0.key.service == key && $0.value.ended == nil }.map(\.value.entry)
            .sorted { "\($0.key)" < "\($1.key)" }
    }

    /// Services a reload removed that still hold departing entries.
    var departingServiceEntries: [IPVSService] {
        departingServices.filter { key, _ in virtualService(key) == nil && !departingEntries(of: key).isEmpty }
            .map(\.value).sorted { "\($0.key)" < "\($1.key)" }
    }

    /// Sets the time limits of new departures (``advanceClock(to:)``).
    mutating func startDepartureClocks(now: Double) {
        for (ref, departure) in departures where departure.deadline == nil {
            departures[ref]?.deadline = now + Double(departure.seconds)
        }
    }

    /// A committed operation that took a departing entry (or its service) out ends its
    /// departure.
    mutating func forgetDeparted(_ operation: TableOperation) {
        switch operation {
        case .deleteDestination(let destination, let key):
            departures[RealServerRef(service: key, destination: destination.key)] = nil
        case .deleteService(let service):
            departures = departures.filter { $0.key.service != service.key }
            departingServices[service.key] = nil
        default:
            break
        }
    }

    // MARK: A clean stop

    /// At stop, before the clean-up: the entries of every `cleanstop=yes` service with a
    /// `draintimeout` go to weight 0, so that no new connection reaches them while the
    /// established ones end. Empty when no service asks for it.
    public func shutdownDrain() -> Reconciliation {
        var operations: [TableOperation] = []
        var events: [DirectorEvent] = []
        for virtual in configuration.virtualServices where virtual.cleanStop {
            guard let seconds = virtual.drainTimeout, let entry = observed[virtual.key] else { continue }
            for var destination in entry.destinations where destination.weight > 0 {
                destination.weight = 0
                operations.append(.editDestination(destination, service: virtual.key))
                events.append(.realServerDraining(destination.endpoint, in: virtual.key, seconds: seconds, why: .stop))
            }
        }
        return Reconciliation(operations: operations, events: events, fallbackCommands: [])
    }

    /// Whether the stop still waits, `elapsed` seconds after ``shutdownDrain()``: some
    /// `cleanstop=yes` service within its `draintimeout` has an entry with an established
    /// connection (`connections`, ActiveConn per entry).
    public func shutdownDrainWaits(connections: [RealServerRef: UInt32], elapsed: Double) -> Bool {
        configuration.virtualServices.contains { virtual in
            guard virtual.cleanStop, let seconds = virtual.drainTimeout, elapsed < Double(seconds),
                let entry = observed[virtual.key]
            else { return false }
            return entry.destinations.contains {
                (connections[RealServerRef(service: virtual.key, destination: $0.key)] ?? 0) > 0
            }
        }
    }
}
