public import DirectordChecks
public import DirectordCore
public import DirectordSystem
import Dispatch
import Glibc

/// ldirectord's whole job: checks every real server on its timer, keeps health, and keeps the
/// kernel's table in step, logging every change with ldirectord's words.
///
/// It runs on the check loop's executor, so check results arrive without a hop; the decisions
/// are ``DirectorState``'s; table reads and writes go to the ``TableWriter``'s own queue.
public actor Director {
    public struct Settings: Sendable {
        public var configPath: String
        public var configName: String
        public var dryRun: Bool
        public var pidFile: PidFile?
        /// How long `fallbackcommand stop` may take at shutdown.
        public var shutdownCommandTimeout: Duration = .seconds(10)
        /// Runs the `execute=` instances; none when nil.
        public var instances: InstanceRunner?
        /// Called once, when the first reconciliation is in the kernel.
        public var onReady: @Sendable () -> Void = {}

        public init(configPath: String, configName: String, dryRun: Bool, pidFile: PidFile?) {
            self.configPath = configPath
            self.configName = configName
            self.dryRun = dryRun
            self.pidFile = pidFile
        }
    }

    nonisolated let loop: CheckLoop
    public nonisolated var unownedExecutor: UnownedSerialExecutor { loop.unownedExecutor }

    private let settings: Settings
    private let writer: TableWriter
    private let log: DirectorLog
    private let notifier: SystemdNotifier
    private let loader: ConfigLoader
    private var state: DirectorState
    /// The kernel's table as last read, plus what was applied since.
    private var known = IPVSTable()
    private var scheduler: CheckScheduler?
    private var maintenance: MaintenanceDirectory?
    private var timers: [any DispatchSourceTimer] = []
    private var reconciling = false
    private var reconcileQueued = false
    private var lastLateWarning: ContinuousClock.Instant?
    private var reloading = false
    private var stopping = false
    private var configFingerprint: ConfigFingerprint?
    private let alerter: EmailAlerter
    /// ldirectord's daemon status, which `emailalertstatus` filters on. ldirectord is
    /// "starting" (or "reloading") while it adds its servers and checks each once, so it
    /// stays so here until every real server has its first verdict.
    private var status: EmailAlerter.DaemonStatus = .starting
    /// When the current start or reload began, to bound how long it may stay "starting".
    private var phaseStarted = ContinuousClock.now
    private var unwritableMonitorFiles: Set<String> = []
    /// Table operations the kernel refused last time, by their text: logged once, not at every
    /// repair while the cause lasts (a scheduler module missing, say); shown in `status`.
    private var refusedOperations: [String: String] = [:]
    private let logDestinations: LogDestinations
    /// Called with the exit status once the director has stopped.
    private let exitHandler: @Sendable (Int32) -> Void

    public init(
        configuration: Configuration, settings: Settings, loop: CheckLoop, writer: TableWriter, log: DirectorLog,
        notifier: SystemdNotifier, loader: ConfigLoader, logDestinations: LogDestinations = .fixed,
        exitHandler: @escaping @Sendable (Int32) -> Void
    ) {
        self.loop = loop
        self.settings = settings
        self.writer = writer
        self.log = log
        self.notifier = notifier
        self.loader = loader
        self.logDestinations = logDestinations
        self.exitHandler = exitHandler
        alerter = EmailAlerter(hostName: loader.parser.resolver.hostName, log: log)
        state = DirectorState(configuration: configuration, observed: IPVSTable())
    }

    // MARK: Start

    /// Adopts the kernel's table, reconciles once, tells systemd it is ready and starts the
    /// checks. A table that cannot be read ends the daemon (status 1).
    public func start() async {
        do {
            known = try await writer.table()
        } catch {
            log.log("Cannot read the IPVS table: \(error)", priority: .error)
            await finish(status: 1)
            return
        }
        state = DirectorState(configuration: state.configuration, observed: known)
        await configureMaintenance()
        await reconcile(phase: .start)

        let scheduler = CheckScheduler(queue: loop.dispatchQueue)
        scheduler.onDue = { [unowned self] id in self.assumeIsolated { $0.runDueCheck(id) } }
        self.scheduler = scheduler
        scheduler.update(state.scheduledChecks)
        startTimers()
        configFingerprint = ConfigFingerprint(path: settings.configPath)

        let configuration = state.configuration
        let summary =
            "\(configuration.virtualServices.count) virtual services, \(configuration.realServerCount) real servers, \(state.scheduledChecks.count) checks"
        notifier.ready(status: summary)
        settings.onReady()
        phaseStarted = .now
        updateStatus()
        let notes = [
            settings.dryRun ? "dry run: no kernel changes" : nil,
            loop.options.plainHTTPThroughLibcurl ? "plain HTTP checks through libcurl" : nil,
        ].compactMap { $0 }
        log.log("Ready: \(summary)\(notes.map { " (\($0))" }.joined())")
        if let instances = settings.instances, !configuration.globals.execute.isEmpty {
            let files = configuration.globals.execute
            let log = self.log
            await Self.offLoop { _ = instances.run(.start, files, log: log) }
        }
    }

    /// Where log lines go: fixed by `-d`, else following the file's `logfile`.
    public enum LogDestinations: Sendable {
        case fixed
        case fromConfiguration(journal: Bool)
    }

    /// "starting" (or "reloading") ends once every real server has had its first verdict, or
    /// after two rounds of the longest interval and timeout should some check never end.
    private func updateStatus() {
        guard status == .starting || status == .reloading, !stopping, !reloading else { return }
        let configuration = state.configuration
        let longest = configuration.virtualServices.map { $0.checkInterval + max($0.checkTimeout, $0.negotiateTimeout) }
            .max() ?? 0
        if state.awaitingFirstVerdict == 0 || ContinuousClock.now - phaseStarted > .seconds(2 * longest + 5) {
            status = .running
        }
    }

    private func startTimers() {
        for timer in timers { timer.cancel() }
        timers = []
        let interval = max(state.configuration.globals.checkInterval, 1)
        // Repairs what was changed behind directord's back, and notices a changed file.
        addTimer(every: .seconds(interval)) { director in
            director.spawn { await $0.repair() }
            director.warnIfChecksRunLate()
            director.checkConfigFile()
            director.applyMaintenanceToUncheckedServers()
            ChildProcesses.reapExitedOrphans()
            director.updateStatus()
            director.alerter.resendDue(status: director.status)
        }
        if let watchdog = notifier.watchdogInterval {
            // From the check loop itself: a ping proves the loop still turns.
            let notifier = self.notifier
            addTimer(every: watchdog / 2) { _ in notifier.watchdog() }
        }
    }

    private func addTimer(every period: Duration, _ work: @escaping @Sendable (isolated Director) -> Void) {
        let timer = DispatchSource.makeTimerSource(queue: loop.dispatchQueue)
        let nanoseconds = Int(period.components.seconds) * 1_000_000_000 + Int(period.components.attoseconds / 1_000_000_000)
        timer.schedule(deadline: .now() + .nanoseconds(nanoseconds), repeating: .nanoseconds(nanoseconds), leeway: .milliseconds(10))
        timer.setEventHandler { [unowned self] in self.assumeIsolated { work($0) } }
        timer.resume()
        timers.append(timer)
    }

    /// Runs async work of this actor later; used from timer and check callbacks.
    private func spawn(_ work: @escaping @Sendable (isolated Director) async -> Void) {
        Task { await work(self) }
    }

    // MARK: Checks

    /// Says, at most once a minute, that checks waited for a free slot: the machine or the
    /// limit cannot keep every real server on its interval.
    private func warnIfChecksRunLate() {
        guard let scheduler, scheduler.takeSaturations() > 0 else { return }
        let now = ContinuousClock.now
        if let last = lastLateWarning, now - last < .seconds(60) { return }
        lastLateWarning = now
        log.log(
            "Checks are running late: \(scheduler.maxRunning) were in flight and more were due; real servers are checked less often than checkinterval",
            priority: .warning)
    }

    private func runDueCheck(_ id: UInt64) {
        guard !stopping, let scheduler, let entry = scheduler.entries[id] else { return }
        var refs = entry.scheduled.realServers
        if let maintenance {
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
        let checked = refs
        loop.startOnLoop(check) { [unowned self] result in
            self.assumeIsolated { $0.checkFinished(id, refs: checked, result: result) }
        }
    }

    private func checkFinished(_ id: UInt64, refs: [RealServerRef], result: CheckResult) {
        scheduler?.finished(id, result: result)
        guard !stopping else { return }
        writeMonitorLines(refs, result: result)
        for event in state.record(result, for: refs) { log.log(event) }
        if state.needsReconcile { requestReconcile() }
    }

    /// `checktype=on` servers are never checked, but a maintenance file takes them out too,
    /// as in ldirectord; looked at on the repair timer, once per check interval.
    private func applyMaintenanceToUncheckedServers() {
        guard !stopping, let maintenance else { return }
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
        for ref in refs {
            guard state.virtualService(ref.service)?.monitorFile != nil, let (virtual, real) = state.realServer(ref),
                let path = virtual.monitorFile
            else { continue }
            if !MonitorFile.append(to: path, virtual: virtual, real: real, result: result),
                unwritableMonitorFiles.insert(path).inserted
            {
                log.log("Error writing to monitorfile '\(path)': \(String(cString: strerror(errno)))", priority: .error)
            }
        }
    }

    // MARK: The table

    /// Asks for a reconciliation soon; many results in one turn of the loop make one.
    private func requestReconcile() {
        guard !reconcileQueued else { return }
        reconcileQueued = true
        spawn { director in
            director.reconcileQueued = false
            await director.reconcile(phase: .repair)
        }
    }

    /// Reads the kernel's table afresh and repairs any difference.
    private func repair() async {
        guard !stopping, !reconciling else { return }
        await refreshTable()
        state.requestReconcile()
        await reconcile(phase: .repair)
    }

    private func refreshTable() async {
        do {
            known = try await writer.table()
        } catch {
            log.log("Cannot read the IPVS table: \(error)", priority: .error)
        }
    }

    /// Applies what the state asks for until nothing is left; one at a time.
    func reconcile(phase: DirectorEvent.Phase) async {
        // The reconciliation in progress loops while the state asks for more, so it picks up
        // whatever changed while it waited on the kernel.
        guard !reconciling else { return }
        reconciling = true
        defer { reconciling = false }
        var failures = 0
        while state.needsReconcile && !stopping {
            let plan = state.takeReconciliation(observed: known, phase: phase)
            if plan.isEmpty { break }
            var failed: Set<Int> = []
            var refused: [String: String] = [:]
            do {
                try await writer.apply(plan.operations)
            } catch {
                failures += 1
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
            // Alerts for these changes go out in the status the daemon was in when it decided
            // them: a start's first verdicts are "starting" ones.
            for (index, event) in plan.events.enumerated() where !failed.contains(index) { report(event) }
            for (index, operation) in plan.operations.enumerated() where !failed.contains(index) {
                refusedOperations["\(operation)"] = nil
            }
            refusedOperations.merge(refused) { $1 }
            state.commit(plan)
            updateStatus()
            runFallbackCommands(plan.fallbackCommands)
            if failed.isEmpty {
                known = (try? known.applying(plan.operations)) ?? known
            } else {
                // Someone else changed the table under us: read it again and retry once.
                await refreshTable()
                if failures > 1 { break }
                state.requestReconcile()
            }
        }
    }

    /// Logs an event and mails it where the service asks for alerts.
    private func report(_ event: DirectorEvent) {
        log.log(event)
        if let virtual = state.virtualService(event.serviceKey) {
            alerter.alert(event, virtual: virtual, from: state.configuration.globals.emailAlertFrom, status: status)
        }
    }

    private func runFallbackCommands(_ commands: [DirectorState.FallbackCommand]) {
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
    public func writeStatusReport() async {
        guard let pidFile = settings.pidFile else { return }
        await refreshTable()
        var report = state.statusReport(
            observed: known, pid: getpid(), configuration: settings.configPath, daemonStatus: status.rawValue)
        report.refusedOperations = refusedOperations.sorted(by: { $0.key < $1.key }).map { "\($0.key): \($0.value)" }
        StatusReportFile(pidFile: pidFile).write(report)
    }

    // MARK: Reload

    public enum ReloadTrigger: Sendable {
        case signal
        case fileChanged
    }

    /// Re-reads the file; an invalid one changes nothing, a valid one only what differs.
    public func reload(trigger: ReloadTrigger) async {
        guard !stopping, !reloading else { return }
        reloading = true
        status = .reloading
        phaseStarted = .now
        defer {
            reloading = false
            updateStatus()
        }
        if trigger == .signal { log.log("Reloading Linux Director Daemon config on signal") }
        notifier.reloading()
        let path = settings.configPath
        let loader = self.loader
        let outcome = await Self.offLoop { loader.load(path: path) }
        for warning in outcome.warnings { log.log(warning.description, priority: .warning) }
        guard let configuration = outcome.configuration else {
            for error in outcome.errors { log.log(error.description, priority: .error) }
            log.log(
                "Reload failed with \(outcome.errors.count) error\(outcome.errors.count == 1 ? "" : "s"): the running configuration stays",
                priority: .error)
            notifier.ready()
            return
        }
        if configuration.virtualServices.isEmpty && !state.configuration.virtualServices.isEmpty
            && !configuration.globals.meansNoServices
        {
            // An emptied or truncated file would purge every service: a slip, most likely.
            log.log(
                "Reload refused: the file has no virtual services, and a reload would remove all \(state.configuration.virtualServices.count); the running configuration stays (write \"\(GlobalSettings.noServicesComment)\" in the file if that is meant)",
                priority: .error)
            notifier.ready()
            return
        }
        let oldInterval = state.configuration.globals.checkInterval
        let oldInstances = state.configuration.globals.execute
        for kept in state.reload(configuration, observed: known) {
            log.log(
                "Virtual service \(kept.id) keeps its running definition: \(kept.refusal ?? "the kernel would refuse the new one")",
                priority: .error)
        }
        alerter.retain(configuration)
        if case .fromConfiguration(let journal) = logDestinations {
            log.redirect(
                to: DirectorLog.destinations(for: configuration, debug: false, journal: journal),
                configName: settings.configName)
        }
        await configureMaintenance()
        scheduler?.update(state.scheduledChecks)
        if configuration.globals.checkInterval != oldInterval { startTimers() }
        configFingerprint = ConfigFingerprint(path: settings.configPath)
        await reconcile(phase: .start)
        notifier.ready()
        if let instances = settings.instances, oldInstances != configuration.globals.execute || !oldInstances.isEmpty {
            let (old, new, log) = (oldInstances, configuration.globals.execute, self.log)
            await Self.offLoop { instances.follow(reloadFrom: old, to: new, log: log) }
        }
    }

    private func configureMaintenance() async {
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

    /// ldirectord's check_cfgfile: on a changed file, reload if autoreload, and run callback.
    private func checkConfigFile() {
        guard !stopping, let previous = configFingerprint else { return }
        guard let current = ConfigFingerprint(path: settings.configPath, ifChangedFrom: previous) else { return }
        configFingerprint = current
        guard current.contentHash != previous.contentHash else { return }
        let globals = state.configuration.globals
        log.log("Configuration file '\(settings.configPath)' has changed on disk")
        if globals.autoreload {
            log.log(" - reread new configuration")
            spawn { await $0.reload(trigger: .fileChanged) }
        } else {
            log.log(" - ignore new configuration")
        }
        if let callback = globals.callback, access(callback, X_OK) == 0 {
            ShellCommand.run("\(callback) \(settings.configPath)") { _ in }
        }
    }

    /// Blocking work (file reads, name lookups) on a global queue, never the check loop.
    private static func offLoop<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: work()) }
        }
    }

    // MARK: Stop

    /// SIGTERM or SIGINT: stop checking, clean up (cleanstop), run fallbackcommand stop, exit 0.
    /// A second signal does not skip the clean-up.
    public func stop(signalName: String) async {
        guard !stopping else {
            log.log("Received SIG\(signalName) while stopping: clean-up continues")
            return
        }
        stopping = true
        status = .stopping
        notifier.stopping()
        if let instances = settings.instances, !state.configuration.globals.execute.isEmpty {
            // ldirectord stops its children first.
            let (files, log) = (state.configuration.globals.execute, self.log)
            await Self.offLoop { _ = instances.run(.stop, files, log: log) }
        }
        scheduler?.stop()
        for timer in timers { timer.cancel() }
        timers = []
        await loop.shutdown()
        while reconciling { try? await Task.sleep(for: .milliseconds(5)) }
        await refreshTable()
        let plan = state.shutdown(observed: known)
        do {
            try await writer.apply(plan.operations)
            for event in plan.events { report(event) }
        } catch {
            log.log("IPVS: clean-up failed: \(error)", priority: .error)
        }
        for command in plan.fallbackCommands {
            let line = command.commandLine
            let timeout = settings.shutdownCommandTimeout
            let outcome = await Self.offLoop { ShellCommand.runAndWait(line, timeout: timeout) }
            if outcome == nil { log.log("fallbackcommand \"\(line)\" still running after \(timeout)", priority: .warning) }
        }
        log.log("Linux Director Daemon terminated on signal: \(signalName)")
        await finish(status: 0)
    }

    private func finish(status: Int32) async {
        settings.pidFile?.remove()
        exitHandler(status)
    }
}

/// A file's modification time and content hash, to notice changes as ldirectord does (mtime
/// first, then the content).
struct ConfigFingerprint: Sendable {
    var modified: Int
    var contentHash: UInt64

    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        modified = Int(info.st_mtim.tv_sec) * 1_000_000_000 + Int(info.st_mtim.tv_nsec)
        contentHash = Self.hash(path)
    }

    /// nil when the modification time is unchanged (the content is not read then).
    init?(path: String, ifChangedFrom previous: ConfigFingerprint) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        let modified = Int(info.st_mtim.tv_sec) * 1_000_000_000 + Int(info.st_mtim.tv_nsec)
        guard modified != previous.modified else { return nil }
        self.modified = modified
        contentHash = Self.hash(path)
    }

    /// FNV-1a over the file's bytes.
    static func hash(_ path: String) -> UInt64 {
        guard case .success(let text) = FileSystem.readFile(path) else { return 0 }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return hash
    }
}
