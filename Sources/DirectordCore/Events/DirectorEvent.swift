/// Something the director did or saw, with ldirectord's exact log text.
///
/// Log watchers written for ldirectord keep working: the message of every event is the line
/// ldirectord writes for it, word for word, so a pattern anchored at its end still matches.
/// The reason the check gave is a line of its own (``reasonMessage``), logged right after.
/// Ports are the kernel's (ldirectord writes `IP:0` for a real server written without a port).
public enum DirectorEvent: Hashable, Sendable {
    case virtualServiceAdded(ServiceKey)
    case virtualServiceChanged(ServiceKey)
    case virtualServicePurged(ServiceKey, phase: Phase)
    case realServerAdded(Endpoint, in: ServiceKey, weight: Int32, reason: String?)
    case realServerRestored(Endpoint, in: ServiceKey, weight: Int32, reason: String?)
    case realServerQuiesced(Endpoint, in: ServiceKey, reason: String?)
    case realServerReaddedQuiescent(Endpoint, in: ServiceKey, reason: String?)
    case realServerDeleted(Endpoint, in: ServiceKey, reason: String?)
    case realServerPurged(Endpoint, in: ServiceKey, phase: Phase)
    case fallbackAdded(Endpoint, in: ServiceKey)
    case fallbackRestored(Endpoint, in: ServiceKey)
    case fallbackDeleted(Endpoint, in: ServiceKey)
    /// `virtualID` is ldirectord's `tcp:VIP:PORT` form, which these two lines use.
    case softFailure(Endpoint, virtualID: String, count: Int, limit: Int, reason: String)
    case softFailureReset(Endpoint, virtualID: String)
    /// A real server's first check failed and nothing changes in the table (it was never
    /// in): only its reason is logged, on the line ldirectord's patterns never match.
    case firstCheckFailed(Endpoint, in: ServiceKey, reason: String)
    /// Nearly every check fails with one local error: their results are set aside.
    case localFaultBegan(fault: String, failing: Int, total: Int)
    /// Most checks no longer fail with it: their results count again.
    case localFaultEnded(fault: String, failing: Int, total: Int)
    /// `maxejection` is reached: the real server's checks fail, but it stays in the table.
    case ejectionLimitHolds(Endpoint, in: ServiceKey, percent: Int, reason: String)
    /// directord's own: a drain (a weight set to 0 outside directord, or `directord drain`)
    /// and its end.
    case realServerDrained(Endpoint, in: ServiceKey, origin: DirectorState.Drain.Origin)
    case realServerUndrained(Endpoint, in: ServiceKey, origin: DirectorState.Drain.Origin)
    /// `slowstart`: a real server back from a failure ramps to `weight` over `seconds`; each
    /// step of the ramp, the last one at its full weight (`weight == of`).
    case slowStartBegan(Endpoint, in: ServiceKey, weight: Int32, seconds: Int)
    case realServerRamped(Endpoint, in: ServiceKey, weight: Int32, of: Int32)
    /// `draintimeout`: a real server a reload removed, or every one at a clean stop, is at
    /// weight 0 until its last connection ends.
    case realServerDraining(Endpoint, in: ServiceKey, seconds: Int, why: DepartureCause)

    /// `checkpath=forwarding`: a private service of a check path changed.
    case checkPathChanged(ServiceKey, String)
    /// `agentport`: a real server's agent changed what the table makes of it.
    case agentReported(Endpoint, in: ServiceKey, reply: String, effect: String)

    public enum DepartureCause: String, Hashable, Sendable {
        case reload
        case stop
    }

    /// When a purge happened, as ldirectord tags it.
    public enum Phase: String, Hashable, Sendable {
        case start
        case stop
        /// directord repairing the table behind someone's back (ldirectord never does).
        case repair
    }

    /// `IP:PORT`, IPv6 in brackets.
    public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
        public var address: IPAddress
        public var port: UInt16

        public init(address: IPAddress, port: UInt16) {
            self.address = address
            self.port = port
        }

