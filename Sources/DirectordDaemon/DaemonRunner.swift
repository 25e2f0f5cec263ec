import DirectordChecks
import DirectordCore
import DirectordIPVS
import DirectordSystem
import Dispatch
import Glibc

/// Starts the daemon for a configuration file: ldirectord's `start`.
public enum DaemonRunner {
    public struct Options: Sendable {
        /// The file, already located (/etc/ha.d/NAME, /etc/ha.d/conf/NAME, NAME).
        public var configPath: String
        /// ldirectord's configuration name: the file's name, or `ldirectord` for the default.
        public var configName: String
        /// `-d`: foreground, lines on standard error.
        public var debug: Bool
        /// Checks run and operations are logged; no kernel is touched.
        public var dryRun: Bool
        public var runDirectory: String
        public var environment: [String: String]
        /// `--http-via-libcurl`: plain `http://` checks through libcurl, as HTTPS ones.
        public var plainHTTPThroughLibcurl = false

        public init(
            configPath: String, configName: String, debug: Bool, dryRun: Bool, runDirectory: String,
            environment: [String: String]
        ) {
            self.configPath = configPath
            self.configName = configName
            self.debug = debug
            self.dryRun = dryRun
            self.runDirectory = runDirectory
            self.environment = environment
        }

        /// `--foreground`: stay in the foreground, as the systemd units ask (keepalived's
        /// `--dont-fork`). Nothing in the environment decides it: every child of every systemd
        /// service inherits `$INVOCATION_ID`, and a Pacemaker agent's `start` must detach.
        public var foreground = false

        public var pidFile: PidFile { PidFile(configName: configName, directory: runDirectory) }

        /// Standard error is journald's stream: `$JOURNAL_STREAM` names its device and inode
        /// (sd_journal_stream_fd(3)); an inherited variable with another standard error does not count.
        public var standardErrorIsJournal: Bool {
            guard let stream = environment["JOURNAL_STREAM"] else { return false }
            var info = stat()
            guard fstat(2, &info) == 0 else { return false }
            return stream == "\(info.st_dev):\(info.st_ino)"
        }
    }

    /// ldirectord's name and version in its start line, which log watchers look for.
    public static let ldirectordVersion = "Linux Director v1.186-ha"

