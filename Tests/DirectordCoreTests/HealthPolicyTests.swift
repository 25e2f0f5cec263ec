import DirectordCore
import Testing

/// directord's health policy as a specification: `risecount` in a server's health,
/// `maxejection` in the table the director wants, `downinterval` in the schedule.
@Suite("Health policy")
struct HealthPolicyTests {
    static let up = CheckResult.up("HTTP 200", latency: .milliseconds(1))
    static let down = CheckResult.down("HTTP 503", latency: .milliseconds(1))

    @Test("risecount: a server its checks took out needs N passes in a row; a failure starts over")
    func riseCount() {
        var health = RealServerHealth(state: .down, reason: "not checked yet")
        // Its first check brings a new server in at once, as ldirectord does.
        #expect(health.record(Self.up, failureCount: 1, riseCount: 3) == [.wentUp(reason: "HTTP 200")])
        #expect(health.record(Self.down, failureCount: 1, riseCount: 3) == [.wentDown(reason: "HTTP 503")])
        // The first pass resets the failure count, as it does when one pass brings it back.
        #expect(health.record(Self.up, failureCount: 1, riseCount: 3) == [.softFailuresReset])
        #expect(health.state == .down)
        #expect(health.reason == "HTTP 200 (pass 1 of 3 to come back)")
        #expect(health.record(Self.down, failureCount: 1, riseCount: 3) == [])
        #expect(health.passes == 0)
        #expect(health.record(Self.up, failureCount: 1, riseCount: 3) == [])
        #expect(health.record(Self.up, failureCount: 1, riseCount: 3) == [])
        #expect(health.record(Self.up, failureCount: 1, riseCount: 3) == [.wentUp(reason: "HTTP 200")])
        #expect(health.state == .up)
        #expect(health.passes == 0)
    }

    @Test("risecount: back from maintenance, one pass is enough (the operator took it out)")
    func riseAfterMaintenance() {
        var health = RealServerHealth(state: .up, reason: "trusted")
        _ = health.record(Self.down, failureCount: 1, riseCount: 5)
        _ = health.enterMaintenance()
        health.leaveMaintenance()
        #expect(health.record(Self.up, failureCount: 1, riseCount: 5) == [.wentUp(reason: "HTTP 200")])
    }

    static let vip = ServiceKey.inet(.tcp, IPAddress("10.0.0.10")!, port: 80)
    static func ref(_ last: Int) -> RealServerRef {
        RealServerRef(service: vip, destination: IPVSDestination.Key(address: IPAddress("10.0.0.\(last)")!, port: 80))
    }

    static func fourServers(_ extra: String...) throws -> DirectorState {
        let lines =
            ["fallback=127.0.0.1:80", "virtual=10.0.0.10:80"] + (1...4).map { "\treal=10.0.0.\($0):80 gate 5" }
            + ["\tservice=http"] + extra.map { "\t" + $0 }
        let configuration = try testParser.configuration(from: lines.joined(separator: "\n"), file: "p.cf").0
        var state = DirectorState(configuration: configuration, observed: IPVSTable())
        for index in 1...4 { _ = state.record(up, for: [ref(index)]) }
        return state
    }

    static func weights(_ state: DirectorState) -> [String: Int32] {
        Dictionary(
            uniqueKeysWithValues: state.desiredTable().destinations(of: vip).map { ("\($0.address)", $0.weight) })
    }