        public var description: String { "\(address.bracketed):\(port)" }
    }

    /// The log line.
    public var message: String {
        switch self {
        case .virtualServiceAdded(let key): "Added virtual server: \(key)"
        case .virtualServiceChanged(let key): "Changed virtual server: \(key)"
        case .virtualServicePurged(let key, let phase): "Purged virtual server (\(phase.rawValue)): \(key)"
        case .realServerAdded(let real, let key, let weight, _):
            "Added real server: \(real) (\(key)) (Weight set to \(weight))"
        case .realServerRestored(let real, let key, let weight, _):
            "Restored real server: \(real) (\(key)) (Weight set to \(weight))"
        case .realServerQuiesced(let real, let key, _):
            "Quiescent real server: \(real) (\(key)) (Weight set to 0)"
        case .realServerReaddedQuiescent(let real, let key, _):
            "Readd Quiescent real server: \(real) (\(key)) (Weight set to 0)"
        case .realServerDeleted(let real, let key, _):
            "Deleted real server: \(real) (\(key))"
        case .realServerPurged(let real, let key, let phase):
            "Purged real server (\(phase.rawValue)): \(real) (\(key))"
        case .fallbackAdded(let server, let key): "Added fallback server: \(server) (\(key)) (Weight set to 1)"
        case .fallbackRestored(let server, let key): "Restored fallback server: \(server) (\(key)) (Weight set to 1)"
        case .fallbackDeleted(let server, let key): "Deleted fallback server: \(server) (\(key))"
        case .softFailure(let real, let virtualID, let count, let limit, _):
            "Soft failure real server: \(real) (\(virtualID)) failure \(count)/\(limit)"
        case .softFailureReset(let real, let virtualID): "Resetting soft failure count: \(real) (\(virtualID))"
        case .firstCheckFailed(let real, let key, let reason): "Check of real server \(real) (\(key)): \(reason)"
        case .localFaultBegan(let fault, let failing, let total):
            "Checks of \(failing) of \(total) real servers fail with \"\(fault)\": a fault of this director, not of the real servers; such results are set aside and the table is kept until most checks stop failing so"
        case .localFaultEnded(let fault, let failing, let total):
            "Checks no longer fail with \"\(fault)\" (\(failing) of \(total) real servers): their results count again"
        case .ejectionLimitHolds(let real, let key, let percent, let reason):
            "Kept real server: \(real) (\(key)): its checks fail (\(reason)), but maxejection=\(percent)% of the service's real servers are out already"
        case .realServerDrained(let real, let key, .ipvsadm):
            "Drained real server: \(real) (\(key)) (Weight set to 0 outside directord: kept until it gets a weight again)"
        case .realServerDrained(let real, let key, .command):
            "Drained real server: \(real) (\(key)) (Weight set to 0 by directord drain: kept until undrain)"
        case .realServerUndrained(let real, let key, .ipvsadm):
            "Undrained real server: \(real) (\(key)) (given a weight outside directord)"
        case .realServerUndrained(let real, let key, .command):
            "Undrained real server: \(real) (\(key)) (directord undrain)"
        case .slowStartBegan(let real, let key, let weight, let seconds):
            "Slow start of real server: \(real) (\(key)) (ramps to weight \(weight) over \(seconds) s)"
        case .realServerRamped(let real, let key, let weight, let full) where weight == full:
            "Slow start ended: \(real) (\(key)) (weight=\(weight))"
        case .realServerRamped(let real, let key, let weight, let full):
            "Slow start of real server: \(real) (\(key)) (weight=\(weight) of \(full))"
        case .realServerDraining(let real, let key, let seconds, .reload):
            "Draining real server: \(real) (\(key)) (removed from the configuration: weight 0 until its last connection ends, at most \(seconds) s)"
        case .checkPathChanged(let key, let what):
            "Check path \(key): \(what)"
        case .agentReported(let real, let key, let reply, let effect):
            "Agent of real server: \(real) (\(key)) said \"\(reply)\": \(effect)"
        case .realServerDraining(let real, let key, let seconds, .stop):
            "Draining real server: \(real) (\(key)) (stopping: weight 0 until its last connection ends, at most \(seconds) s)"
        }
    }

    /// The check's reason behind a real server's change, as a line of its own: `Check of real
    /// server 10.1.0.11:8080 (192.168.10.10:80): HTTP 503 Service Unavailable from ...`. None
    /// of ldirectord's patterns match it; nil when the event carries no reason.
    public var reasonMessage: String? {
        let subject: String
        let reason: String?
        switch self {
        case .realServerAdded(let real, let key, _, let why), .realServerRestored(let real, let key, _, let why),
            .realServerQuiesced(let real, let key, let why), .realServerReaddedQuiescent(let real, let key, let why),
            .realServerDeleted(let real, let key, let why):
            (subject, reason) = ("\(real) (\(key))", why)
        case .softFailure(let real, let virtualID, _, _, let why):
            (subject, reason) = ("\(real) (\(virtualID))", why)
        default:
            return nil
        }
        guard let reason, !reason.isEmpty else { return nil }
        return "Check of real server \(subject): \(reason)"
    }
}
