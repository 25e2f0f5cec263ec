import ArgumentParser
import DirectordCore
import DirectordDaemon
import DirectordSystem
import Glibc

/// `directord [CONFIG] drain REAL [VIRTUAL]` and `undrain`: through the running daemon's
/// control socket.
struct Drain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Take a real server out of new connections (weight 0) at once, and keep it out until undrain.",
        discussion: """
            REAL is named as in maintenancedir: IP, IP:PORT or a host name; VIRTUAL (IP:PORT, \
            tcp:IP:PORT or a firewall mark) limits it to one virtual service. Existing connections \
            finish. The drain outlives a reload, a restart and kill -9; a reload that changes the \
            real server's line ends it. Exit status: 0 drained, 1 not running or no such real server.
            """)
    @OptionGroup var daemon: DaemonArguments
    @Argument(help: "REAL [VIRTUAL]") var words: [String] = []
    @Flag(help: "Also delete the entry once the kernel shows it no connection.")
    var removeWhenIdle = false
    @Option(help: "With --remove-when-idle: delete it after this many seconds even with connections left.")
    var timeout: Int?

    func run() throws {
        let (daemon, real, virtual) = try ControlTarget.split(daemon, words)
        try ControlTarget.send(
            ControlRequest(
                verb: .drain, real: real, virtual: virtual, removeWhenIdle: removeWhenIdle, timeout: timeout),
            daemon: daemon)
    }
}

struct Undrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Give a drained real server its configured weight again (once its checks pass).")
    @OptionGroup var daemon: DaemonArguments
    @Argument(help: "REAL [VIRTUAL]") var words: [String] = []

    func run() throws {
        let (daemon, real, virtual) = try ControlTarget.split(daemon, words)
        try ControlTarget.send(ControlRequest(verb: .undrain, real: real, virtual: virtual), daemon: daemon)
    }
}

struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow the running daemon: one JSON object a line per change, until it stops.",
        discussion: """
            Each line has time (seconds since 1970), type (real_server_added, real_server_deleted, \
            real_server_quiesced, real_server_drained, real_server_undrained, fallback_added, \
            fallback_deleted, virtual_service_purged, reload, soft_failure ...), service, real, from, \
            to, weight, reason, phase and message (the log line). --since-start first prints one \
            "state" line per real server.
            """)
    @OptionGroup var daemon: DaemonArguments
    @Flag(help: "Print every real server's current state first.")
    var sinceStart = false

    func run() throws {
        try daemon.requireFile()
        let options = daemon.options
        guard case .running = options.pidFile.status else {
            printError("directord is stopped for \(options.configPath)")
            throw ExitCode(1)
        }
        let failure = ControlClient.follow(
            ControlRequest(verb: .events, sinceStart: sinceStart), to: ControlSocket.path(for: options.pidFile)
        ) { line in
            print(line)
            fflush(nil)
            return true
        }
        if let failure {
            printError("directord: the daemon for \(options.configPath) does not answer: \(failure)")
            throw ExitCode(1)
        }
    }
}

enum ControlTarget {
    /// `[CONFIG] REAL [VIRTUAL]`: with two words the first is CONFIG when it names a file.
    static func split(_ daemon: DaemonArguments, _ words: [String]) throws -> (DaemonArguments, String, String?) {
        var daemon = daemon
        var words = words
        if let config = daemon.config { words.insert(config, at: 0) }
        daemon.config = nil
        if words.count == 3 || (words.count == 2 && FileSystem.isRegularFile(ConfigLoader.locate(words[0]))) {
            daemon.config = words.removeFirst()
        }
        guard (1...2).contains(words.count) else {
            printError("directord: name the real server: [CONFIG] REAL [VIRTUAL]")
            throw ExitCode(2)
        }
        return (daemon, words[0], words.count == 2 ? words[1] : nil)
    }

    /// Sends the request to the running daemon; prints its answer.
    static func send(_ request: ControlRequest, daemon: DaemonArguments) throws {
        try daemon.requireFile()
        let options = daemon.options
        guard case .running = options.pidFile.status else {
            printError("directord is stopped for \(options.configPath)")
            throw ExitCode(1)
        }
        switch ControlClient.send(request, to: ControlSocket.path(for: options.pidFile)) {
        case .success(let reply):
            if reply.ok {
                print(reply.message)
            } else {
                printError("directord: \(reply.message)")
                throw ExitCode(1)
            }
        case .failure(let failure):
            printError("directord: the daemon for \(options.configPath) does not answer: \(failure)")
            throw ExitCode(1)
        }
    }
}
