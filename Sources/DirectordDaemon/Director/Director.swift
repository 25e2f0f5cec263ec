public import DirectordChecks
public import DirectordCore
public import DirectordSystem
import Dispatch
import Glibc

/// ldirectord's whole job: checks every real server on its timer, keeps health, and keeps the
/// kernel's table in step, logging every change with ldirectord's words.
///
/// It runs on the check loop's executor, so check results and timers arrive without a hop;
/// the decisions are ``DirectorState``'s; table reads and writes go to the ``TableWriter``'s
/// own queue. Everything that takes time (a reconciliation, a reload, a status report, the
/// stop) is a request to ``run()``, which serves them one at a time: nothing overlaps, nothing
/// polls, and no task outlives the director.
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
        /// Where drains are kept across restarts (beside the pid file); none when nil.
        public var drainFile: DrainFile?
        /// The followers of `directord events`; none when nil.
        public var events: EventHub?

        public init(configPath: String, configName: String, dryRun: Bool, pidFile: PidFile?) {
            self.configPath = configPath
            self.configName = configName
            self.dryRun = dryRun
            self.pidFile = pidFile
        }
    }

    /// Where log lines go: fixed by `-d`, else following the file's `logfile`.
    public enum LogDestinations: Sendable {
        case fixed
        case fromConfiguration(journal: Bool)
    }

    /// What the director is doing: ldirectord's daemon status, which `emailalertstatus`
    /// filters on. ldirectord is "starting" (or "reloading") while it adds its servers and
    /// checks each once, so it stays so here until every real server has its first verdict.
    enum Lifecycle: Equatable {
        case starting
        case running
        case reloading
        case stopping

        var alertStatus: EmailAlerter.DaemonStatus {
            switch self {
            case .starting: .starting
            case .running: .running
            case .reloading: .reloading
            case .stopping: .stopping
            }
        }
    }

    public enum ReloadTrigger: Sendable {
        case signal
        case fileChanged
    }

    /// The work ``run()`` serves, in order.
    enum Request: Sendable {
        case reconcile
        /// The check-interval round: the table read afresh when `readTable` (the repair's
        /// read is due), idle drains ended, then a reconciliation.
        case repair(readTable: Bool)
        case reload(ReloadTrigger, done: CheckedContinuation<Void, Never>? = nil)
        case statusReport(done: CheckedContinuation<Void, Never>? = nil)
        /// A request from the control socket.
        case control(ControlRequest, done: CheckedContinuation<ControlReply, Never>)
        /// A scrape of `/metrics`.
        case metrics(done: CheckedContinuation<MetricsServer.Response, Never>)
        case stop(signalName: String)
    }

    nonisolated let loop: CheckLoop
    public nonisolated var unownedExecutor: UnownedSerialExecutor { loop.unownedExecutor }

    let settings: Settings
    let writer: TableWriter
    let log: DirectorLog
    let notifier: SystemdNotifier
    let loader: ConfigLoader
    /// The last parse's blocks: a reload resolves only the blocks that changed.
    var parseMemory: ParseMemory
    let alerter: EmailAlerter
    let logDestinations: LogDestinations
    /// Called with the exit status once the director has stopped.
    private let exitHandler: @Sendable (Int32) -> Void
    private let requests: AsyncStream<Request>
    private let requestSink: AsyncStream<Request>.Continuation

    var state: DirectorState
    var lifecycle = Lifecycle.starting
    /// When the current start or reload began, to bound how long it may stay "starting".
    var phaseStarted = ContinuousClock.now
    /// A `.reconcile` is waiting in the queue: more results in the meantime need no other.
    private var reconcileQueued = false
    var scheduler: CheckScheduler?
    var maintenance: MaintenanceDirectory?
    private var timers: [LoopTimer] = []
    /// Table operations the kernel accepted since the start (a reload logs its share).
    var tableOperationsApplied = 0
    /// Check-interval rounds since the repair last read the whole table.
    private var roundsSinceRepairRead = 0
    /// Gives the time to slow starts once a second while one is under way.
    var rampTimer: LoopTimer?
    var lastLateWarning: ContinuousClock.Instant?
    var configWatcher: ConfigWatcher?
    var unwritableMonitorFiles: Set<String> = []
    /// Whether any virtual service has a `monitorfile`: most have none, and looking each
    /// checked server up in the state to find out cost about 1 % of the CPU at 40 checks a
    /// second (perf).
    var writesMonitorFiles = false
    /// Table operations the kernel refused last time, by their text: logged once, not at every
    /// repair while the cause lasts (a scheduler module missing, say); shown in `status`.
    var refusedOperations: [String: String] = [:]
    /// For `status -v`: each real server's last check (how long, when) and last change in the
    /// table (its log line, when), in seconds since 1970.
    var lastChecks: [RealServerRef: (seconds: Double, at: Double)] = [:]
    /// Each schedule entry's check, prepared once (Director+Checks).
    var preparedChecks: [UInt64: PreparedCheck] = [:]
    var lastChanges: [RealServerRef: (message: String, at: Double)] = [:]
    /// The drains as last written to ``Settings/drainFile``.
    var savedDrains: [DirectorState.SavedDrain] = []
    /// `metrics=`: the registry, once the file asks for metrics, and the server of `/metrics`.
    var metrics: DirectorMetrics?
    var metricsServer: MetricsServer?
    /// The connection-sync daemons: those directord started (and so stops), what the file
    /// asked for at the last look, what the kernel ran then, and the failure last logged for
    /// each role (logged once, not at every repair while it lasts).
    var startedSyncDaemons: Set<IPVSSyncDaemon.Role> = []
    var askedSyncDaemons: [IPVSSyncDaemon] = []
    var syncDaemonsRunning: [IPVSSyncDaemon] = []
    var syncDaemonFailures: [IPVSSyncDaemon.Role: String] = [:]

    public init(
        configuration: Configuration, settings: Settings, loop: CheckLoop, writer: TableWriter, log: DirectorLog,
        notifier: SystemdNotifier, loader: ConfigLoader, parseMemory: ParseMemory = ParseMemory(),
        logDestinations: LogDestinations = .fixed, exitHandler: @escaping @Sendable (Int32) -> Void
    ) {
        self.parseMemory = parseMemory
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
        (requests, requestSink) = AsyncStream.makeStream(of: Request.self)
    }

    // MARK: The requests

    /// Starts, then serves requests one at a time until the director has stopped.
    public func run() async {
        guard await start() else { return }
        for await request in requests {
            switch request {
            case .reconcile:
                reconcileQueued = false
                await reconcile(phase: .repair)
            case .repair(let readTable):
                guard lifecycle != .stopping else { continue }
                if readTable { await refreshTable() }
                await removeIdleDrains()
                await reconcile(phase: .repair)
                if readTable { await keepSyncDaemons() }
            case .reload(let trigger, let done):
                await performReload(trigger: trigger)
                await keepSyncDaemons()
                done?.resume()
            case .statusReport(let done):
                await writeStatusReport()
                done?.resume()
            case .control(let request, let done):
                done.resume(returning: await serveControl(request))
            case .metrics(let done):
                done.resume(returning: await scrapeMetrics())
            case .stop(let signalName):
                await stop(signalName: signalName)
                // Whoever still waits on a request is let go; the stream is finished.
                for await late in requests {
                    switch late {
                    case .reload(_, let done?), .statusReport(let done?): done.resume()
                    case .control(_, let done):
                        done.resume(returning: ControlReply(ok: false, message: "directord is stopping"))
                    case .metrics(let done): done.resume(returning: .unavailable("directord is stopping"))
                    default: break
                    }
                }
                return
            }
        }
    }

    /// A signal, as ldirectord handles it: HUP reloads, USR1 writes the status report, the
    /// others stop. Called on the loop (the signal sources' queue).
    public func signal(_ name: String) {
        switch name {
        case "HUP": requestSink.yield(.reload(.signal))
        case "USR1": requestSink.yield(.statusReport())
        default:
            if lifecycle == .stopping {
                log.log("Received SIG\(name) while stopping: clean-up continues")
            } else {
                // Checks stop at once; the clean-up waits for whatever is under way.
                lifecycle = .stopping
                notifier.stopping()
                scheduler?.stop()
                requestSink.yield(.stop(signalName: name))
            }
        }
    }

    /// Asks for a reconciliation soon; many results in one turn of the loop make one.
    func requestReconcile() {
        guard !reconcileQueued else { return }
        reconcileQueued = true
        requestSink.yield(.reconcile)
    }

    func request(_ request: Request) {
        requestSink.yield(request)
    }

    /// Reloads the file as SIGHUP does, and returns once the reload is done.
    public func reload(trigger: ReloadTrigger) async {
        await enqueue { .reload(trigger, done: $0) }
    }

    /// Serves a control-socket request in turn with everything else, and returns its reply.
    public func control(_ request: ControlRequest) async -> ControlReply {
        await withCheckedContinuation { done in
            if case .terminated = requestSink.yield(.control(request, done: done)) {
                done.resume(returning: ControlReply(ok: false, message: "directord is stopping"))
            }
        }
    }

    /// A scrape of `/metrics`, served in turn with everything else.
    public func scrape() async -> MetricsServer.Response {
        await withCheckedContinuation { done in
            if case .terminated = requestSink.yield(.metrics(done: done)) {
                done.resume(returning: .unavailable("directord is stopping"))
            }
        }
    }

    /// Writes the status report as SIGUSR1 does, and returns once it is written.
    public func writeStatusReportNow() async {
        await enqueue { .statusReport(done: $0) }
    }

    /// Queues a request and waits until it is served (at once when the director has stopped).
    private func enqueue(_ request: (CheckedContinuation<Void, Never>) -> Request) async {
        await withCheckedContinuation { done in
            if case .terminated = requestSink.yield(request(done)) { done.resume() }
        }
    }

    // MARK: Start

    /// Adopts the kernel's table, reconciles once, tells systemd it is ready and starts the
    /// checks. A table that cannot be read ends the daemon (status 1).
    private func start() async -> Bool {
        let table: IPVSTable
        do {
            table = try await writer.table()
        } catch {
            log.log("Cannot read the IPVS table: \(error)", priority: .error)
            finish(status: 1)
            return false
        }
        state = DirectorState(configuration: state.configuration, observed: table)
        if let drainFile = settings.drainFile {
            state.restoreDrains(drainFile.read())
            savedDrains = state.savedDrains
            drainFile.write(savedDrains)
        }
        await configureMaintenance()
        writesMonitorFiles = state.configuration.virtualServices.contains { $0.monitorFile != nil }
        await prepareCheckPaths()
        await reconcile(phase: .start)
        await keepSyncDaemons()
        configureMetrics()
        metrics?.configurationLoaded(at: Self.wallClockSeconds())

        let scheduler = CheckScheduler(loop: loop)
        scheduler.onDue = { [unowned self] id in self.assumeIsolated { $0.runDueCheck(id) } }
        self.scheduler = scheduler
        let scheduled = state.scheduledChecks
        scheduler.update(scheduled)
        startTimers()
        configWatcher = ConfigWatcher(path: settings.configPath)

        let configuration = state.configuration
        let summary =
            "\(configuration.virtualServices.count) virtual services, \(configuration.realServerCount) real servers, \(scheduled.count) checks"
        notifier.ready(status: summary)
        settings.onReady()
        phaseStarted = .now
        updateLifecycle()
        let notes = [
            settings.dryRun ? "dry run: no kernel changes" : nil,
            loop.options.plainHTTPThroughLibcurl ? "plain HTTP checks through libcurl" : nil,
            configuration.globals.repair && repairInterval != configuration.globals.checkInterval
                ? "the table read for repairs every \(repairInterval) s" : nil,
        ].compactMap { $0 }
        log.log("Ready: \(summary)\(notes.map { " (\($0))" }.joined())")
        if let instances = settings.instances, !configuration.globals.execute.isEmpty {
            let (files, log) = (configuration.globals.execute, self.log)
            await Self.offLoop { _ = instances.run(.start, files, log: log) }
        }
        return true
    }

    /// "starting" (or "reloading") ends once every real server has had its first verdict, or
    /// after two rounds of the longest interval and timeout should some check never end.
    func updateLifecycle() {
        guard lifecycle == .starting || lifecycle == .reloading else { return }
        let longest =
            state.configuration.virtualServices
            .map { $0.checkInterval + max($0.checkTimeout, $0.negotiateTimeout) }.max() ?? 0
        if state.awaitingFirstVerdict == 0 || ContinuousClock.now - phaseStarted > .seconds(2 * longest + 5) {
            lifecycle = .running
        }
    }

    func startTimers() {
        for timer in timers { timer.cancel() }
        timers = []
        // Notices a changed file once per checkinterval (at least a second: the parser sees
        // to it), and repairs what was changed behind directord's back once per repair
        // interval (by default the check interval, longer for large tables: a read costs a
        // message per real server).
        roundsSinceRepairRead = 0
        addTimer(every: .seconds(state.configuration.globals.checkInterval)) { director in
            guard director.lifecycle != .stopping else { return }
            let globals = director.state.configuration.globals
            director.roundsSinceRepairRead += 1
            let readDue =
                globals.repair && director.roundsSinceRepairRead * globals.checkInterval >= director.repairInterval
            if readDue { director.roundsSinceRepairRead = 0 }
            // repair=no: the table is read and put right only when directord changes it (and
            // read for the connections of servers drained until idle).
            if readDue || !director.state.drainsAwaitingIdle.isEmpty || !director.state.departuresAwaitingIdle.isEmpty {
                director.request(.repair(readTable: readDue))
            }
            director.warnIfChecksRunLate()
            director.checkConfigFile()
            director.applyMaintenanceToUncheckedServers()
            ChildProcesses.reapExitedOrphans()
            director.updateLifecycle()
            director.alerter.resendDue(status: director.lifecycle.alertStatus)
        }
        if let watchdog = notifier.watchdogInterval {
            // From the check loop itself: a ping proves the loop still turns.
            let notifier = self.notifier
            addTimer(every: watchdog / 2) { _ in notifier.watchdog() }
        }
    }

    /// Seconds between the repair's reads of the whole table: `repairinterval`, or by the
    /// table's size.
    var repairInterval: Int {
        let globals = state.configuration.globals
        return globals.repairInterval ?? globals.defaultRepairInterval(realServers: state.configuration.realServerCount)
    }

    private func addTimer(every period: Duration, _ work: @escaping @Sendable (isolated Director) -> Void) {
        let timer = loop.makeTimer { [unowned self] in self.assumeIsolated { work($0) } }
        timer.schedule(after: period, repeating: period)
        timers.append(timer)
    }

    // MARK: Stop

    /// SIGTERM or SIGINT: checks are stopped already (``signal(_:)``); the `execute=`
    /// instances are stopped, then the clean-up (cleanstop), `fallbackcommand stop`, exit 0.
    private func stop(signalName: String) async {
        scheduler?.stop()
        for timer in timers { timer.cancel() }
        timers = []
        rampTimer?.cancel()
        rampTimer = nil
        metricsServer?.close()
        metricsServer = nil
        if let instances = settings.instances, !state.configuration.globals.execute.isEmpty {
            // ldirectord stops its children first.
            let (files, log) = (state.configuration.globals.execute, self.log)
            await Self.offLoop { _ = instances.run(.stop, files, log: log) }
        }
        await refreshTable()
        await drainBeforeStop()
        await loop.shutdown()
        await refreshTable()
        let plan = state.shutdown()
        do {
            try await writer.apply(plan.operations)
            for event in plan.events { report(event) }
        } catch {
            log.log("IPVS: clean-up failed: \(error)", priority: .error)
        }
        await stopSyncDaemons()
        for command in plan.fallbackCommands {
            let line = command.commandLine
            let timeout = settings.shutdownCommandTimeout
            let outcome = await Self.offLoop { ShellCommand.runAndWait(line, timeout: timeout) }
            if outcome == nil {
                log.log("fallbackcommand \"\(line)\" still running after \(timeout)", priority: .warning)
            }
        }
        log.log("Linux Director Daemon terminated on signal: \(signalName)")
        finish(status: 0)
    }

    private func finish(status: Int32) {
        requestSink.finish()
        settings.pidFile?.remove()
        exitHandler(status)
    }

    /// Blocking work (file reads, name lookups) on a global queue, never the check loop.
    static func offLoop<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: work()) }
        }
    }
}
