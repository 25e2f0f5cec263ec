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

    /// Runs `schedule` from t0 for `span` with checks that end at once, and gives each
    /// wake-up's starts (check id, offset from t0).
    static func wakeups(_ schedule: inout CheckSchedule, for span: Duration) -> [[(id: UInt64, at: Duration)]] {
        var wakeups: [[(id: UInt64, at: Duration)]] = []
        var now = Self.t0
        while let next = schedule.nextWakeup, next < Self.t0 + span {
            now = max(now, next)
            var started: [(id: UInt64, at: Duration)] = []
            for id in schedule.takeDue(now: now) {
                _ = schedule.begin(id, now: now)
                schedule.finished(id, result: Self.up, now: now)
                started.append((id, now - Self.t0))
            }
            wakeups.append(started)
        }
        return wakeups
    }

    @Test("200 checks: each runs once within the first second, in a few batches, never in one burst")
    func noBurst() throws {
        var schedule = CheckSchedule()
        schedule.update(try Self.checks(200), now: Self.t0)
        let wakeups = Self.wakeups(&schedule, for: .seconds(1))
        let started = wakeups.flatMap { $0 }
        #expect(Set(started.map(\.id)).count == 200)
        #expect(started.map(\.at).max()! < .seconds(1))
        // Checks due within 250 ms share a wake-up: four of them, none with all 200 (the last
        // also starts the first batch's second runs, due at 1 s, a little early).
        #expect(wakeups.count == 4)
        #expect(wakeups.allSatisfy { $0.count <= 100 })
    }

    @Test("checks started together stay together: a few wake-ups an interval, each check every interval")
    func batchesHold() throws {
        var schedule = CheckSchedule()
        schedule.update(try Self.checks(40), now: Self.t0)
        let wakeups = Self.wakeups(&schedule, for: .seconds(10))
        #expect(wakeups.count <= 40, "at most four wake-ups a second, not one per check")
        #expect(wakeups.suffix(10).count(where: { !$0.isEmpty }) == 10)
        let starts = Dictionary(grouping: wakeups.flatMap { $0 }, by: \.id).mapValues { $0.map(\.at) }
        #expect(starts.count == 40)
        for times in starts.values {
            let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
            // Never later than its interval; early by less than the window when a batch takes it.
            #expect(gaps.allSatisfy { $0 <= .seconds(1) && $0 > .seconds(1) - CheckSchedule.batchWindow })
            #expect(times.count >= 10)
        }
        // Once the batches have settled, later seconds wake the loop as often: three times.
        let late = wakeups.filter { ($0.first?.at ?? .zero) >= .seconds(5) }
        #expect(late.count == 15)
    }

    @Test("a wake-up starts at most batchLimit checks early; those already due all start")
    func batchLimit() throws {
        var schedule = CheckSchedule()
        let count = 4 * CheckSchedule.batchLimit
        schedule.update(try Self.checks(count), now: Self.t0)
        let early = schedule.takeDue(now: Self.t0)
        #expect(early.count == CheckSchedule.batchLimit, "1,024 due within 250 ms, 256 of them started early")
        for id in early { _ = schedule.begin(id, now: Self.t0) }
        // Half a second late: every check due by then starts, beyond the limit.
        let late = schedule.takeDue(now: Self.t0 + .milliseconds(500))
        #expect(late.count > CheckSchedule.batchLimit)
        #expect(early.count + late.count <= count)
        // The schedule fills one list at every wake-up: one handed out stays as it was.
        #expect(early.count == CheckSchedule.batchLimit && Set(early).isDisjoint(with: Set(late)))
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

    @Test("an update keeps every check that stays, wherever it moved in the list; changed and removed ones go")
    func updateMatchesMovedChecks() throws {
        var schedule = CheckSchedule()
        let checks = try Self.checks(6)
        schedule.update(checks, now: Self.t0)
        let idOf = Dictionary(uniqueKeysWithValues: schedule.entries.map { ($0.value.scheduled.check.port!, $0.key) })
        // Reversed, the third check changed (another interval), the last removed, one added.
        var next = Array(checks.dropLast().reversed())
        next[2].interval = .seconds(7)
        next.append(try Self.checks(1, firstPort: 3000)[0])
        schedule.update(next, now: Self.t0 + .seconds(5))
        #expect(schedule.entries.count == 6)
        let changedPort = next[2].check.port!
        for check in next.dropLast() {
            let entry = try #require(schedule.entries.first { $0.value.scheduled.check.port == check.check.port })
            #expect((entry.key == idOf[check.check.port!]) == (check.check.port != changedPort))
            #expect(entry.value.scheduled.interval == check.interval)
        }
        #expect(schedule.entries[idOf[1005]!] == nil)
        // The same list again keeps every id.
        let ids = Set(schedule.entries.keys)
        schedule.update(next, now: Self.t0 + .seconds(6))
        #expect(Set(schedule.entries.keys) == ids)
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

    /// Starts every check due at `now` (slots permitting); returns how many started.
    static func startDue(_ schedule: inout CheckSchedule, at now: ContinuousClock.Instant) -> [UInt64] {
        let due = schedule.takeDue(now: now)
        for id in due { _ = schedule.begin(id, now: now) }
        return due
    }

    @Test(
        "a loop waking up late cuts the checks in flight to half, once a second; on time again, the limit doubles back")
    func limitFollowsTheLoop() throws {
        var schedule = CheckSchedule(maxRunning: 400)
        schedule.update(try Self.checks(1000), now: Self.t0)
        var now = Self.t0 + .seconds(2)
        let first = Self.startDue(&schedule, at: now)
        #expect(first.count == 400)
        // The loop is 300 ms late for its timer: 200 of the 400 at most from now on.
        schedule.woke(late: .milliseconds(300), now: now)
        #expect(schedule.inFlightLimit == 200)
        // Late again within the second: one cut a second, the checks in flight have to end first.
        schedule.woke(late: .milliseconds(300), now: now + .milliseconds(500))
        #expect(schedule.inFlightLimit == 200)
        for id in first.prefix(300) { schedule.finished(id, result: Self.up, now: now) }
        var inFlight = Array(first.dropFirst(300)) + Self.startDue(&schedule, at: now)
        #expect(inFlight.count == 200, "100 in flight, 100 more up to the limit")
        // Still late a second later: half of the 200 in flight.
        now += .seconds(1)
        schedule.woke(late: .milliseconds(150), now: now)
        #expect(schedule.inFlightLimit == 100)
        // Never below the floor.
        for step in 1...10 { schedule.woke(late: .seconds(1), now: now + .seconds(step)) }
        #expect(schedule.inFlightLimit == CheckSchedule.minimumInFlight)
        // On time, with checks waiting for a slot: it doubles back, up to maxRunning.
        now += .seconds(20)
        var limits: [Int] = []
        for _ in 0..<8 {
            for id in inFlight { schedule.finished(id, result: Self.up, now: now) }
            inFlight = Self.startDue(&schedule, at: now + .seconds(5))
            schedule.woke(late: .milliseconds(1), now: now + .seconds(5))
            limits.append(schedule.inFlightLimit)
            now += .seconds(5)
        }
        #expect(limits == [32, 64, 128, 256, 400, 400, 400, 400])
    }

    @Test("checks of hung servers hold their slots until their timeout but never lower the limit")
    func hungServersDoNotLowerTheLimit() throws {
        var schedule = CheckSchedule(maxRunning: 100)
        schedule.update(try Self.checks(300), now: Self.t0)
        let now = Self.t0 + .seconds(2)
        // 100 in flight that never end (hung servers), the loop on time: the limit stays.
        #expect(Self.startDue(&schedule, at: now).count == 100)
        for step in 1...30 {
            schedule.woke(late: .milliseconds(2), now: now + .seconds(step))
            #expect(Self.startDue(&schedule, at: now + .seconds(step)).isEmpty)
        }
        #expect(schedule.inFlightLimit == 100)
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