    @Test("maxejection=50%: two of four out; the third and fourth to fail stay in at their weight, said loudly")
    func maxEjection() throws {
        var state = try Self.fourServers("maxejection=50")
        #expect(state.record(Self.down, for: [Self.ref(1)]).isEmpty)
        #expect(state.record(Self.down, for: [Self.ref(2)]).isEmpty)
        #expect(Self.weights(state) == ["10.0.0.3": 5, "10.0.0.4": 5])
        let held = state.record(Self.down, for: [Self.ref(3)])
        #expect(
            held.map(\.message) == [
                "Kept real server: 10.0.0.3:80 (10.0.0.10:80): its checks fail (HTTP 503), but maxejection=50% of the service's real servers are out already"
            ])
        #expect(Self.weights(state) == ["10.0.0.3": 5, "10.0.0.4": 5])
        _ = state.record(Self.down, for: [Self.ref(4)])
        // Every check fails: no fallback, the two that failed last still carry the traffic.
        #expect(Self.weights(state) == ["10.0.0.3": 5, "10.0.0.4": 5])
        #expect(state.ejectionHeld(state.configuration.virtualServices[0]) == [Self.ref(3), Self.ref(4)])
        let report = state.statusReport(pid: 1, configuration: "p.cf", daemonStatus: "running")
        #expect(report.text.contains("10.0.0.4:80  down (not in the table, held in by maxejection)"))
        #expect(
            state.metricsView(
                kernel: IPVSSnapshot(info: IPVSInfo(version: 0x010201, connectionTableSize: 4096), services: [])
            ).realServers.filter(\.ejectionHeld).count == 2)

        // The first one back: one fewer may stay out, so the last to fail is held in alone.
        _ = state.record(Self.up, for: [Self.ref(1)])
        #expect(Self.weights(state) == ["10.0.0.1": 5, "10.0.0.4": 5])
    }

    @Test("without maxejection, every failed server goes and the fallback comes in, as in ldirectord")
    func noLimit() throws {
        var state = try Self.fourServers()
        for index in 1...4 { _ = state.record(Self.down, for: [Self.ref(index)]) }
        #expect(Self.weights(state) == ["127.0.0.1": 1])
        #expect(state.ejectionHeld(state.configuration.virtualServices[0]).isEmpty)
    }

    @Test("maxejection=0 keeps every server that has carried traffic; one never up is not held in")
    func maxEjectionZero() throws {
        let lines = [
            "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate", "\treal=10.0.0.2:80 gate", "\tservice=http",
            "\tmaxejection=0",
        ]
        let configuration = try testParser.configuration(from: lines.joined(separator: "\n"), file: "p.cf").0
        var state = DirectorState(configuration: configuration, observed: IPVSTable())
        _ = state.record(Self.up, for: [Self.ref(1)])
        _ = state.record(Self.down, for: [Self.ref(2)])  // its first check: it never carried traffic
        _ = state.record(Self.down, for: [Self.ref(1)])
        #expect(Self.weights(state) == ["10.0.0.1": 1])
    }

    @Test("downinterval: a check whose servers are all down runs at its own interval")
    func downInterval() throws {
        let lines = [
            "checkinterval=2", "downinterval=30", "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate", "\tservice=http",
        ]
        let configuration = try testParser.configuration(from: lines.joined(separator: "\n"), file: "p.cf").0
        var state = DirectorState(configuration: configuration, observed: IPVSTable())
        let scheduled = try #require(state.scheduledChecks.first)
        #expect(scheduled.interval == .seconds(2))
        #expect(scheduled.downInterval == .seconds(30))
        var schedule = CheckSchedule()
        let start = ContinuousClock.now
        schedule.update([scheduled], now: start)
        let id = try #require(schedule.entries.keys.first)

        // Pending (never checked) is not "down": the next check is one checkinterval later.
        #expect(!state.allDown([Self.ref(1)]))
        _ = state.record(Self.up, for: [Self.ref(1)])
        _ = state.record(Self.down, for: [Self.ref(1)])
        #expect(state.allDown([Self.ref(1)]))
        let due = start + .seconds(5)
        _ = schedule.takeDue(now: due)
        _ = schedule.begin(id, now: due)
        schedule.finished(id, result: Self.down, now: due, down: state.allDown([Self.ref(1)]))
        #expect(schedule.entries[id]?.due == due + .seconds(30))
        _ = schedule.begin(id, now: due + .seconds(30))
        schedule.finished(id, result: Self.up, now: due + .seconds(30), down: false)
        #expect(schedule.entries[id]?.due == due + .seconds(32))
    }
}

