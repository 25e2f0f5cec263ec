import DirectordCore
import Testing

/// `slowstart` and `draintimeout` as a specification: the weights the director wants while a
/// returning server ramps, and the entries it keeps while a removed one drains.
@Suite("Slow start and drain on removal")
struct SlowStartAndDepartureTests {
    static let up = HealthPolicyTests.up
    static let down = HealthPolicyTests.down
    static let vip = HealthPolicyTests.vip
    static func ref(_ last: Int) -> RealServerRef { HealthPolicyTests.ref(last) }

    /// Three real servers of weight 100 (or `weights`), all up and in the kernel's table.
    static func running(_ extra: [String], weights: [Int] = [100, 100, 100]) throws -> DirectorState {
        let lines =
            ["virtual=10.0.0.10:80"]
            + weights.enumerated().map { "\treal=10.0.0.\($0.offset + 1):80 masq \($0.element)" }
            + ["\tservice=http"] + extra.map { "\t" + $0 }
        let configuration = try testParser.configuration(from: lines.joined(separator: "\n"), file: "s.cf").0
        var state = DirectorState(configuration: configuration, observed: IPVSTable())
        state.advanceClock(to: 1000)
        for index in weights.indices { _ = state.record(up, for: [ref(index + 1)]) }
        apply(&state)
        return state
    }

    static func configuration(_ lines: [String]) throws -> Configuration {
        try testParser.configuration(from: lines.joined(separator: "\n"), file: "r.cf").0
    }

    /// Reconciles as the daemon does, every operation accepted; the events' messages.
    @discardableResult
    static func apply(_ state: inout DirectorState) -> [String] {
        let plan = state.takeReconciliation(phase: .repair)
        state.commit(plan)
        return plan.events.map(\.message)
    }

    static func weights(_ state: DirectorState) -> [String: Int32] {
        Dictionary(uniqueKeysWithValues: state.observed.destinations(of: vip).map { ("\($0.address)", $0.weight) })
    }

    // MARK: Slow start

    @Test("the ramp: at least 1, rounded up, at most 20 steps, full at the end of the window")
    func rampWeights() {
        #expect(DirectorState.rampWeight(full: 100, elapsed: 0, seconds: 20) == 5)
        #expect(DirectorState.rampWeight(full: 100, elapsed: 9.9, seconds: 20) == 50)
        #expect(DirectorState.rampWeight(full: 100, elapsed: 19.5, seconds: 20) == 100)
        #expect(DirectorState.rampWeight(full: 100, elapsed: 20, seconds: 20) == 100)
        #expect(DirectorState.rampWeight(full: 3, elapsed: 0, seconds: 60) == 1)
        #expect(DirectorState.rampWeight(full: 1, elapsed: 0, seconds: 60) == 1)
        let steps = Set(
            stride(from: 0.0, to: 600, by: 0.25).map { DirectorState.rampWeight(full: 1000, elapsed: $0, seconds: 600) }
        )
        #expect(steps.count == DirectorState.rampSteps)
        // Never down as time goes on.
        let ramp = stride(from: 0.0, through: 30, by: 0.5).map {
            DirectorState.rampWeight(full: 7, elapsed: $0, seconds: 30)
        }
        #expect(ramp == ramp.sorted())
    }

