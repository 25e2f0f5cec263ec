import DirectordCore
import DirectordSystem
import Glibc

/// Reloads, and the file watched as ldirectord watches it.
extension Director {
    /// Re-reads the file; an invalid one changes nothing, a valid one only what differs.
    func performReload(trigger: ReloadTrigger) async {
        guard lifecycle != .stopping else { return }
        lifecycle = .reloading
        phaseStarted = .now
        let changesBefore = tableOperationsApplied
        defer { updateLifecycle() }
        if trigger == .signal { log.log("Reloading Linux Director Daemon config on signal") }
        notifier.reloading()
        let (path, loader, memory) = (settings.configPath, self.loader, parseMemory)
        let (outcome, newMemory) = await Self.offLoop {
            ThreadPriority.urgent {
                var memory = memory
                let outcome = loader.load(path: path, memory: &memory)
                return (outcome, memory)
            }
        }
        parseMemory = newMemory
        for warning in outcome.warnings { log.log(warning.description, priority: warning.isSevere ? .error : .warning) }
        guard let configuration = outcome.configuration else {
            for error in outcome.errors { log.log(error.description, priority: .error) }
            let message =
                "Reload failed with \(outcome.errors.count) error\(outcome.errors.count == 1 ? "" : "s"): the running configuration stays"
            log.log(message, priority: .error)
            publishReload(ok: false, message: message)
            notifier.ready()
            return
        }
        if configuration.virtualServices.isEmpty && !state.configuration.virtualServices.isEmpty
            && !configuration.globals.meansNoServices
        {
            // An emptied or truncated file would purge every service: a slip, most likely.
            let message =
                "Reload refused: the file has no virtual services, and a reload would remove all \(state.configuration.virtualServices.count); the running configuration stays (write \"\(GlobalSettings.noServicesComment)\" in the file if that is meant)"
            log.log(message, priority: .error)
            publishReload(ok: false, message: message)
            notifier.ready()
            return
        }
        let oldInterval = state.configuration.globals.checkInterval
        let oldInstances = state.configuration.globals.execute
        for kept in state.reload(configuration) {
            log.log(
                "Virtual service \(kept.id) keeps its running definition: \(kept.refusal ?? "the kernel would refuse the new one")",
                priority: .error)
        }
        alerter.retain(configuration)
        // Removed real servers already idle go at once (draintimeout).
        await removeIdleDrains()
        saveDrains()
        if case .fromConfiguration(let journal) = logDestinations {
            log.redirect(
                to: DirectorLog.destinations(for: configuration, debug: false, journal: journal),
                configName: settings.configName)
        }
        await configureMaintenance()
        writesMonitorFiles = configuration.virtualServices.contains { $0.monitorFile != nil }
        await prepareCheckPaths()
        scheduler?.update(state.scheduledChecks)
        forgetPreparedChecksNoLongerScheduled()
        if configuration.globals.checkInterval != oldInterval { startTimers() }
        configWatcher = ConfigWatcher(path: settings.configPath)
        await reconcile(phase: .start)
        configureMetrics()
        // What the reload cost the table, and how long it took from the request: a file of
        // 10,000 real servers with one line changed should make one change, quickly.
        let changes = tableOperationsApplied - changesBefore
        let took = Int(((ContinuousClock.now - phaseStarted) / .milliseconds(1)).rounded())
        let message = "Reloaded \(settings.configPath): \(changes) table change\(changes == 1 ? "" : "s") in \(took) ms"
        log.log(message)
        publishReload(ok: true, message: message)
        notifier.ready()
        // The old configuration, checks and table are gone: their pages go back to the kernel,
        // after the reload's time is taken.
        Allocator.returnFreeMemory()
        if let instances = settings.instances, oldInstances != configuration.globals.execute || !oldInstances.isEmpty {
            let (old, new, log) = (oldInstances, configuration.globals.execute, self.log)
            await Self.offLoop { instances.follow(reloadFrom: old, to: new, log: log) }
        }
    }

    func configureMaintenance() async {
        guard let directory = state.configuration.globals.maintenanceDirectory else {
            maintenance = nil
            return
        }
        let configuration = state.configuration
        let candidates = await Self.offLoop { MaintenanceDirectory.candidateNames(for: configuration) }
        let maintenance = MaintenanceDirectory(path: directory)
        maintenance.setCandidates(candidates)
        self.maintenance = maintenance
    }

    /// A reload's outcome, for `directord events`.
    func publishReload(ok: Bool, message: String) {
        metrics?.reload(applied: ok, at: Self.wallClockSeconds())
        settings.events?.publish(
            ControlEvent(
                time: Self.wallClockSeconds(), type: "reload", to: ok ? "applied" : "refused",
                reason: ok ? nil : message,
                message: message))
    }

    /// ldirectord's check_cfgfile: on a changed file, reload if autoreload, and run callback.
    func checkConfigFile() {
        guard lifecycle != .stopping, configWatcher?.hasChanged() == true else { return }
        let globals = state.configuration.globals
        log.log("Configuration file '\(settings.configPath)' has changed on disk")
        if globals.autoreload {
            log.log(" - reread new configuration")
            request(.reload(.fileChanged))
        } else {
            log.log(" - ignore new configuration")
        }
        if let callback = globals.callback, access(callback, X_OK) == 0 {
            ShellCommand.run("\(callback) \(settings.configPath)") { _ in }
        }
    }
}

/// Notices a changed file as ldirectord does: its modification time first, then its content.
struct ConfigWatcher {
    let path: String
    private var modified: Int?
    private var contentHash: UInt64

    init(path: String) {
        self.path = path
        modified = Self.modificationTime(path)
        contentHash = Self.hash(path)
    }

    /// Whether the content changed since the last call (or since the watcher was made); the
    /// content is read only when the modification time moved.
    mutating func hasChanged() -> Bool {
        let now = Self.modificationTime(path)
        guard now != modified, now != nil else { return false }
        modified = now
        let hash = Self.hash(path)
        defer { contentHash = hash }
        return hash != contentHash
    }

    private static func modificationTime(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int(info.st_mtim.tv_sec) * 1_000_000_000 + Int(info.st_mtim.tv_nsec)
    }

    /// FNV-1a over the file's bytes.
    private static func hash(_ path: String) -> UInt64 {
        guard case .success(let bytes) = FileSystem.readBytes(path) else { return 0 }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return hash
    }

}