/// Failures that are the director's own: set aside when nearly every check fails with them.
@Suite("Local faults")
struct LocalFaultTests {
    static let unreachable = CheckResult.down(
        "connect to http://10.0.0.1:80/: Network is unreachable", latency: .milliseconds(1))

    @Test("every check failing with \"Network is unreachable\": nothing is taken out, one error line, then back")
    func wholeDirector() throws {
        var state = try HealthPolicyTests.fourServers()
        for index in 1...3 {
            #expect(state.record(Self.unreachable, for: [HealthPolicyTests.ref(index)]).isEmpty)
        }
        let began = state.record(Self.unreachable, for: [HealthPolicyTests.ref(4)])
        #expect(
            began.map(\.message) == [
                "Checks of 4 of 4 real servers fail with \"Network is unreachable\": a fault of this director, not of the real servers; such results are set aside and the table is kept until most checks stop failing so"
            ])
        #expect(state.localFaultFreeze == "Network is unreachable")
        let report = state.statusReport(pid: 1, configuration: "p.cf", daemonStatus: "running")
        #expect(report.text.contains("checks failing with \"Network is unreachable\", a fault of this director"))
        let kernel = IPVSSnapshot(info: IPVSInfo(version: 0x010201, connectionTableSize: 4096), services: [])
        #expect(state.metricsView(kernel: kernel).localFault)
        // A second round changes nothing either: every server still in, no fallback.
        for index in 1...4 { _ = state.record(Self.unreachable, for: [HealthPolicyTests.ref(index)]) }
        #expect(HealthPolicyTests.weights(state) == ["10.0.0.1": 5, "10.0.0.2": 5, "10.0.0.3": 5, "10.0.0.4": 5])
        #expect((1...4).allSatisfy { state.health(of: HealthPolicyTests.ref($0))?.state == .up })

