/// A new file, a stop, and the log line each table operation gets.
extension DirectorState {
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
        beginDepartures(to: newConfiguration)
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
        keepLocalFaultsStillConfigured()
        managedServices.formUnion(checkPathServiceKeys)
        keepDrainsStillConfigured()
        keepRampsStillConfigured()
        keepAgentsStillConfigured()
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
        // The check paths' private services are directord's alone: they go whatever cleanstop.
        for entry in observed.entries
        where managedServices.contains(entry.service.key) && isCheckPathService(entry.service.key) {
            operations.append(.deleteService(entry.service))
            events.append(.checkPathChanged(entry.service.key, "removed at stop"))
        }
        var commands: [FallbackCommand] = []
        for virtual in configuration.virtualServices {
            if let command = virtual.fallbackCommand, fallbackCommandStatus[virtual.key] == .start {
                commands.append(
                    FallbackCommand(
                        command: command, status: .stop, service: virtual.key, serviceProtocol: virtual.protocol))
            }
        }
        return Reconciliation(operations: operations, events: events, fallbackCommands: commands)
    }

    // MARK: Log lines for operations

    func event(for operation: TableOperation, observed: IPVSTable, phase: DirectorEvent.Phase) -> DirectorEvent {
        if isCheckPathService(operation.serviceKey) { return checkPathEvent(for: operation, key: operation.serviceKey) }
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
            if let departure = departures[ref] {
                switch operation {
                case .deleteDestination:
                    return .realServerDeleted(destination.endpoint, in: key, reason: departure.ended)
                case .editDestination where destination.weight == 0:
                    return .realServerDraining(destination.endpoint, in: key, seconds: departure.seconds, why: .reload)
                default: break
                }
            }
            if let full = realServer(ref)?.1.weight, ramps[ref] != nil, destination.weight > 0,
                case .editDestination = operation
            {
                return .realServerRamped(
                    destination.endpoint, in: key, weight: destination.weight, of: Int32(clamping: full))
            }
            let isReal = virtual?.realServers.contains { $0.destinationKey == destination.key } ?? false
            let isFallback =
                virtual.flatMap { virtual in virtual.fallback.map { $0.destinationKey(for: virtual) } }
                == destination.key
            // A fallback at the address of a real server is the real server while that is up.
            let asFallback = isFallback && !(isReal && health[ref]?.state == .up)
            let reason = agentReason(ref) ?? health[ref]?.reason
            switch operation {
            case .addDestination:
                if asFallback { return .fallbackAdded(destination.endpoint, in: key) }
                // A drained server passing its checks again: added, at the drain's weight 0.
                if drains[ref] != nil {
                    return .realServerAdded(destination.endpoint, in: key, weight: destination.weight, reason: reason)
                }
                if destination.weight == 0 && quiescentPlacementOwed.contains(ref) {
                    return .realServerQuiesced(destination.endpoint, in: key, reason: reason)
                }
                return destination.weight == 0
                    ? .realServerReaddedQuiescent(destination.endpoint, in: key, reason: reason)
                    : .realServerAdded(destination.endpoint, in: key, weight: destination.weight, reason: reason)
            case .editDestination:
                if asFallback { return .fallbackRestored(destination.endpoint, in: key) }
                // Drained: the drain's own line (events stay one per operation).
                if let drain = drains[ref], destination.weight == 0 {
                    return .realServerDrained(destination.endpoint, in: key, origin: drain.origin)
                }
                let before = observed[key]?[destination: destination.key]
                if destination.weight == 0 && (before?.weight ?? 1) > 0 {
                    return .realServerQuiesced(destination.endpoint, in: key, reason: reason)
                }
                return .realServerRestored(destination.endpoint, in: key, weight: destination.weight, reason: reason)
            default:
                if isFallback && !isReal { return .fallbackDeleted(destination.endpoint, in: key) }
                if isReal {
                    let idle = drains[ref]?.removal?.done == true
                    return .realServerDeleted(destination.endpoint, in: key, reason: idle ? "drained and idle" : reason)
                }
                return .realServerPurged(destination.endpoint, in: key, phase: phase)
            }
        }
    }
}
