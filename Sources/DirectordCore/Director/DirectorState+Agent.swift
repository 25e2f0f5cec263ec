/// HAProxy's agent-check (`agentport=PORT`): each real server's agent is asked, every
/// `agentinterval`, for a weight share or a state, and the table follows its answer on top of
/// the health checks (AgentReply has the words).
///
/// The rules, as the README states them:
/// - A share sets the weight to that share of the configured one, rounded up, at least 1
///   unless 0%: each answer replaces the last, nothing accumulates (keepalived's script
///   weights, issue 2720, grow without bound).
/// - `drain` (or 0%) keeps the server at weight 0; `maint` and `down` take it out (weight 0
///   with `quiescent=yes`); such a server does not count as up for the fallback server.
/// - The agent only ever holds a server back: its checks still decide whether it is up. An
///   agent that cannot be reached changes nothing (the checks test the server), and `status -v`
///   says so.
/// - A slow start ramps to the agent's weight.
extension DirectorState {
    public struct AgentState: Hashable, Sendable {
        public var percent: Int?
        public var administrative: AgentReply.Administrative = .ready
        public var down = false
        /// The last answer, as the agent wrote it; why the last query got none, if it did not.
        public var lastReply: String?
        public var unreachable: String?

        /// What the table makes of it, for a real server of `configured` weight.
        func effect(configured: Int32) -> AgentEffect {
            if down || administrative == .maint { return .out }
            if administrative == .drain { return .weight(0) }
            guard let percent else { return .unchanged }
            if percent == 0 || configured == 0 { return .weight(0) }
            return .weight(Int32(max(1, (Int64(configured) * Int64(percent) + 99) / 100)))
        }

        /// The state in a few words, for log lines and `status -v`.
        func summary(configured: Int32) -> String {
            if down { return "down: out of the table until it says up" }
            if administrative == .maint { return "maint: out of the table until it says ready" }
            if administrative == .drain { return "drain: weight 0 until it says ready" }
            if let percent { return "\(percent)%: weight \(effect(configured: configured).weight ?? configured)" }
            return "ready: weight \(configured)"
        }
    }

    enum AgentEffect: Equatable {
        case unchanged
        case weight(Int32)
        case out

        var weight: Int32? {
            if case .weight(let value) = self { return value }
            return nil
        }
    }

    /// Records an agent's answer (or its absence) for the real servers it speaks for.
    /// - Returns: a line per real server whose agent changed what the table makes of it.
    public mutating func recordAgent(_ result: CheckResult, for refs: [RealServerRef]) -> [DirectorEvent] {
        var events: [DirectorEvent] = []
        for ref in refs {
            guard let real = realServer(ref)?.1 else { continue }
            var agent = agents[ref] ?? AgentState()
            guard let reply = AgentReply(result: result) else {
                agent.unreachable = result.reason
                agents[ref] = agent
                continue
            }
            let configured = Int32(clamping: real.weight)
            let before = agents[ref].map { $0.effect(configured: configured) } ?? .unchanged
            if let percent = reply.percent { agent.percent = percent }
            if let administrative = reply.administrative { agent.administrative = administrative }
            switch reply.operational {
            case .up?: agent.down = false
            case .down?: agent.down = true
            case nil: break
            }
            let line = String(result.reason.dropFirst(AgentReply.reasonPrefix.count))
            agent.lastReply = line
            agent.unreachable = nil
            agents[ref] = agent
            guard agent.effect(configured: configured) != before else { continue }
            needsReconcile = true
            events.append(
                .agentReported(
                    ref.endpoint, in: ref.service, reply: line, effect: agent.summary(configured: configured)))
        }
        return events
    }

    /// What the agent makes of an up real server of `configured` weight.
    func agentEffect(_ ref: RealServerRef, configured: Int32) -> AgentEffect {
        agents[ref]?.effect(configured: configured) ?? .unchanged
    }

    /// Whether the agent lets an up real server count as up (not out, not at weight 0).
    func agentCountsUp(_ ref: RealServerRef, configured: Int) -> Bool {
        switch agentEffect(ref, configured: Int32(clamping: configured)) {
        case .out, .weight(0): false
        default: true
        }
    }

    /// Why the agent holds a real server back, for the log line of its table change; nil when
    /// it does not.
    func agentReason(_ ref: RealServerRef) -> String? {
        guard let agent = agents[ref], let real = realServer(ref)?.1 else { return nil }
        let configured = Int32(clamping: real.weight)
        guard agent.effect(configured: configured) != .unchanged else { return nil }
        return "agent says \(agent.summary(configured: configured))"
    }

    /// After a reload: agents of real servers no longer configured, or whose service has no
    /// agent any more, are forgotten.
    mutating func keepAgentsStillConfigured() {
        agents = agents.filter { ref, _ in realServer(ref)?.0.agentPort != nil }
    }

    /// The agent's line for `status -v`.
    func agentStatus(_ ref: RealServerRef, configured: Int32) -> String? {
        guard let agent = agents[ref] else { return nil }
        if let unreachable = agent.unreachable {
            return "unreachable (\(unreachable))" + (agent.lastReply.map { "; last said \"\($0)\"" } ?? "")
        }
        return "\"\(agent.lastReply ?? "")\": \(agent.summary(configured: configured))"
    }
}
