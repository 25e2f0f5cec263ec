/// The table DirectorState wants, and the plan that gets the kernel there.
extension DirectorState {
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
            let held = ejectionHeld(virtual)
            for real in virtual.realServers where real.refusal == nil {
                let ref = RealServerRef(service: virtual.key, destination: real.destinationKey)
                let state = health[ref] ?? RealServerHealth(state: .down, reason: "")
                let configured = real.destination(weight: Int32(clamping: real.weight))
                if held.contains(ref) {
                    // maxejection reached: in at its weight although its checks fail.
                    anyUp = true
                    destinations.append(configured)
                } else if let drain = drains[ref], drain.removal?.done == true {
                    // Drained and idle (drain --remove-when-idle): out of the table.
                    continue
                } else if state.state == .up && drains[ref] != nil {
                    // Drained: in the table, but no new connection, and not counted as up.
                    destinations.append(real.destination(weight: 0))
                } else if state.state == .up {
                    switch agentEffect(ref, configured: configured.weight) {
                    case .out:
                        // The agent says down or maint: as a server its checks took out.
                        if virtual.quiescent && current?[destination: ref.destination] != nil {
                            destinations.append(real.destination(weight: 0))
                        }
                    case .weight(0):
                        destinations.append(real.destination(weight: 0))
                    case .weight(let weight):
                        anyUp = true
                        destinations.append(real.destination(weight: currentWeight(ref, configured: weight)))
                    case .unchanged:
                        anyUp = true
                        destinations.append(real.destination(weight: currentWeight(ref, configured: configured.weight)))
                    }
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
            // Removed by a reload, waiting at weight 0 for their last connection.
            if !departures.isEmpty {
                let configuredKeys = Set(destinations.map(\.key))
                destinations += departingEntries(of: virtual.key).filter { !configuredKeys.contains($0.key) }
            }
            table.upsert(IPVSService(virtual))
            for destination in destinations { table.upsert(destination, in: virtual.key) }
        }
        for (service, destination) in checkPathEntries {
            table.upsert(service)
            table.upsert(destination, in: service.key)
        }
        if !departingServices.isEmpty {
            for service in departingServiceEntries {
                table.upsert(service)
                for destination in departingEntries(of: service.key) { table.upsert(destination, in: service.key) }
            }
        }
        return table
    }

    /// What turns the kernel's table into the desired one: the operations (for the managed
    /// services only), the log lines once they are applied, and the fallback commands to run.
    public func reconcile(phase: DirectorEvent.Phase) -> Reconciliation {
        let managedObserved = IPVSTable(observed.entries.filter { managedServices.contains($0.service.key) })
        let desired = desiredTable()
        let operations = TableDiff.diff(from: managedObserved, to: desired)
        // One event per operation, in order: the daemon leaves out the events of the operations
        // the kernel refused, by index.
        let events = operations.map { event(for: $0, observed: managedObserved, phase: phase) }
        return Reconciliation(operations: operations, events: events, fallbackCommands: fallbackCommands())
    }

    /// The reconciliation to apply now; clears ``needsReconcile``, so changes made while it is
    /// being applied ask for the next one.
    public mutating func takeReconciliation(phase: DirectorEvent.Phase) -> Reconciliation {
        needsReconcile = false
        return reconcile(phase: phase)
    }

    /// The kernel's table, freshly read: what someone changed behind directord's back shows
    /// in the next reconciliation, which this asks for; a weight the operator set to 0 (or gave
    /// back) is taken as a drain (or its end).
    /// - Returns: the drains begun and ended, to log.
    @discardableResult
    public mutating func observe(_ table: IPVSTable) -> [DirectorEvent] {
        let events = noticeOperatorWeights(in: table)
        observed = table
        needsTableRead = false
        needsReconcile = true
        return events
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
        for operation in applied { forgetDeparted(operation) }
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
                let ref = RealServerRef(service: virtual.key, destination: real.destinationKey)
                let state = health[ref]
                if state?.state == .up && drains[ref] == nil && agentCountsUp(ref, configured: real.weight) {
                    anyUp = true
                }
                if state?.isPending == true { anyPending = true }
            }
            if !anyUp && anyPending { continue }
            let status: FallbackCommandStatus = anyUp ? .stop : .start
            if fallbackCommandStatus[virtual.key] != status {
                commands.append(
                    FallbackCommand(
                        command: command, status: status, service: virtual.key, serviceProtocol: virtual.protocol))
            }
        }
        return commands
    }
}
