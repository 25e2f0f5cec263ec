import DirectordCore

/// The kernel's connection-sync daemons the file asks for (`syncdaemon=`): started at start,
/// kept running at every repair (started again when they were stopped behind directord's
/// back), changed by a reload, stopped at stop if directord started them. The decisions are
/// ``SyncDaemonPlan``'s.
extension Director {
    func keepSyncDaemons() async {
        let wanted = state.configuration.globals.connectionSync.daemons
        // A file without sync directives costs nothing: no read of the kernel's daemons.
        guard !wanted.isEmpty || !startedSyncDaemons.isEmpty || !askedSyncDaemons.isEmpty else { return }
        let running: [IPVSSyncDaemon]
        do {
            running = try await writer.syncDaemons()
        } catch {
            logSyncFailure(.master, "Cannot read the connection-sync daemons: \(error)")
            return
        }
        let plan = SyncDaemonPlan.plan(
            wanted: wanted, running: running, started: startedSyncDaemons, previous: askedSyncDaemons)
        var started = plan.started
        var startedNow: [IPVSSyncDaemon] = []
        for action in plan.actions {
            switch action {
            case .start(let daemon):
                do {
                    try await writer.startSyncDaemon(daemon)
                    syncDaemonFailures[daemon.role] = nil
                    startedNow.append(daemon)
                } catch {
                    started.remove(daemon.role)
                    logSyncFailure(daemon.role, "Cannot start \(daemon.ipvsadmLine): \(error)")
                }
            case .stop(let daemon, let replacing):
                do {
                    try await writer.stopSyncDaemon(daemon.role)
                    log.log("Stopped \(daemon.ipvsadmLine)\(replacing ? ", to start it as the file says" : "")")
                } catch {
                    logSyncFailure(daemon.role, "Cannot stop \(daemon.ipvsadmLine): \(error)")
                }
            }
        }
        startedSyncDaemons = started
        askedSyncDaemons = wanted
        syncDaemonsRunning = plan.actions.isEmpty ? running : ((try? await writer.syncDaemons()) ?? [])
        // Logged as the kernel runs it, its defaults filled in, as its stop will be.
        for daemon in startedNow {
            let line = (syncDaemonsRunning.first { $0.role == daemon.role } ?? daemon).ipvsadmLine
            log.log("Started \(line)")
        }
    }

    /// At stop: the daemons directord started. With `cleanstop=no` the services stay in the
    /// kernel and keep forwarding, so their connection state keeps flowing to the peer too.
    func stopSyncDaemons() async {
        guard !startedSyncDaemons.isEmpty, let running = try? await writer.syncDaemons() else { return }
        guard state.configuration.globals.defaults.cleanStop ?? true else {
            for daemon in running where startedSyncDaemons.contains(daemon.role) {
                log.log("Left \(daemon.ipvsadmLine) running (cleanstop=no)")
            }
            return
        }
        for case .stop(let daemon, _) in SyncDaemonPlan.shutdown(running: running, started: startedSyncDaemons) {
            do {
                try await writer.stopSyncDaemon(daemon.role)
                log.log("Stopped \(daemon.ipvsadmLine)")
            } catch {
                log.log("Cannot stop \(daemon.ipvsadmLine): \(error)", priority: .error)
            }
        }
        startedSyncDaemons = []
    }

    private func logSyncFailure(_ role: IPVSSyncDaemon.Role, _ message: String) {
        guard syncDaemonFailures[role] != message else { return }
        syncDaemonFailures[role] = message
        log.log(message, priority: .error)
    }
}
