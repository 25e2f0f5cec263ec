import DirectordCore
import Testing

/// The check schedule as a specification: time is an argument the test moves; nothing sleeps.
@Suite("The check schedule")
struct CheckScheduleTests {
    /// `count` connect checks of distinct real servers, every `interval` seconds.
    static func checks(_ count: Int, interval: Int = 1, firstPort: Int = 1000) throws -> [ScheduledCheck] {
        let reals = (0..<count).map { "\treal=127.0.0.1:\(firstPort + $0) masq" }
        let text =
            (["checkinterval=\(interval)", "virtual=10.0.0.10:80"] + reals + ["\tchecktype=connect"])
            .joined(separator: "\n") + "\n"
        let configuration = try #require(testParser.parse(text, file: "test.cf").configuration)
        return DirectorState(configuration: configuration, observed: IPVSTable()).scheduledChecks
    }

    static let t0 = ContinuousClock.now
    static let up = CheckResult.up("fine", latency: .zero)

    @Test("new checks first run spread over one second, then their phases spread over the interval")
    func phasesAreSpread() throws {
        let phases = CheckSchedule.phases(of: try Self.checks(4, interval: 5))
        #expect(phases.map(\.firstRun) == [.zero, .milliseconds(250), .milliseconds(500), .milliseconds(750)])
        #expect(phases.map(\.delay) == [.zero, .seconds(1), .seconds(2), .seconds(3)])
        // Second runs (first run + interval + delay): evenly over the 5 s interval.
        #expect(
            phases.map { $0.firstRun + .seconds(5) + $0.delay } == [
                .seconds(5), .milliseconds(6250), .milliseconds(7500), .milliseconds(8750),
            ])
        #expect(CheckSchedule.phases(of: []).isEmpty)
        // checkinterval=1: the first second is the interval; nothing to add.
        #expect(CheckSchedule.phases(of: try Self.checks(3)).map(\.delay) == [.zero, .zero, .zero])
    }

    @Test("200 checks: each runs once within the first second, in batches of 10 ms, never in one burst")
    func noBurst() throws {
        var schedule = CheckSchedule()
        schedule.update(try Self.checks(200), now: Self.t0)
        var started: [Duration] = []
        var wakeups = 0
        var now = Self.t0
        while let next = schedule.nextWakeup, next < Self.t0 + .seconds(1) {
            now = max(now, next)
            wakeups += 1
            for id in schedule.takeDue(now: now) {
                _ = schedule.begin(id, now: now)
                started.append(now - Self.t0)
            }
        }
        #expect(started.count == 200)
        #expect(started.max()! < .seconds(1))
        // Half of them in the second half of the second (a few up to 10 ms early, batched).
        #expect(started.filter { $0 >= .milliseconds(490) }.count >= 100)
        // Checks due within 10 ms share a wake-up: about 100, not 200.
        #expect(wakeups <= 101)
    }

    @Test("a check runs again one interval after its start; one still running waits for its end")
    func intervals() throws {
        var schedule = CheckSchedule()
        schedule.update(try Self.checks(1, interval: 3), now: Self.t0)
        let id = try #require(schedule.takeDue(now: Self.t0).first)
        let first = schedule.begin(id, now: Self.t0)
        let again = schedule.begin(id, now: Self.t0)
        #expect(first != nil)
        #expect(again == nil, "already running")
        // Still running at its next turn: nothing is due.
        let early = schedule.takeDue(now: Self.t0 + .seconds(4))
        #expect(early.isEmpty)
        schedule.finished(id, result: Self.up, now: Self.t0 + .seconds(4))
        #expect(schedule.nextWakeup == Self.t0 + .seconds(4), "late: due at once")
        let due = schedule.takeDue(now: Self.t0 + .seconds(4))
        #expect(due == [id])
        _ = schedule.begin(id, now: Self.t0 + .seconds(4))
        schedule.finished(id, result: Self.up, now: Self.t0 + .milliseconds(4100))
        #expect(schedule.nextWakeup == Self.t0 + .seconds(7), "one interval after its start")
    }

    @Test("a check kept across an update keeps its place in time; only new ones are spread")
    func updateKeepsPlaces() throws {
        var schedule = CheckSchedule()
        let checks = try Self.checks(3)
        schedule.update(checks, now: Self.t0)
        let before = schedule.entries
        schedule.update(checks + (try Self.checks(2, firstPort: 2000)), now: Self.t0 + .seconds(10))
        #expect(schedule.entries.count == 5)
        for (id, entry) in before { #expect(schedule.entries[id]?.due == entry.due) }
        let newDues = schedule.entries.filter { before[$0.key] == nil }.map(\.value.due).sorted()
        #expect(newDues == [Self.t0 + .seconds(10), Self.t0 + .seconds(10) + .milliseconds(500)])
    }

    @Test("at most maxRunning checks are in flight; a due check takes the next free slot")
    func limit() throws {
        var schedule = CheckSchedule(maxRunning: 10)
        schedule.update(try Self.checks(50), now: Self.t0)
        let late = Self.t0 + .seconds(2)
        let first = schedule.takeDue(now: late)
        #expect(first.count == 10)
        for id in first { _ = schedule.begin(id, now: late) }
        let none = schedule.takeDue(now: late)
        #expect(none.isEmpty)
        #expect(schedule.nextWakeup == nil, "no wake-up while every slot is taken")
        let saturations = (schedule.takeSaturations(), schedule.takeSaturations())
        #expect(saturations == (1, 0))
        schedule.finished(first[0], result: Self.up, now: late)
        #expect(schedule.nextWakeup != nil)
        let next = schedule.takeDue(now: late)
        #expect(next.count == 1)
    }

    @Test("a combined check alternates its halves across runs")
    func combined() throws {
        let text = "virtual=10.0.0.10:80\n\treal=127.0.0.1:80 masq\n\tservice=http\n\tchecktype=2\n"
        let configuration = try #require(testParser.parse(text, file: "t.cf").configuration)
        var schedule = CheckSchedule()
        schedule.update(
            DirectorState(configuration: configuration, observed: IPVSTable()).scheduledChecks, now: Self.t0)
        var kinds: [CheckType] = []
        var now = Self.t0
        for _ in 0..<4 {
            let id = try #require(schedule.takeDue(now: now).first)
            let check = schedule.begin(id, now: now)
            kinds.append(try #require(check).type)
            schedule.finished(id, result: Self.up, now: now)
            now = try #require(schedule.nextWakeup)
        }
        #expect(kinds == [.negotiate, .connect, .connect, .negotiate])
    }
}
