public import DirectordCore
import DirectordSystem
import Glibc
import Synchronization

/// Where the daemon's log lines go, and in which format.
///
/// The text of every line is ldirectord's; the framing follows ldirectord per destination, so
/// existing log watchers keep working: a file gets `[<ctime>|<config name>|<pid>] <message>`,
/// syslog gets the bare message under ldirectord's identifier ("ldirectord", with the pid),
/// `-d` writes the message to standard error and `supervised=yes` writes `[<ctime>] <message>`
/// to standard output. A daemon whose standard error is the journal (run by the systemd units)
/// also writes every line there with its priority as `<N>`, which journald strips.
public final class DirectorLog: Sendable {
    public enum Destination: Hashable, Sendable {
        case file(path: String)
        case syslog(facility: String)
        case standardError
        case supervised
        case journal
    }

    public enum Priority: Int32, Sendable {
        case error = 3
        case warning = 4
        case notice = 5
        case info = 6
        case debug = 7
    }

    private struct State {
        var destinations: [Destination]
        var configName: String
    }

    private let state: Mutex<State>

    public convenience init(destination: Destination, configName: String) {
        self.init(destinations: [destination], configName: configName)
    }

    public init(destinations: [Destination], configName: String) {
        state = Mutex(State(destinations: destinations, configName: configName))
        for case .syslog(let facility) in destinations { Self.openSyslog(facility) }
    }

    /// Where lines go for a configuration, as ldirectord decides: `-d` → standard error;
    /// `supervised=yes` → standard output; else `logfile` (a file, by default
    /// /var/log/ldirectord.log, or a syslog facility). With `journal` (standard error is
    /// journald's stream) a file's lines also go to the journal; syslog reaches it by itself.
    public static func destinations(for configuration: Configuration, debug: Bool, journal: Bool) -> [Destination] {
        if debug { return [.standardError] }
        if configuration.globals.supervised { return [.supervised] }
        switch configuration.globals.logTarget {
        case .file(let path): return journal ? [.file(path: path), .journal] : [.file(path: path)]
        case .syslog(let facility): return [.syslog(facility: facility)]
        }
    }

    /// Switches destinations, as a reload with a new `logfile` does.
    public func redirect(to destinations: [Destination], configName: String) {
        state.withLock {
            for case .syslog(let facility) in destinations where !$0.destinations.contains(.syslog(facility: facility))
            {
                Self.openSyslog(facility)
            }
            $0.destinations = destinations
            $0.configName = configName
        }
    }

    public var destinations: [Destination] { state.withLock { $0.destinations } }

    public func log(_ message: String, priority: Priority = .info) {
        // ldirectord writes one line per message; bytes a peer sent (a reason phrase, a
        // greeting) never reach a terminal or a log reader raw.
        let text = VisibleText.escaping(message.replacingNewlines())
        state.withLock { state in
            for destination in state.destinations {
                write(text, priority: priority, to: destination, configName: state.configName)
            }
        }
    }

    private func write(_ text: String, priority: Priority, to destination: Destination, configName: String) {
        switch destination {
        case .file(let path):
            let line = "[\(LocalTime.ctime())|\(configName)|\(getpid())] \(text)\n"
            // Opened per line, as ldirectord does, so logrotate needs no signal. 0640: the log
            // names every real server and the reasons their checks gave.
            let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
            if descriptor >= 0 {
                FileDescriptorOutput(descriptor: descriptor).write(line)
                close(descriptor)
            } else {
                FileDescriptorOutput.standardError.write(text + "\n")
            }
        case .syslog:
            Self.syslogLine(priority.rawValue, text)
        case .standardError:
            FileDescriptorOutput.standardError.write(text + "\n")
        case .supervised:
            FileDescriptorOutput.standardOutput.write("[\(LocalTime.ctime())] \(text)\n")
        case .journal:
            FileDescriptorOutput.standardError.write("<\(priority.rawValue)>\(text)\n")
        }
    }

    /// An event's line, then the line with the check's reason, if it has one.
    public func log(_ event: DirectorEvent) {
        log(event.message, priority: event.priority)
        if let reason = event.reasonMessage { log(reason, priority: event.priority) }
    }

    private static func openSyslog(_ facility: String) {
        // openlog keeps the pointer: the ident must live as long as the process.
        openlog(syslogIdent, LOG_PID, facilityCode(facility))
    }

    // ldirectord's identifier, which syslog rules and `journalctl -t` select on. Written once,
    // read by openlog only: never mutated.
    nonisolated(unsafe) private static let syslogIdent: UnsafeMutablePointer<CChar> = strdup("ldirectord")

    static func facilityCode(_ name: String) -> Int32 {
        let codes: [String: Int32] = [
            "kern": LOG_KERN, "user": LOG_USER, "mail": LOG_MAIL, "daemon": LOG_DAEMON, "auth": LOG_AUTH,
            "syslog": LOG_SYSLOG, "lpr": LOG_LPR, "news": LOG_NEWS, "uucp": LOG_UUCP, "cron": LOG_CRON,
            "authpriv": LOG_AUTHPRIV, "ftp": LOG_FTP, "local0": LOG_LOCAL0, "local1": LOG_LOCAL1,
            "local2": LOG_LOCAL2, "local3": LOG_LOCAL3, "local4": LOG_LOCAL4, "local5": LOG_LOCAL5,
            "local6": LOG_LOCAL6, "local7": LOG_LOCAL7,
        ]
        return codes[name] ?? LOG_DAEMON
    }

    private static func syslogLine(_ priority: Int32, _ text: String) {
        // syslog is variadic: vsyslog through a "%s" format keeps the message literal.
        text.withCString { message in withVaList([message]) { vsyslog(priority, "%s", $0) } }
    }
}

extension DirectorEvent {
    /// Losing capacity is a warning; everything else is information.
    var priority: DirectorLog.Priority {
        switch self {
        case .realServerDeleted, .realServerQuiesced, .fallbackAdded, .softFailure: .warning
        // A service is running on servers that fail their checks: an operator must look.
        case .ejectionLimitHolds, .localFaultBegan: .error
        // A ramp's steps between its first and its last: up to 20 lines a ramp.
        case .realServerRamped(_, _, let weight, let full) where weight != full: .debug
        // The private services of checkpath=forwarding: directord's own plumbing.
        case .checkPathChanged: .debug
        default: .info
        }
    }
}

extension String {
    func replacingNewlines() -> String {
        guard contains(where: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) else { return self }
        return String(map { $0 == "\n" || $0 == "\r" || $0 == "\r\n" ? " " : $0 })
    }
}
