import ArgumentParser
import DirectordCore
import DirectordDaemon
import DirectordSystem
import Glibc

/// What every daemon verb takes.
struct DaemonArguments: ParsableArguments {
    @Flag(
        name: [.customShort("d"), .long],
        help: "Debug: stay in the foreground and log to standard error (ldirectord's -d).")
    var debug = false

    @Flag(
        help:
            "Stay in the foreground, logging as the file says (and to the journal when standard error is journald's); for supervisors such as the systemd units."
    )
    var foreground = false

    @Flag(help: "Run the checks and log the table operations without touching the kernel.")
    var dryRun = false

    @Option(help: "Where the pid file lives (default: $DIRECTORD_RUN_DIR or /run).")
    var runDirectory: String?

    @Flag(help: "Run plain http:// checks through libcurl, as HTTPS ones, instead of directord's own HTTP/1.1 client.")
    var httpViaLibcurl = false

    @Argument(help: "The configuration file (default: ldirectord.cf).")
    var config: String?

    var options: DaemonRunner.Options {
        let environment = ProcessEnvironment.current
        let name = config ?? "ldirectord.cf"
        var options = DaemonRunner.Options(
            configPath: ConfigLoader.locate(name),
            // ldirectord names the default configuration "ldirectord", a given one by its file.
            configName: config.map { ConfigLoader.configName(of: $0) } ?? "ldirectord",
            debug: debug, dryRun: dryRun,
            runDirectory: runDirectory ?? environment["DIRECTORD_RUN_DIR"] ?? "/run",
            environment: environment)
        options.plainHTTPThroughLibcurl = httpViaLibcurl
        options.foreground = foreground
        return options
    }

    /// ldirectord's "Config file X not found" (status 1).
    func requireFile() throws {
        let path = options.configPath
        if let problem = FileSystem.problemReading(path) {
            // ldirectord's words when there is no file; the real cause otherwise.
            printError(
                problem == "does not exist"
                    ? "Config file \(config ?? "ldirectord.cf") not found"
                    : "Config file \(path) cannot be read: it \(problem)")
            throw ExitCode(1)
        }
    }

    /// Loads the file; prints its errors and exits 2 when it is invalid. (Not `validate()`:
    /// swift-argument-parser calls a method of that name by itself while parsing arguments,
    /// which would make `stop` and `status` refuse to act after a bad edit.)
    @discardableResult
    func loadValidConfiguration() throws -> Configuration {
        try requireFile()
        let outcome = ConfigLoader.standard.load(path: options.configPath)
        if let configuration = outcome.configuration { return configuration }
        for error in outcome.errors { printError(error.description) }
        throw ExitCode(2)
    }
}

struct Start: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start the daemon (in the background unless -d, --foreground or supervised=yes).")
    @OptionGroup var daemon: DaemonArguments

    func run() throws {
        try daemon.requireFile()
        throw ExitCode(DaemonRunner.start(daemon.options))
    }
}

struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop the daemon; returns once it has cleaned up and exited.")
    @OptionGroup var daemon: DaemonArguments
    @Option(help: "Seconds to wait for the daemon to exit (default: 60, plus the longest draintimeout).")
    var timeout: Int?

    func run() throws {
        try daemon.requireFile()
        // A stop with draintimeout waits for connections to end first. The file may be broken
        // by now: then the plain default.
        let draining = ConfigLoader.standard.load(path: daemon.options.configPath).configuration?.virtualServices
            .filter(\.cleanStop).compactMap(\.drainTimeout).max()
        try stopDaemon(daemon.options, timeout: timeout ?? 60 + (draining ?? 0))
    }
}

/// Sends SIGTERM and waits until the process is gone; not running is not an error.
func stopDaemon(_ options: DaemonRunner.Options, timeout: Int) throws {
    guard case .running(let pid) = options.pidFile.status else { return }
    kill(pid, SIGTERM)
    var waited = 0
    // Gone when it no longer holds its pid file's lock: the kernel drops the lock as the
    // process exits, even while it waits as a zombie to be reaped by its parent.
    while options.pidFile.status == .running(pid: pid) {
        guard waited < timeout * 20 else {
            printError("directord (pid \(pid)) has not exited after \(timeout) s")
            throw ExitCode(1)
        }
        usleep(50_000)
        waited += 1
    }
}

struct Restart: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop the daemon if it runs, then start it.")
    @OptionGroup var daemon: DaemonArguments

    func run() throws {
        try daemon.loadValidConfiguration()
        try stopDaemon(daemon.options, timeout: 60)
        throw ExitCode(DaemonRunner.start(daemon.options))
    }
}

