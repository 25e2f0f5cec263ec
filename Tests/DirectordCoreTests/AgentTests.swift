import DirectordCore
import Testing

/// HAProxy's agent-check as a specification: the words of a reply, and what the table makes of
/// them on top of the health checks.
@Suite("HAProxy agents")
struct AgentTests {
    typealias Support = SlowStartAndDepartureTests
    static func said(_ line: String) -> CheckResult {
        .up(AgentReply.reasonPrefix + line, latency: .milliseconds(1))
    }
    static let unreachable = CheckResult.down("agent: connect to 10.0.0.2:5555: Connection refused", latency: .zero)

    @Test("HAProxy's words: a share, the administrative and operational states, a description")
    func words() {
        let reply = AgentReply("75%, drain\tup # busy: 3 jobs")
        #expect(reply.percent == 75 && reply.administrative == .drain && reply.operational == .up)
        #expect(reply.description == "busy: 3 jobs")
        #expect(AgentReply("MAINT").administrative == .maint)
        #expect(AgentReply("ready").administrative == .ready)
        #expect(["down", "fail", "stopped"].allSatisfy { AgentReply($0).operational == .down })
        #expect(AgentReply("250%").percent == 100)
        #expect(AgentReply("0%").percent == 0)
        let odd = AgentReply("-5% 12 weight=3")
        #expect(odd.percent == nil && odd.unknown == ["-5%", "12", "weight=3"])
        #expect(AgentReply(result: Self.unreachable) == nil)
    }

    static func state() throws -> DirectorState {
        try Support.running(["agentport=5555"], weights: [100, 100, 100])
    }

    @Test("each answer replaces the last: the weight is the share of the configured one, never accumulated")
    func shares() throws {
        var state = try Self.state()
        let events = state.recordAgent(Self.said("50%"), for: [Support.ref(2)])
        #expect(
            events.map(\.message) == ["Agent of real server: 10.0.0.2:80 (10.0.0.10:80) said \"50%\": 50%: weight 50"])
        Support.apply(&state)
        #expect(Support.weights(state) == ["10.0.0.1": 100, "10.0.0.2": 50, "10.0.0.3": 100])
        // The same answer again: nothing to say, nothing to change.
        #expect(state.recordAgent(Self.said("50%"), for: [Support.ref(2)]).isEmpty)
        _ = state.recordAgent(Self.said("50%"), for: [Support.ref(2)])
        Support.apply(&state)
        #expect(Support.weights(state)["10.0.0.2"] == 50)
        _ = state.recordAgent(Self.said("1%"), for: [Support.ref(2)])
        Support.apply(&state)
        #expect(Support.weights(state)["10.0.0.2"] == 1)
        _ = state.recordAgent(Self.said("100%"), for: [Support.ref(2)])
        Support.apply(&state)
        #expect(Support.weights(state)["10.0.0.2"] == 100)
    }

    @Test("drain keeps it at weight 0, maint and down take it out, ready and up end them")
    func states() throws {
        var state = try Self.state()
        _ = state.recordAgent(Self.said("drain"), for: [Support.ref(1)])
        Support.apply(&state)
        #expect(Support.weights(state)["10.0.0.1"] == 0)
        _ = state.recordAgent(Self.said("maint"), for: [Support.ref(1)])
        let lines = Support.apply(&state)
        #expect(Support.weights(state)["10.0.0.1"] == nil)
        #expect(lines == ["Deleted real server: 10.0.0.1:80 (10.0.0.10:80)"])
        _ = state.recordAgent(Self.said("ready"), for: [Support.ref(1)])
        Support.apply(&state)
        #expect(Support.weights(state)["10.0.0.1"] == 100)
        _ = state.recordAgent(Self.said("down#disk full"), for: [Support.ref(3)])
        let plan = state.takeReconciliation(phase: .repair)
        #expect(
            plan.events.compactMap(\.reasonMessage) == [
                "Check of real server 10.0.0.3:80 (10.0.0.10:80): agent says down: out of the table until it says up"
            ])
        state.commit(plan)
        // A share alone does not bring a server the agent said down back.
        _ = state.recordAgent(Self.said("80%"), for: [Support.ref(3)])
        Support.apply(&state)
        #expect(Support.weights(state)["10.0.0.3"] == nil)
        _ = state.recordAgent(Self.said("up"), for: [Support.ref(3)])
        Support.apply(&state)
        #expect(Support.weights(state)["10.0.0.3"] == 80)
    }

    @Test("the agent never brings in a server its checks took out; an unreachable agent changes nothing")
    func checksStillDecide() throws {
        var state = try Self.state()
        _ = state.record(Support.down, for: [Support.ref(2)])
        _ = state.recordAgent(Self.said("up 100%"), for: [Support.ref(2)])
        Support.apply(&state)
        #expect(Support.weights(state)["10.0.0.2"] == nil)
        _ = state.recordAgent(Self.said("40%"), for: [Support.ref(1)])
        #expect(state.recordAgent(Self.unreachable, for: [Support.ref(1)]).isEmpty)
        Support.apply(&state)
        #expect(Support.weights(state)["10.0.0.1"] == 40)
        let text = state.statusReport(pid: 1, configuration: "a.cf", daemonStatus: "running").text
        #expect(
            text.contains(
                "agent: unreachable (agent: connect to 10.0.0.2:5555: Connection refused); last said \"40%\""),
            "\(text)")
    }

    @Test("every server drained or out by its agent: the fallback server goes in")
    func fallback() throws {
        let lines = [
            "fallback=127.0.0.1:80", "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 masq 10",
            "\treal=10.0.0.2:80 masq 10", "\tservice=http", "\tagentport=5555",
        ]
        let configuration = try testParser.configuration(from: lines.joined(separator: "\n"), file: "f.cf").0
        var state = DirectorState(configuration: configuration, observed: IPVSTable())
        for index in 1...2 { _ = state.record(Support.up, for: [Support.ref(index)]) }
        Support.apply(&state)
        _ = state.recordAgent(Self.said("drain"), for: [Support.ref(1)])
        _ = state.recordAgent(Self.said("maint"), for: [Support.ref(2)])
        Support.apply(&state)
        #expect(Support.weights(state) == ["10.0.0.1": 0, "127.0.0.1": 1])
    }

    @Test("agent queries are scheduled every agentinterval, one per real server and port")
    func scheduled() throws {
        let state = try Support.running(["agentport=5555", "agentinterval=3"])
        let agents = state.scheduledChecks.filter(\.check.agent)
        #expect(agents.count == 3)
        #expect(agents.allSatisfy { $0.interval == .seconds(3) && $0.check.port == 5555 })
        #expect(state.scheduledChecks.filter { !$0.check.agent }.allSatisfy { $0.interval == .seconds(10) })
        #expect(try Support.running([]).scheduledChecks.allSatisfy { !$0.check.agent })
    }
}