        // The network is back: once most checks pass, their results count again.
        #expect(state.record(HealthPolicyTests.up, for: [HealthPolicyTests.ref(1)]).isEmpty)
        #expect(state.record(HealthPolicyTests.up, for: [HealthPolicyTests.ref(2)]).isEmpty)
        let ended = state.record(HealthPolicyTests.up, for: [HealthPolicyTests.ref(3)])
        #expect(ended.map(\.message).first?.hasPrefix("Checks no longer fail with \"Network is unreachable\"") == true)
        #expect(state.localFaultFreeze == nil)
    }

    @Test("servers not checked yet are not spared: a quiescent service places them at weight 0, as ldirectord")
    func pendingServers() throws {
        let lines = [
            "quiescent=yes", "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate", "\treal=10.0.0.2:80 gate",
            "\tservice=http",
        ]
        let configuration = try testParser.configuration(from: lines.joined(separator: "\n"), file: "q.cf").0
        var state = DirectorState(configuration: configuration, observed: IPVSTable())
        _ = state.record(Self.unreachable, for: [HealthPolicyTests.ref(1)])
        let events = state.record(Self.unreachable, for: [HealthPolicyTests.ref(2)])
        // The director cannot reach any server: said once; the table is ldirectord's.
        #expect(events.contains { $0.message.hasPrefix("Checks of 2 of 2 real servers fail") })
        #expect(HealthPolicyTests.weights(state) == ["10.0.0.1": 0, "10.0.0.2": 0])
    }

    @Test("one server failing so, the others passing: its failure counts, one check interval late")
    func oneServer() throws {
        var state = try HealthPolicyTests.fourServers()
        _ = state.record(Self.unreachable, for: [HealthPolicyTests.ref(2)])
        #expect(state.health(of: HealthPolicyTests.ref(2))?.state == .up)
        for index in [1, 3, 4] { _ = state.record(HealthPolicyTests.up, for: [HealthPolicyTests.ref(index)]) }
        _ = state.record(Self.unreachable, for: [HealthPolicyTests.ref(2)])
        #expect(state.health(of: HealthPolicyTests.ref(2))?.state == .down)
        #expect(state.localFaultFreeze == nil)
        #expect(HealthPolicyTests.weights(state) == ["10.0.0.1": 5, "10.0.0.3": 5, "10.0.0.4": 5])
    }

    @Test("a fault that begins in the middle of a round: servers checked after it are held until the round is seen")
    func midRound() throws {
        var state = try HealthPolicyTests.fourServers()
        // Round k: 1 and 2 were checked before the fault began, 3 and 4 after.
        for index in [1, 2] { _ = state.record(HealthPolicyTests.up, for: [HealthPolicyTests.ref(index)]) }
        for index in [3, 4] { _ = state.record(Self.unreachable, for: [HealthPolicyTests.ref(index)]) }
        // Round k+1: 3 and 4 fail a second time before 1 and 2 fail at all.
        var events: [DirectorEvent] = []
        for index in [3, 4, 1, 2] { events += state.record(Self.unreachable, for: [HealthPolicyTests.ref(index)]) }
        #expect(events.map(\.message).first?.hasPrefix("Checks of 4 of 4 real servers fail") == true)
        #expect((1...4).allSatisfy { state.health(of: HealthPolicyTests.ref($0))?.state == .up })
        #expect(HealthPolicyTests.weights(state) == ["10.0.0.1": 5, "10.0.0.2": 5, "10.0.0.3": 5, "10.0.0.4": 5])
    }

    @Test("a check under way when the fault began passes: its result does not end the round, nothing is taken out")
    func checkUnderWayPasses() throws {
        var state = try HealthPolicyTests.fourServers()
        // 4's check began before the fault; its connection was made in time and it passes.
        let fourBegan = state.resultsRecorded
        for index in 1...3 { _ = state.record(Self.unreachable, for: [HealthPolicyTests.ref(index)]) }
        _ = state.record(HealthPolicyTests.up, for: [HealthPolicyTests.ref(4)], checkBegan: fourBegan)
        // 1, 2 and 3 fail a second time before 4 is checked again: a round's worth of results
        // came in, but not a round of checks begun after the fault.
        for index in 1...3 { _ = state.record(Self.unreachable, for: [HealthPolicyTests.ref(index)]) }
        #expect((1...4).allSatisfy { state.health(of: HealthPolicyTests.ref($0))?.state == .up })
        let began = state.record(Self.unreachable, for: [HealthPolicyTests.ref(4)])
        #expect(began.map(\.message).first?.hasPrefix("Checks of 4 of 4 real servers fail") == true)
        #expect(HealthPolicyTests.weights(state) == ["10.0.0.1": 5, "10.0.0.2": 5, "10.0.0.3": 5, "10.0.0.4": 5])
    }

    @Test(
        "a check under way when the fault began ends only at its timeout: the others wait for its server's next check")
    func checkUnderWayHangs() throws {
        var state = try HealthPolicyTests.fourServers()
        let fourBegan = state.resultsRecorded
        // Three rounds of the others while 4's check hangs.
        for _ in 1...3 {
            for index in 1...3 { _ = state.record(Self.unreachable, for: [HealthPolicyTests.ref(index)]) }
        }
        #expect((1...3).allSatisfy { state.health(of: HealthPolicyTests.ref($0))?.state == .up })
        // Its timeout is its own failure, and counts; its next check shows the director's fault.
        let timedOut = CheckResult.down("no answer within 5 s from http://10.0.0.4/", latency: .seconds(5))
        _ = state.record(timedOut, for: [HealthPolicyTests.ref(4)], checkBegan: fourBegan)
        #expect(state.health(of: HealthPolicyTests.ref(4))?.state == .down)
        let began = state.record(Self.unreachable, for: [HealthPolicyTests.ref(4)])
        #expect(began.map(\.message).first?.hasPrefix("Checks of 4 of 4 real servers fail") == true)
        #expect(HealthPolicyTests.weights(state) == ["10.0.0.1": 5, "10.0.0.2": 5, "10.0.0.3": 5])
    }

    @Test("a server put in maintenance during the round is not waited for")
    func maintenanceInRound() throws {
        var state = try HealthPolicyTests.fourServers()
        _ = state.record(Self.unreachable, for: [HealthPolicyTests.ref(2)])
        state.setMaintenance(true, for: HealthPolicyTests.ref(4))
        for index in [1, 3] { _ = state.record(HealthPolicyTests.up, for: [HealthPolicyTests.ref(index)]) }
        _ = state.record(Self.unreachable, for: [HealthPolicyTests.ref(2)])
        #expect(state.health(of: HealthPolicyTests.ref(2))?.state == .down)
        #expect(state.localFaultFreeze == nil)
    }

    @Test("servers no check decides (checktype=on) are not in the share: the others' fault still freezes the table")
    func uncheckedServers() throws {
        let lines =
            ["virtual=10.0.0.10:80"] + (1...4).map { "\treal=10.0.0.\($0):80 gate 5" } + ["\tservice=http"]
            + ["virtual=10.0.0.11:80"] + (5...7).map { "\treal=10.0.0.\($0):80 gate 5" } + ["\tchecktype=on"]
        let configuration = try testParser.configuration(from: lines.joined(separator: "\n"), file: "u.cf").0
        var state = DirectorState(configuration: configuration, observed: IPVSTable())
        for index in 1...4 { _ = state.record(HealthPolicyTests.up, for: [HealthPolicyTests.ref(index)]) }
        var events: [DirectorEvent] = []
        for index in 1...4 { events += state.record(Self.unreachable, for: [HealthPolicyTests.ref(index)]) }
        #expect(events.map(\.message).first?.hasPrefix("Checks of 4 of 4 real servers fail") == true)
        #expect((1...4).allSatisfy { state.health(of: HealthPolicyTests.ref($0))?.state == .up })
    }

    @Test("a reload forgets the last results of servers it removes: they are not in the share")
    func reloadForgets() throws {
        var state = try HealthPolicyTests.fourServers()
        for index in 3...4 { _ = state.record(Self.unreachable, for: [HealthPolicyTests.ref(index)]) }
        // 3 and 4 leave; 10.0.0.5 and 10.0.0.6 come.
        let lines =
            ["fallback=127.0.0.1:80", "virtual=10.0.0.10:80"] + [1, 2, 5, 6].map { "\treal=10.0.0.\($0):80 gate 5" }
            + ["\tservice=http"]
        state.reload(try testParser.configuration(from: lines.joined(separator: "\n"), file: "p.cf").0)
        for index in [1, 2, 5, 6] { _ = state.record(HealthPolicyTests.up, for: [HealthPolicyTests.ref(index)]) }
        // Two of the four servers now fail so: half, not nine in ten, with or without the old
        // two. Their failures count once a round begun after their first has ended: 1's after
        // one round, 2's (whose first came in that round) after the next.
        var events: [DirectorEvent] = []
        for _ in 1...3 {
            for index in [1, 2] { events += state.record(Self.unreachable, for: [HealthPolicyTests.ref(index)]) }
            for index in [5, 6] { events += state.record(HealthPolicyTests.up, for: [HealthPolicyTests.ref(index)]) }
        }
        #expect(events.allSatisfy { !$0.message.hasPrefix("Checks of") })
        #expect(state.localFaultFreeze == nil)
        #expect(HealthPolicyTests.weights(state) == ["10.0.0.5": 5, "10.0.0.6": 5])
    }

    @Test("a refused connection is the server's fault, not the director's: counted at once")
    func notLocal() throws {
        var state = try HealthPolicyTests.fourServers()
        let refused = CheckResult.down("connect to http://10.0.0.2:80/: Connection refused", latency: .zero)
        #expect(DirectorState.localFault(of: refused) == nil)
        _ = state.record(refused, for: [HealthPolicyTests.ref(2)])
        #expect(state.health(of: HealthPolicyTests.ref(2))?.state == .down)
    }
}