struct TryRestart: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "try-restart", abstract: "Restart the daemon only if it runs.")
    @OptionGroup var daemon: DaemonArguments

    func run() throws {
        try daemon.loadValidConfiguration()
        guard case .running = daemon.options.pidFile.status else { return }
        try stopDaemon(daemon.options, timeout: 60)
        throw ExitCode(DaemonRunner.start(daemon.options))
    }
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate the file, then make the daemon re-read it (SIGHUP); an invalid file is not sent.")
    @OptionGroup var daemon: DaemonArguments

    func run() throws { try reloadDaemon(daemon) }
}

struct ForceReload: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "force-reload", abstract: "The same as reload.")
    @OptionGroup var daemon: DaemonArguments

    func run() throws { try reloadDaemon(daemon) }
}

func reloadDaemon(_ daemon: DaemonArguments) throws {
    let configuration = try daemon.loadValidConfiguration()
    if configuration.virtualServices.isEmpty && !configuration.globals.meansNoServices {
        printError(
            "\(daemon.options.configPath) has no virtual services: a reload would remove every service, so it is not sent (write \"\(GlobalSettings.noServicesComment)\" in the file if that is meant)"
        )
        throw ExitCode(2)
    }
    guard case .running(let pid) = daemon.options.pidFile.status else {
        printError("directord is stopped for \(daemon.options.configPath)")
        throw ExitCode(1)
    }
    kill(pid, SIGHUP)
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Whether the daemon runs: exit 0 running, 3 stopped, 1 stale pid file.")
    @OptionGroup var daemon: DaemonArguments
    @Flag(name: .shortAndLong, help: "Also print every real server's health and the reason its check gave.")
    var verbose = false
    @Flag(help: "Print the report of --verbose as JSON, and nothing else.")
    var json = false

    /// ldirectord's words, which scripts and Pacemaker's agent match ("ldirectord stale pid
    /// file"). A file broken since the daemon started does not change the answer (ldirectord
    /// exits 2 then, and Pacemaker takes a running director for failed); its errors are
    /// printed, since a reload would be refused.
    func run() throws {
        try daemon.requireFile()
        let options = daemon.options
        let outcome = ConfigLoader.standard.load(path: options.configPath)
        if outcome.configuration == nil {
            for error in outcome.errors { printError(error.description) }
            printError(
                "\(options.configPath) has errors: a reload would be refused, the running daemon keeps its configuration"
            )
        }
        switch options.pidFile.status {
        case .running(let pid):
            if !json {
                printError("ldirectord for \(options.configPath) is running with pid: \(pid)")
            }
            if verbose || json { try printReport(pid: pid, pidFile: options.pidFile) }
            runInstances(.status, configuration: outcome.configuration)
        case .stale:
            printError("ldirectord stale pid file \(options.pidFile.path) for \(options.configPath)")
            print("ldirectord is stopped for \(options.configPath)")
            throw ExitCode(1)
        case .absent:
            print("ldirectord is stopped for \(options.configPath)")
            throw ExitCode(3)
        }
    }

    /// The `execute=` instances' status, as ldirectord prints its children's.
    private func runInstances(_ verb: InstanceRunner.Verb, configuration: Configuration?) {
        guard let configuration,
            !configuration.globals.execute.isEmpty
        else { return }
        _ = InstanceRunner(options: daemon.options).run(
            verb, configuration.globals.execute, log: DirectorLog(destinations: [], configName: ""))
    }
}

extension Status {
    /// Asks the daemon for its report, over its control socket (or, from a daemon without
    /// one, with SIGUSR1 and a file), and prints it.
    func printReport(pid: Int32, pidFile: PidFile) throws {
        if case .success(let reply) = ControlClient.send(
            ControlRequest(verb: .status), to: ControlSocket.path(for: pidFile)), let report = reply.report
        {
            if json {
                print(try encodeJSON(report))
            } else {
                print(report.text, terminator: "")
            }
            return
        }
        let file = StatusReportFile(pidFile: pidFile)
        let before = file.modified
        kill(pid, SIGUSR1)
        for _ in 0..<200 {
            if file.modified != before, let report = file.read() {
                if json {
                    print(try encodeJSON(report))
                } else {
                    print(report.text, terminator: "")
                }
                return
            }
            usleep(25_000)
        }
        printError("directord (pid \(pid)) did not write \(file.path) within 5 s")
        throw ExitCode(1)
    }
}
