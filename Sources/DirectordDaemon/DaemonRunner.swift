import DirectordCore
import DirectordSystem
import DirectordChecks
import DirectordIPVS
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

        public var pidFile: PidFile { PidFile(configName: configName, directory: runDirectory) }
        /// Started by systemd: stay in the foreground, log to the journal.
        public var underSystemd: Bool { environment["NOTIFY_SOCKET"] != nil || environment["INVOCATION_ID"] != nil }
    }

    /// Runs the daemon; returns only with the status to exit with when it cannot start.
    /// Must be called before any thread exists: it may fork to detach.
    public static func start(_ options: Options) -> Int32 {
        let loader = ConfigLoader()
        let outcome = loader.load(path: options.configPath)
        let standardError = FileDescriptorOutput.standardError
        guard let configuration = outcome.configuration else {
            for diagnostic in (outcome.errors.map { ($0.line, $0.description) } + outcome.warnings.map { ($0.line, $0.description) })
                .sorted(by: { $0.0 < $1.0 })
            {
                standardError.write(diagnostic.1 + "\n")
            }
            return 2
        }
        let pidFile = options.pidFile
        switch pidFile.status {
        case .running(let pid):
            standardError.write("directord for \(options.configPath) is already running with pid: \(pid)\n")
            return 0
        case .stale:
            pidFile.remove()
        case .absent:
            break
        }

        let foreground = options.debug || options.underSystemd || configuration.globals.supervised
        let logDestination = DirectorLog.destination(
            for: configuration, debug: options.debug, underSystemd: options.underSystemd && options.environment["JOURNAL_STREAM"] != nil)
        if !foreground { Daemonize.detach() }
        guard pidFile.write() else {
            standardError.write("Can not open \(pidFile.path)\n")
            return 1
        }
        let log = DirectorLog(destination: logDestination, configName: options.configName)
        log.log("Starting directord \(Version.current) (ldirectord 4.12 configuration) with pid: \(getpid())")
        for warning in outcome.warnings { log.log(warning.description, priority: .warning) }

        let control: any IPVSControl
        if options.dryRun {
            control = InMemoryIPVSTable()
        } else {
            do {
                control = try NetlinkIPVSClient()
            } catch {
                log.log("Cannot open the IPVS table: \(error)", priority: .error)
                if log.destination != .standardError { standardError.write("Cannot open the IPVS table: \(error)\n") }
                pidFile.remove()
                return 1
            }
        }
        raiseFileLimit()
        let loop: CheckLoop
        do {
            var loopOptions = CheckLoop.Options()
            loopOptions.plainHTTPThroughLibcurl = options.plainHTTPThroughLibcurl
            loop = try CheckLoop(options: loopOptions)
        } catch {
            log.log("Cannot start the check loop: \(error)", priority: .error)
            pidFile.remove()
            return 1
        }
        let notifier = SystemdNotifier(environment: options.environment)
        let director = Director(
            configuration: configuration,
            settings: Director.Settings(
                configPath: options.configPath, configName: options.configName, dryRun: options.dryRun, pidFile: pidFile),
            loop: loop, writer: TableWriter(control: control, dryRun: options.dryRun, log: log), log: log,
            notifier: notifier, loader: loader,
            logDestinationFixed: options.debug || logDestination == .journal,
            exitHandler: { status in exit(status) })

        let signals = installSignalHandlers(director: director, queue: loop.dispatchQueue)
        Task { await director.start() }
        // The sources must live as long as the process; dispatchMain never returns.
        withExtendedLifetime(signals) { dispatchMain() }
    }

    /// SIGHUP reloads, SIGTERM and SIGINT stop, SIGUSR1 writes the status report; handled on
    /// the check loop's queue.
    private static func installSignalHandlers(director: Director, queue: DispatchQueue) -> [any DispatchSourceSignal] {
        signal(SIGPIPE, SIG_IGN)
        let handled: [(Int32, String)] = [(SIGHUP, "HUP"), (SIGTERM, "TERM"), (SIGINT, "INT"), (SIGUSR1, "USR1")]
        return handled.map { number, name in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler {
                if number == SIGHUP {
                    Task { await director.reload(trigger: .signal) }
                } else if number == SIGUSR1 {
                    Task { await director.writeStatusReport() }
                } else {
                    Task { await director.stop(signalName: name) }
                }
            }
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
    public static let current = "0.1.0"
}
