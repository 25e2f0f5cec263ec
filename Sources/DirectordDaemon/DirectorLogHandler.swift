public import Logging

/// swift-log's seam into ``DirectorLog``: lines from the checks and the netlink client, written
/// with ldirectord's framing wherever the daemon's log goes (file, syslog, journal, standard
/// error under `-d`). The transition lines stay ``DirectorEvent``'s, logged directly.
public struct DirectorLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let log: DirectorLog

    public init(log: DirectorLog, level: Logger.Level) {
        self.log = log
        self.logLevel = level
    }

    /// A logger for one part of the daemon: debug lines with `-d`, otherwise notices and up.
    public static func logger(_ label: String, log: DirectorLog, debug: Bool) -> Logger {
        Logger(label: label) { _ in DirectorLogHandler(log: log, level: debug ? .debug : .notice) }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let text = fields.isEmpty ? "\(event.message)" : "\(event.message) (\(fields.joined(separator: ", ")))"
        // DirectorLog makes it one visible line: a reason a server sent cannot forge another.
        log.log(text, priority: Self.priority(event.level))
    }

    static func priority(_ level: Logger.Level) -> DirectorLog.Priority {
        switch level {
        case .trace, .debug: .debug
        case .info: .info
        case .notice: .notice
        case .warning: .warning
        case .error, .critical: .error
        }
    }
}
