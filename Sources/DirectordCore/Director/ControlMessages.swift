/// What the command line asks the running daemon over its control socket, one JSON object a
/// line, and what it answers. Pure values: the socket is the daemon's, the words are here.
public struct ControlRequest: Codable, Hashable, Sendable {
    public enum Verb: String, Codable, Hashable, Sendable {
        /// The status report (`status --verbose`), in place of SIGUSR1 and a file.
        case status
        case drain
        case undrain
        /// Follow the daemon: one ``ControlEvent`` a line until the connection closes.
        case events
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
    /// `events --since-start`: every real server's state first.
    public var sinceStart: Bool?

    public init(
        verb: Verb, real: String? = nil, virtual: String? = nil, removeWhenIdle: Bool? = nil, timeout: Int? = nil,
        sinceStart: Bool? = nil
    ) {
        self.verb = verb
        self.sinceStart = sinceStart
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

/// One line of `directord events`: a transition, drain, reload, fallback change or table
/// repair, as JSON for the operator's tooling. `message` is the line the log gets.
public struct ControlEvent: Codable, Hashable, Sendable {
    /// Seconds since 1970.
    public var time: Double
    /// `real_server_added`, `real_server_deleted`, `real_server_quiesced`, `real_server_drained`,
    /// `fallback_added`, `virtual_service_purged`, `reload`, `state` (with `--since-start`) ...
    public var type: String
    public var service: String?
    public var real: String?
    /// up, down, drained: what the real server was and now is, where the event says.
    public var from: String?
    public var to: String?
    public var weight: Int32?
    public var reason: String?
    /// repair (put back after a change made behind directord's back), start, stop.
    public var phase: String?
    public var message: String

    public init(
        time: Double, type: String, service: String? = nil, real: String? = nil, from: String? = nil,
        to: String? = nil, weight: Int32? = nil, reason: String? = nil, phase: String? = nil, message: String
    ) {
        self.time = time
        self.type = type
        self.service = service
        self.real = real
        self.from = from
        self.to = to
        self.weight = weight
        self.reason = reason
        self.phase = phase
        self.message = message
    }
}

extension DirectorEvent {
    /// The event as `directord events` prints it; nil for what is not a change (soft
    /// failures are, a first check's reason is not).
    public func controlEvent(time: Double, phase: DirectorEvent.Phase? = nil) -> ControlEvent? {
        func event(
            _ type: String, _ service: ServiceKey, _ real: Endpoint? = nil, from: String? = nil, to: String? = nil,
            weight: Int32? = nil, reason: String? = nil, phase: Phase? = phase
        ) -> ControlEvent {
            ControlEvent(
                time: time, type: type, service: service.virtualID, real: real.map { "\($0)" }, from: from, to: to,
                weight: weight, reason: reason, phase: phase?.rawValue, message: message)
        }
        switch self {
        case .virtualServiceAdded(let key): return event("virtual_service_added", key)
        case .virtualServiceChanged(let key): return event("virtual_service_changed", key)
        case .virtualServicePurged(let key, let purgePhase):
            return event("virtual_service_purged", key, phase: purgePhase)
        case .realServerAdded(let real, let key, let weight, let reason):
            return event("real_server_added", key, real, from: "down", to: "up", weight: weight, reason: reason)
        case .realServerRestored(let real, let key, let weight, let reason):
            return event("real_server_restored", key, real, to: "up", weight: weight, reason: reason)
        case .realServerQuiesced(let real, let key, let reason):
            return event("real_server_quiesced", key, real, from: "up", to: "down", weight: 0, reason: reason)
        case .realServerReaddedQuiescent(let real, let key, let reason):
            return event("real_server_readded_quiescent", key, real, to: "down", weight: 0, reason: reason)
        case .realServerDeleted(let real, let key, let reason):
            return event("real_server_deleted", key, real, from: "up", to: "down", reason: reason)
        case .realServerPurged(let real, let key, let purgePhase):
            return event("real_server_purged", key, real, phase: purgePhase)
        case .fallbackAdded(let server, let key): return event("fallback_added", key, server, weight: 1)
        case .fallbackRestored(let server, let key): return event("fallback_restored", key, server, weight: 1)
        case .fallbackDeleted(let server, let key): return event("fallback_deleted", key, server)
        case .softFailure(let real, let virtualID, let count, let limit, let reason):
            return ControlEvent(
                time: time, type: "soft_failure", service: virtualID, real: "\(real)",
                reason: "\(reason) (\(count)/\(limit))",
                message: message)
        case .softFailureReset: return nil
        case .firstCheckFailed: return nil
        case .localFaultBegan(let fault, _, _):
            return ControlEvent(time: time, type: "local_fault_began", reason: fault, message: message)
        case .localFaultEnded(let fault, _, _):
            return ControlEvent(time: time, type: "local_fault_ended", reason: fault, message: message)
        case .ejectionLimitHolds(let real, let key, let percent, let reason):
            return event(
                "real_server_held_by_maxejection", key, real, to: "up", reason: "\(reason) (maxejection=\(percent)%)")
        case .realServerDrained(let real, let key, let origin):
            return event("real_server_drained", key, real, to: "drained", weight: 0, reason: origin.rawValue)
        case .realServerUndrained(let real, let key, let origin):
            return event("real_server_undrained", key, real, from: "drained", reason: origin.rawValue)
        case .slowStartBegan(let real, let key, let weight, let seconds):
            return event("slow_start_began", key, real, to: "up", weight: weight, reason: "slowstart=\(seconds)")
        case .realServerRamped(let real, let key, let weight, let full):
            return event(weight == full ? "slow_start_ended" : "slow_start_step", key, real, to: "up", weight: weight)
        case .checkPathChanged: return nil
        case .agentReported(let real, let key, let reply, let effect):
            return event("agent_reported", key, real, reason: "\(reply): \(effect)")
        case .realServerDraining(let real, let key, let seconds, let why):
            return event(
                "real_server_draining", key, real, to: "draining", weight: 0,
                reason: "\(why.rawValue), draintimeout=\(seconds)")
        }
    }
}

extension StatusReport {
    /// `directord events --since-start`: one `state` event per real server, first.
    public func stateEvents(time: Double) -> [ControlEvent] {
        virtualServices.flatMap { service in
            service.realServers.map { real in
                ControlEvent(
                    time: time, type: "state", service: service.id, real: real.endpoint, to: real.state,
                    weight: real.kernelWeight, reason: real.drained.map { "drained: \($0)" } ?? real.reason,
                    message: "\(real.endpoint) (\(service.id)): \(real.state)")
            }
        }
    }
}