    /// Runs the daemon; returns only with the status to exit with when it cannot start.
    /// Must be called before any thread exists: it may fork to detach. Detached, the calling
    /// process waits until the daemon is ready (0) or has failed (1) and exits with that status.
    public static func start(_ options: Options) -> Int32 {
        Allocator.limitArenas()
        let loader = ConfigLoader.standard
        var parseMemory = ParseMemory()
        let outcome = loader.load(path: options.configPath, memory: &parseMemory)
        let standardError = FileDescriptorOutput.standardError
        guard let configuration = outcome.configuration else {
            for diagnostic
                in (outcome.errors.map { ($0.line, $0.description) }
                + outcome.warnings.map { ($0.line, $0.description) })
                .sorted(by: { $0.0 < $1.0 })
            {
                standardError.write(diagnostic.1 + "\n")
            }
            return 2
        }
        let pidFile = options.pidFile
        if case .running(let pid) = pidFile.status {
            standardError.write("directord for \(options.configPath) is already running with pid: \(pid)\n")
            return 0
        }

        let foreground = options.debug || options.foreground || configuration.globals.supervised
        let journal = foreground && !options.debug && options.standardErrorIsJournal
        let log = DirectorLog(
            destinations: DirectorLog.destinations(for: configuration, debug: options.debug, journal: journal),
            configName: options.configName)
        // What ldirectord misreads and directord runs differently is said loudly, also on the
        // terminal of whoever starts it.
        for warning in outcome.warnings where warning.isSevere && !options.debug {
            standardError.write(warning.description + "\n")
        }
        if foreground {
            log.log("Starting \(ldirectordVersion) with pid: \(getpid())")
        } else {
            log.log("Starting \(ldirectordVersion) as daemon")
            Daemonize.detach()
        }
        let pidLock: PidFile.Lock
        switch pidFile.lock() {
        case .success(let lock):
            pidLock = lock
        case .failure(.held(let pid)):
            let message = "directord for \(options.configPath) is already running with pid: \(pid)"
            Daemonize.reportStart(status: 0, message: message)
            standardError.write(message + "\n")
            return 0
        case .failure(let error):
            log.log(error.description, priority: .error)
            Daemonize.reportStart(status: 1, message: error.description)
            return 1
        }
        log.log("directord \(Version.current) with pid: \(getpid()), on \(options.configPath)")
        for warning in outcome.warnings {
            log.log(warning.description, priority: warning.isSevere ? .error : .warning)
        }

        func fail(_ message: String) -> Int32 {
            log.log(message, priority: .error)
            if !log.destinations.contains(.standardError) { standardError.write(message + "\n") }
            pidFile.remove()
            Daemonize.reportStart(status: 1, message: message)
            return 1
        }
        let control: any IPVSControl
        if options.dryRun {
            control = InMemoryIPVSTable()
        } else {
            do {
                control = try NetlinkIPVSClient(
                    logger: DirectorLogHandler.logger("directord.netlink", log: log, debug: options.debug))
            } catch {
                return fail("Cannot open the IPVS table: \(error)")
            }
        }
        raiseFileLimit()
        // What a check command leaves behind, even in a session of its own, comes back to us
        // to be ended; every spawner of the daemon registers its own children.
        ChildProcesses.becomeSubreaper(reapStrays: true)
        let loop: CheckLoop
        do {
            var loopOptions = CheckLoop.Options()
            loopOptions.plainHTTPThroughLibcurl = options.plainHTTPThroughLibcurl
            loop = try CheckLoop(
                options: loopOptions,
                logger: DirectorLogHandler.logger("directord.checks", log: log, debug: options.debug))
        } catch {
            return fail("Cannot start the check loop: \(error)")
        }
        // A detached daemon's inherited $NOTIFY_SOCKET belongs to whoever started it.
        let notifier = SystemdNotifier(environment: foreground ? options.environment : [:])
        var settings = Director.Settings(
            configPath: options.configPath, configName: options.configName, dryRun: options.dryRun, pidFile: pidFile)
        settings.instances = InstanceRunner(options: options)
        settings.onReady = { Daemonize.reportStart(status: 0) }
        // A dry run starts from an empty table of its own: the real daemon's drains are not its.
        settings.drainFile = options.dryRun ? nil : DrainFile(pidFile: pidFile)
        // The event followers, the control socket and the signals are served on a queue of their
        // own: they reach the director through its requests (or, for a signal, on the loop).
        let service = DispatchQueue(label: "directord.service")
        let events = EventHub(queue: service)
        settings.events = events
        let director = Director(
            configuration: configuration, settings: settings,
            loop: loop, writer: TableWriter(control: control, dryRun: options.dryRun, log: log), log: log,
            notifier: notifier, loader: loader, parseMemory: parseMemory,
            logDestinations: options.debug ? .fixed : .fromConfiguration(journal: journal),
            exitHandler: { status in
                Daemonize.reportStart(
                    status: status, message: status == 0 ? "" : "directord could not start; see its log")
                unlink(ControlSocket.path(for: pidFile))
                events.flush()
                withExtendedLifetime(pidLock) { exit(status) }
            })
        // status --verbose, drain and undrain come in here; without it those verbs fail, and
        // the daemon runs on (signals keep working).
        let controlSocket: ControlSocket?
        do {
            controlSocket = try ControlSocket(
                path: ControlSocket.path(for: pidFile), queue: service, events: events,
                handle: { await director.control($0) })
        } catch {
            log.log("Cannot open the control socket: \(error)", priority: .warning)
            controlSocket = nil
        }

        let signals = installSignalHandlers(director: director, loop: loop, queue: service)
        // The daemon's one task: it starts, serves the director's requests and ends the process.
        Task { await director.run() }
        // The sources and the lock must live as long as the process; dispatchMain never returns.
        withExtendedLifetime((signals, pidLock, controlSocket)) { dispatchMain() }
    }

    /// ldirectord's signals, noticed on `queue` and handled on the check loop's thread: SIGHUP
    /// reloads; SIGTERM, SIGINT, SIGQUIT, SIGXCPU and SIGXFSZ stop cleanly (ldirectord's
    /// `ld_handler_term`); SIGUSR1 writes the status report. ldirectord also stops cleanly on
    /// SIGILL, SIGABRT, SIGFPE, SIGSEGV, SIGBUS and SIGSYS; directord leaves those fatal, since in
    /// a compiled program they mean the process is broken and its clean-up cannot be trusted (and
    /// the runtime prints a backtrace).
    private static func installSignalHandlers(
        director: Director, loop: CheckLoop, queue: DispatchQueue
    ) -> [any DispatchSourceSignal] {
        signal(SIGPIPE, SIG_IGN)
        let handled: [(Int32, String)] = [
            (SIGHUP, "HUP"), (SIGTERM, "TERM"), (SIGINT, "INT"), (SIGQUIT, "QUIT"), (SIGXCPU, "XCPU"),
            (SIGXFSZ, "XFSZ"), (SIGUSR1, "USR1"),
        ]
        return handled.map { number, name in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            // The loop's thread is the director's executor: the signal is handled in order with
            // everything else the director does, without a task.
            source.setEventHandler { loop.execute { director.assumeIsolated { $0.signal(name) } } }
            source.resume()
            return source
        }
    }

    /// Each check in flight holds a socket or two: allow as many as the hard limit.
    private static func raiseFileLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}

/// directord's version.
public enum Version {
    public static let current = "0.2.0"
}
