import DirectordChecks
import DirectordCore
import DirectordSystem
import Glibc

/// The checks: run when the schedule says, results into the state, lines into monitor files.
extension Director {
    /// Says, at most once a minute, that checks waited for a free slot: the machine or the
    /// limit cannot keep every real server on its interval.
    func warnIfChecksRunLate() {
        guard let scheduler else { return }
        let late = scheduler.takeSaturations()
        metrics?.checksStartedLate(late)
        guard late > 0 else { return }
        let now = ContinuousClock.now
        if let last = lastLateWarning, now - last < .seconds(60) { return }
        lastLateWarning = now
        log.log(
            "Checks are running late: due checks waited for one of \(scheduler.inFlightLimit) slots (\(scheduler.maxRunning) at most, fewer while the check loop wakes up late); real servers are checked less often than checkinterval",
            priority: .warning)
    }

    func runDueCheck(_ id: UInt64) {
        guard lifecycle != .stopping, let scheduler, let entry = scheduler.entries[id] else { return }
        var refs = entry.scheduled.realServers
        // An agent query is not a check: maintenance files are the health checks' business.
        if let maintenance, !entry.scheduled.check.agent {
            let inMaintenance = refs.filter { maintenance.isInMaintenance($0) }
            for ref in refs { state.setMaintenance(inMaintenance.contains(ref), for: ref) }
            if !inMaintenance.isEmpty {
                writeMonitorLines(inMaintenance, result: .down("Server in maintenance", latency: .zero))
                refs.removeAll { inMaintenance.contains($0) }
                requestReconcile()
            }
        }
        guard !refs.isEmpty else {
            scheduler.skip(id, result: .down("Server in maintenance", latency: .zero))
            return
        }
        guard let check = scheduler.begin(id) else { return }
        let prepared = preparedCheck(check, for: id, scheduled: entry.scheduled.check)
        let checked = refs
        let healthCheck = entry.scheduled.check
        // Where the state's logical clock stood: results of checks begun before a fault are
        // told from those begun after it (DirectorState+LocalFault).
        let began = state.resultsRecorded
        loop.startOnLoop(prepared) { [unowned self] result in
            self.assumeIsolated {
                $0.checkFinished(id, refs: checked, check: healthCheck, began: began, result: result)
            }
        }
    }

    /// `check` made ready to start (``CheckLoop/prepare(_:)``), kept per schedule entry: an
    /// entry runs the same check every interval. A combined check's connect and negotiate
    /// turns differ from the check scheduled; they are prepared at each start.
    private func preparedCheck(_ check: HealthCheck, for id: UInt64, scheduled: HealthCheck) -> PreparedCheck {
        if let known = preparedChecks[id] { return known }
        let prepared = loop.prepare(check)
        if check.type == scheduled.type { preparedChecks[id] = prepared }
        return prepared
    }

    /// After the schedule changed: entries it dropped drop their prepared check. An entry it
    /// kept runs the same check (the schedule keeps an entry only for an equal check).
    func forgetPreparedChecksNoLongerScheduled() {
        guard let scheduler else { return }
        preparedChecks = preparedChecks.filter { scheduler.entries[$0.key] != nil }
    }

    private func checkFinished(
        _ id: UInt64, refs: [RealServerRef], check: HealthCheck, began: Int, result: CheckResult
    ) {
        guard lifecycle != .stopping else {
            scheduler?.finished(id, result: result)
            return
        }
        if check.agent {
            // An agent's answer sets a weight or a state; it is not a health check.
            for event in state.recordAgent(result, for: refs) { report(event) }
            scheduler?.finished(id, result: result)
            if state.needsReconcile { requestReconcile() }
            return
        }
        writeMonitorLines(refs, result: result)
        let now = Self.wallClockSeconds()
        for ref in refs { lastChecks[ref] = (Double(result.latency.nanoseconds) / 1e9, now) }
        // A transition, for the metrics, is a verdict that differs from the last one (a first
        // verdict is none); the states before are kept only when metrics are on.
        let before = metrics == nil ? [] : refs.map { state.health(of: $0) }
        // Soft failures: logged, and followed by `directord events`.
        for event in state.record(result, for: refs, checkBegan: began) { report(event) }
        // Scheduled after the verdict: a server now down is checked every `downinterval`.
        scheduler?.finished(id, result: result, down: state.allDown(refs))
        if let metrics {
            metrics.checkFinished(check, result: result)
            for (ref, old) in zip(refs, before) {
                guard let old, !old.isPending, let new = state.health(of: ref), new.state != old.state else { continue }
                metrics.transition(toUp: new.state == .up)
            }
        }
        if state.needsReconcile { requestReconcile() }
    }

    /// `checktype=on` servers are never checked, but a maintenance file takes them out too,
    /// as in ldirectord; looked at on the repair timer, once per check interval.
    func applyMaintenanceToUncheckedServers() {
        guard lifecycle != .stopping, let maintenance else { return }
        for virtual in state.configuration.virtualServices {
            guard case .on = virtual.checkType else { continue }
            for real in virtual.realServers {
                let ref = RealServerRef(service: virtual.key, destination: real.destinationKey)
                state.setMaintenance(maintenance.isInMaintenance(ref), for: ref)
            }
        }
        if state.needsReconcile { requestReconcile() }
    }

    private func writeMonitorLines(_ refs: [RealServerRef], result: CheckResult) {
        guard writesMonitorFiles else { return }
        for ref in refs {
            guard state.virtualService(ref.service)?.monitorFile != nil, let (virtual, real) = state.realServer(ref),
                let path = virtual.monitorFile
            else { continue }
            if !MonitorFile.append(to: path, virtual: virtual, real: real, result: result),
                unwritableMonitorFiles.insert(path).inserted
            {
                log.log("Error writing to monitorfile '\(path)': \(errnoText())", priority: .error)
            }
        }
    }
}
