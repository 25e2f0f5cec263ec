import DirectordChecks
import DirectordCore
import DirectordSystem
import Dispatch
import Glibc

/// The kernel's table: read, reconciled, reported; and the status report that shows it.
extension Director {
    // MARK: The table

    func refreshTable() async {
        do {
            for event in state.observe(try await writer.table()) { report(event) }
        } catch {
            log.log("Cannot read the IPVS table: \(error)", priority: .error)
        }
        saveDrains()
    }

    /// Writes the drains when they changed (a read of the table or a reload can change them).
    func saveDrains() {
        guard let drainFile = settings.drainFile, state.savedDrains != savedDrains else { return }
        savedDrains = state.savedDrains
        drainFile.write(savedDrains)
    }

    /// Applies what the state asks for until nothing is left, reading the table again when
    /// the kernel refused something (someone changed it under us), at most twice.
    func reconcile(phase: DirectorEvent.Phase) async {
        state.advanceClock(to: Self.wallClockSeconds())
        defer { keepRampTimer() }
        var failures = 0
        while state.needsReconcile && lifecycle != .stopping {
            let plan = state.takeReconciliation(phase: phase)
            if plan.isEmpty { break }
            let failed = await apply(plan)
            // Alerts for these changes go out in the status the daemon was in when it decided
            // them: a start's first verdicts are "starting" ones.
            for (index, event) in plan.events.enumerated() where !failed.contains(index) { report(event) }
            state.commit(plan, refused: failed)
            updateLifecycle()
            runFallbackCommands(plan.fallbackCommands)
            if state.needsTableRead {
                failures += 1
                await refreshTable()
                if failures > 1 { break }
            }
        }
    }

    /// While a slow start is under way, the time goes to the state once a second, and each
    /// step of a ramp is reconciled; no timer runs otherwise.
    func keepRampTimer() {
        guard state.rampsUnderWay, rampTimer == nil, lifecycle != .stopping else { return }
        let timer = loop.makeTimer { [unowned self] in
            self.assumeIsolated { director in
                director.state.advanceClock(to: Self.wallClockSeconds())
                if director.state.needsReconcile { director.requestReconcile() }
                if !director.state.rampsUnderWay || director.lifecycle == .stopping {
                    director.rampTimer?.cancel()
                    director.rampTimer = nil
                }
            }
        }
        timer.schedule(after: .seconds(1), repeating: .seconds(1))
        rampTimer = timer
    }

    /// Sends the plan's operations; returns the indexes of those that failed, each logged
    /// once while it keeps failing the same way.
    func apply(_ plan: Reconciliation) async -> Set<Int> {
        var failed: Set<Int> = []
        var refused: [String: String] = [:]
        do {
            try await writer.apply(plan.operations)
        } catch {
            if case .operationsFailed(let list, _) = error {
                failed = Set(list.map(\.index))
                for failure in list {
                    let operation = "\(failure.operation)"
                    refused[operation] = "\(failure.error)"
                    if refusedOperations[operation] != "\(failure.error)" {
                        log.log("IPVS: \(operation) failed: \(failure.error)", priority: .error)
                    }
                }
            } else {
                failed = Set(plan.operations.indices)
                log.log("IPVS: \(error)", priority: .error)
            }
        }
        tableOperationsApplied += plan.operations.count - failed.count
        for (index, operation) in plan.operations.enumerated() {
            metrics?.tableOperation(operation, succeeded: !failed.contains(index))
            if !failed.contains(index) { refusedOperations["\(operation)"] = nil }
        }
        refusedOperations.merge(refused) { $1 }
        return failed
    }

    /// Logs an event and mails it where the service asks for alerts.
    func report(_ event: DirectorEvent, phase: DirectorEvent.Phase? = nil) {
        log.log(event)
        if let ref = event.realServerRef { lastChanges[ref] = (event.message, Self.wallClockSeconds()) }
        if let hub = settings.events, let published = event.controlEvent(time: Self.wallClockSeconds(), phase: phase) {
            hub.publish(published)
        }
        if let virtual = state.virtualService(event.serviceKey) {
            alerter.alert(
                event, virtual: virtual, from: state.configuration.globals.emailAlertFrom,
                status: lifecycle.alertStatus)
        }
    }

    func runFallbackCommands(_ commands: [DirectorState.FallbackCommand]) {
        for command in commands {
            let line = command.commandLine
            let log = self.log
            ShellCommand.run(line) { outcome in
                switch outcome {
                case .success(0): break
                case .success(let status): log.log("fallbackcommand \"\(line)\" exited \(status)", priority: .warning)
                case .failure(let error): log.log("fallbackcommand \"\(line)\" failed: \(error)", priority: .error)
                }
            }
        }
    }

    // MARK: Status

    /// SIGUSR1: writes the status report next to the pid file, for `status --verbose`.
    func writeStatusReport() async {
        guard let pidFile = settings.pidFile else { return }
        StatusReportFile(pidFile: pidFile).write(await currentStatusReport())
    }

    /// The status report on a fresh read of the table.
    func currentStatusReport() async -> StatusReport {
        await refreshTable()
        var report = state.statusReport(
            pid: getpid(), configuration: settings.configPath, daemonStatus: lifecycle.alertStatus.rawValue)
        report.refusedOperations = refusedOperations.sorted(by: { $0.key < $1.key }).map { "\($0.key): \($0.value)" }
        report.madeAt = Self.wallClockSeconds()
        if !state.configuration.globals.connectionSync.daemons.isEmpty {
            report.syncDaemons = syncDaemonsRunning.map {
                $0.ipvsadmLine + (startedSyncDaemons.contains($0.role) ? "" : ", not started by directord")
            }
        }
        for (serviceIndex, service) in report.virtualServices.enumerated() {
            guard let virtual = state.configuration.virtualServices.first(where: { $0.id == service.id }) else {
                continue
            }
            for (realIndex, real) in virtual.realServers.enumerated() where realIndex < service.realServers.count {
                let ref = RealServerRef(service: virtual.key, destination: real.destinationKey)
                var entry = report.virtualServices[serviceIndex].realServers[realIndex]
                entry.lastCheckSeconds = lastChecks[ref]?.seconds
                entry.lastCheckAt = lastChecks[ref]?.at
                entry.lastChange = lastChanges[ref]?.message
                entry.lastChangeAt = lastChanges[ref]?.at
                report.virtualServices[serviceIndex].realServers[realIndex] = entry
            }
        }
        return report
    }
}

extension DirectorEvent {
    /// The real server a table change concerns (not a fallback server's, not a purge's).
    var realServerRef: RealServerRef? {
        switch self {
        case .realServerAdded(let real, let key, _, _), .realServerRestored(let real, let key, _, _),
            .realServerQuiesced(let real, let key, _), .realServerReaddedQuiescent(let real, let key, _),
            .realServerDeleted(let real, let key, _), .realServerDrained(let real, let key, _),
            .realServerUndrained(let real, let key, _):
            RealServerRef(service: key, destination: IPVSDestination.Key(address: real.address, port: real.port))
        default: nil
        }
    }
}
