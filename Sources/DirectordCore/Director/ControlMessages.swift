/// What the command line asks the running daemon over its control socket, one JSON object a
/// line, and what it answers. Pure values: the socket is the daemon's, the words are here.
public struct ControlRequest: Codable, Hashable, Sendable {
    public enum Verb: String, Codable, Hashable, Sendable {
        /// The status report (`status --verbose`), in place of SIGUSR1 and a file.
        case status
        case drain
        case undrain
    }

    public var verb: Verb
    /// The real server, as maintenancedir names it: IP, IP:PORT or a host name.
    public var real: String?
    /// The virtual service (`IP:PORT`, `tcp:IP:PORT`, a firewall mark); every one when nil.
    public var virtual: String?
    /// `drain --remove-when-idle`.
    public var removeWhenIdle: Bool?
    /// `drain --timeout`: seconds after which a drained entry goes even with connections left.
    public var timeout: Int?

    public init(
        verb: Verb, real: String? = nil, virtual: String? = nil, removeWhenIdle: Bool? = nil, timeout: Int? = nil
    ) {
        self.verb = verb
        self.real = real
        self.virtual = virtual
        self.removeWhenIdle = removeWhenIdle
        self.timeout = timeout
    }
}

public struct ControlReply: Codable, Hashable, Sendable {
    public var ok: Bool
    /// For the operator: what was done, or why not.
    public var message: String
    public var report: StatusReport?

    public init(ok: Bool, message: String, report: StatusReport? = nil) {
        self.ok = ok
        self.message = message
        self.report = report
    }
}