    @Test("a server its checks bring back ramps over the window, said when it begins and ends")
    func returningServerRamps() throws {
        var state = try Self.running(["slowstart=20", "scheduler=wlc"])
        // At start nothing ramps: every server went in at its weight.
        #expect(Self.weights(state) == ["10.0.0.1": 100, "10.0.0.2": 100, "10.0.0.3": 100])
        #expect(!state.rampsUnderWay)
        _ = state.record(Self.down, for: [Self.ref(2)])
        Self.apply(&state)
        state.advanceClock(to: 1010)
        let began = state.record(Self.up, for: [Self.ref(2)])
        #expect(
            began.map(\.message).filter { $0.hasPrefix("Slow start") } == [
                "Slow start of real server: 10.0.0.2:80 (10.0.0.10:80) (ramps to weight 100 over 20 s)"
            ])
        #expect(Self.apply(&state).first?.hasPrefix("Added real server: 10.0.0.2:80") == true)
        #expect(Self.weights(state)["10.0.0.2"] == 5)
        var seen: [Int32] = []
        var lines: [String] = []
        for second in 0...22 {
            state.advanceClock(to: 1010 + Double(second))
            if state.needsReconcile { lines += Self.apply(&state) }
            seen.append(Self.weights(state)["10.0.0.2"] ?? -1)
        }
        #expect(seen == seen.sorted())
        #expect(seen.first == 5)
        #expect(seen[10] == 55)
        #expect(seen.last == 100)
        #expect(lines.last == "Slow start ended: 10.0.0.2:80 (10.0.0.10:80) (weight=100)")
        #expect(!state.rampsUnderWay)
        // The others kept their weight throughout.
        #expect(Self.weights(state)["10.0.0.1"] == 100)
    }

    @Test("no ramp for a first check, for a hashing scheduler, without slowstart; a failure ends it")
    func whenNotRamped() throws {
        // First verdict: in at its weight.
        let fresh = try Self.running(["slowstart=20"])
        #expect(Self.weights(fresh) == ["10.0.0.1": 100, "10.0.0.2": 100, "10.0.0.3": 100])
        for extra in [["slowstart=20", "scheduler=sh"], []] {
            var state = try Self.running(extra)
            _ = state.record(Self.down, for: [Self.ref(1)])
            Self.apply(&state)
            #expect(!state.record(Self.up, for: [Self.ref(1)]).contains { $0.message.hasPrefix("Slow start") })
            Self.apply(&state)
            #expect(Self.weights(state)["10.0.0.1"] == 100, "\(extra)")
        }
        var state = try Self.running(["slowstart=20"])
        _ = state.record(Self.down, for: [Self.ref(1)])
        _ = state.record(Self.up, for: [Self.ref(1)])
        #expect(state.rampsUnderWay)
        _ = state.record(Self.down, for: [Self.ref(1)])
        #expect(!state.rampsUnderWay)
    }

    @Test("status -v shows a ramp under way")
    func statusShowsRamp() throws {
        var state = try Self.running(["slowstart=20"])
        _ = state.record(Self.down, for: [Self.ref(3)])
        Self.apply(&state)
        _ = state.record(Self.up, for: [Self.ref(3)])
        state.advanceClock(to: 2000)
        Self.apply(&state)
        state.advanceClock(to: 2004)
        Self.apply(&state)
        let text = state.statusReport(pid: 1, configuration: "s.cf", daemonStatus: "running").text
        #expect(text.contains("10.0.0.3:80  up (weight 25, slow start: weight 25 of 100, 4 s of 20)"), "\(text)")
    }

    // MARK: Drain on removal

    @Test("a real server a reload removes stays at weight 0 until idle, then leaves with its reason")
    func removedServerDrains() throws {
        var state = try Self.running(["draintimeout=30"])
        state.reload(
            try Self.configuration([
                "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 masq 100",
                "\treal=10.0.0.3:80 masq 100", "\tservice=http", "\tdraintimeout=30",
            ]))
        #expect(state.departuresAwaitingIdle == [Self.ref(2)])
        #expect(
            Self.apply(&state) == [
                "Draining real server: 10.0.0.2:80 (10.0.0.10:80) (removed from the configuration: weight 0 until its last connection ends, at most 30 s)"
            ])
        #expect(Self.weights(state) == ["10.0.0.1": 100, "10.0.0.2": 0, "10.0.0.3": 100])
        state.advanceClock(to: 1005)
        // Busy: it stays.
        state.endIdleDepartures(connections: [Self.ref(2): 3], now: 1010)
        #expect(Self.apply(&state).isEmpty)
        #expect(Self.weights(state)["10.0.0.2"] == 0)
        let status = state.statusReport(pid: 1, configuration: "s.cf", daemonStatus: "running").text
        #expect(status.contains("10.0.0.2:80  draining (weight 0, removed from the configuration"), "\(status)")
        // Idle: it goes.
        state.endIdleDepartures(connections: [Self.ref(2): 0], now: 1012)
        #expect(Self.apply(&state) == ["Deleted real server: 10.0.0.2:80 (10.0.0.10:80)"])
        #expect(Self.weights(state) == ["10.0.0.1": 100, "10.0.0.3": 100])
        #expect(state.departures.isEmpty)
    }

    @Test("at the timeout it leaves although busy, saying how many connections it had")
    func timeoutReached() throws {
        var state = try Self.running(["draintimeout=30"])
        state.reload(
            try Self.configuration([
                "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 masq 100", "\tservice=http", "\tdraintimeout=30",
            ]))
        Self.apply(&state)
        state.advanceClock(to: 1100)
        state.endIdleDepartures(connections: [Self.ref(2): 2, Self.ref(3): 1], now: 1129)
        #expect(Self.apply(&state).isEmpty)
        state.endIdleDepartures(connections: [Self.ref(2): 2, Self.ref(3): 1], now: 1130)
        let plan = state.takeReconciliation(phase: .repair)
        #expect(
            plan.events.compactMap(\.reasonMessage) == [
                "Check of real server 10.0.0.2:80 (10.0.0.10:80): removed from the configuration; draintimeout=30 reached with 2 connections left",
                "Check of real server 10.0.0.3:80 (10.0.0.10:80): removed from the configuration; draintimeout=30 reached with 1 connection left",
            ])
    }

    @Test("a service the reload drops keeps its departing servers at weight 0, then is purged")
    func removedService() throws {
        var state = try Self.running(["draintimeout=10"])
        state.reload(try Self.configuration(["virtual=10.0.0.20:80", "\treal=10.0.0.1:80 masq 1", "\tservice=http"]))
        Self.apply(&state)
        #expect(Self.weights(state) == ["10.0.0.1": 0, "10.0.0.2": 0, "10.0.0.3": 0])
        state.endIdleDepartures(connections: [Self.ref(1): 1, Self.ref(2): 0, Self.ref(3): 0], now: 1001)
        Self.apply(&state)
        #expect(Self.weights(state) == ["10.0.0.1": 0])
        state.endIdleDepartures(connections: [:], now: 1002)
        #expect(Self.apply(&state) == ["Purged virtual server (repair): 10.0.0.10:80"])
        #expect(state.observed[Self.vip] == nil)
    }

    @Test("without draintimeout a removed server goes at once; written back, it stops departing")
    func withoutOrWrittenBack() throws {
        var state = try Self.running([])
        state.reload(try Self.configuration(["virtual=10.0.0.10:80", "\treal=10.0.0.1:80 masq 100", "\tservice=http"]))
        Self.apply(&state)
        #expect(Self.weights(state) == ["10.0.0.1": 100])

        var drained = try Self.running(["draintimeout=60"])
        drained.reload(
            try Self.configuration([
                "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 masq 100", "\tservice=http", "\tdraintimeout=60",
            ]))
        Self.apply(&drained)
        drained.reload(
            try Self.configuration([
                "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 masq 100",
                "\treal=10.0.0.2:80 masq 100", "\tservice=http", "\tdraintimeout=60",
            ]))
        #expect(drained.departuresAwaitingIdle == [Self.ref(3)])
        Self.apply(&drained)
        // Back in the file: at weight 0 until its first check passes, then at its weight.
        #expect(Self.weights(drained)["10.0.0.2"] == 0)
        _ = drained.record(Self.up, for: [Self.ref(2)])
        Self.apply(&drained)
        #expect(Self.weights(drained)["10.0.0.2"] == 100)
    }

    @Test("a clean stop sets every entry to 0 and waits while connections last, within the timeout")
    func cleanStop() throws {
        let state = try Self.running(["draintimeout=20"])
        let plan = state.shutdownDrain()
        #expect(plan.operations.count == 3)
        #expect(plan.operations.allSatisfy { if case .editDestination(let d, _) = $0 { d.weight == 0 } else { false } })
        #expect(
            plan.events.first?.message.hasSuffix("(stopping: weight 0 until its last connection ends, at most 20 s)")
                == true)
        #expect(state.shutdownDrainWaits(connections: [Self.ref(1): 1], elapsed: 5))
        #expect(!state.shutdownDrainWaits(connections: [Self.ref(1): 1], elapsed: 20))
        #expect(!state.shutdownDrainWaits(connections: [Self.ref(1): 0], elapsed: 5))
        #expect(try Self.running([]).shutdownDrain().operations.isEmpty)
        #expect(try Self.running(["draintimeout=20", "cleanstop=no"]).shutdownDrain().operations.isEmpty)
    }
}
