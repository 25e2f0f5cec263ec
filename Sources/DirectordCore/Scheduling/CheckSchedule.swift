/// When each scheduled check runs next, as a value: time comes in as an argument, decisions
/// go out as ids, and the daemon's timer only does what this says. Tested with a clock that
/// the test moves, never with sleeps.
///
/// A check runs every `interval` seconds from its last start; one still running when its next
/// turn comes starts again as soon as it ends. New checks are not started in one burst:
/// their first runs are spread over one second (every real server has a verdict soon after a
/// start or reload) and their second runs over a whole interval, so from then on the load is
/// even. 10,000 real servers checked in one burst hold 10,000 connections and buffers at the
/// same moment, overflow the listen queues of servers that share a host, and would keep that
/// burst in step for ever, since each check's next run follows its last start. At most
/// ``maxRunning`` checks are in flight: beyond it due checks wait for a slot and run late
/// rather than all at once, so an overloaded machine checks less often instead of timing its
/// own checks out and taking healthy real servers down.
///
/// A slow machine is overloaded long before that: 10,000 checks started within a second on
/// a machine that completes 100 a second (the emulated lab) had their answers wait unread while
/// their timeouts ran, and 9,232 of the first 10,000 checks failed. So the limit in force,
/// ``inFlightLimit``, follows how late the loop wakes up for the schedule (``woke(late:now:)``):
/// later than ``overloadLag``, and it is cut to half the checks in flight (once a second at
/// most); on time again while checks wait for a slot, and it doubles back towards
/// ``maxRunning``. A hung real server holds a slot until its timeout but does not make the
/// loop late, so it never lowers the limit.
public struct CheckSchedule: Sendable {
    public typealias Instant = ContinuousClock.Instant

    public struct Entry: Sendable {
        public var scheduled: ScheduledCheck
        public var combined: CombinedCheckState
        public var due: Instant
        public var lastStart: Instant?
        /// Added once, to the wait after the first run, to spread the checks' phases over
        /// the interval.
        public var phaseDelay: Duration = .zero
    }

    public private(set) var entries: [UInt64: Entry] = [:]
    /// The entries' ids in the order of the last update's checks.
    private var order: [UInt64] = []
    /// Due times by id; stale items (rescheduled or removed entries) are skipped.
    private var heap = DeadlineHeap<Instant>()
    /// The ids ``takeDue(now:)`` returned last, kept for their capacity.
    private var dueBuffer: [UInt64] = []
    private var nextID: UInt64 = 0
    /// Checks in flight, also those of entries an update removed, until they end.
    private var running: Set<UInt64> = []
    /// Times due checks found no free slot since the last ``takeSaturations()``.
    private var saturations = 0
    private var waitingForSlot = false
    public let maxRunning: Int
    public static let defaultMaxRunning = 2048
    /// How many checks may be in flight now: ``maxRunning``, less while the loop is late.
    public private(set) var inFlightLimit: Int
    /// The loop woke up this late for the schedule: it has more work than it does in time.
    public static let overloadLag = Duration.milliseconds(100)
    /// The loop woke up at most this late: it has time for more checks at once.
    public static let onTimeLag = Duration.milliseconds(20)
    /// The limit is never cut below this.
    public static let minimumInFlight = 16
    private var lastCut: Instant?
    /// Due checks waited for a slot since the limit last changed.
    private var limitReached = false
    /// Checks due this soon start with those due now: one wake-up of the loop for several
    /// checks instead of one each, for at most this much earliness. A wake-up from idle, not
    /// the check, is what a check costs at low rates (40 HTTP checks a second on the host:
    /// 0.43 ms of CPU each with a 10 ms window, 0.16 ms with 100 ms, 0.09 ms in one burst a
    /// second); checks started together stay together, since each next run follows its last
    /// start, so the loop wakes at most about four times an interval for its timers. Early,
    /// never late: the detection bound (interval + timeout) is unchanged.
    public static let batchWindow = Duration.milliseconds(250)
    /// At most this many checks start early at one wake-up, so that a large table still
    /// starts its checks in slices over the interval, not in a few bursts of thousands.
    /// Checks already due start whatever their number (slots permitting).
    public static let batchLimit = 256

    public init(maxRunning: Int = CheckSchedule.defaultMaxRunning) {
        self.maxRunning = max(maxRunning, 1)
        inFlightLimit = self.maxRunning
    }

    /// The loop woke up for the schedule `lag` after the time it was asked to: the limit in
    /// force follows (see the type's description).
    public mutating func woke(late lag: Duration, now: Instant) {
        if lag > Self.overloadLag {
            if let lastCut, now - lastCut < .seconds(1) { return }
            let cut = max(min(maxRunning, Self.minimumInFlight), min(inFlightLimit, running.count) / 2)
            guard cut < inFlightLimit else { return }
            inFlightLimit = cut
            lastCut = now
            limitReached = false
        } else if lag <= Self.onTimeLag, limitReached, inFlightLimit < maxRunning {
            inFlightLimit = min(maxRunning, inFlightLimit * 2)
            limitReached = false
        }
    }

    public var runningCount: Int { running.count }

    /// How often due checks had to wait for a slot since the last call.
    public mutating func takeSaturations() -> Int {
        defer { saturations = 0 }
        return saturations
    }

    /// Replaces the set of checks. Checks that stay (same check and interval) keep their place
    /// in time and their combined-check counter; new ones start within their first second.
    ///
    /// A reload usually changes a few checks of thousands, in a list made in the same order:
    /// each check is first compared with the one at its place in the last list, and only those
    /// that differ are looked up by identity (the lookup table made only then).
    public mutating func update(_ checks: [ScheduledCheck], now: Instant) {
        var byIdentity: [Identity: UInt64]?
        var kept = Set<UInt64>(minimumCapacity: checks.count)
        var newOrder: [UInt64?] = []
        newOrder.reserveCapacity(checks.count)
        var added: [Int] = []
        for (position, check) in checks.enumerated() {
            var id: UInt64?
            if position < order.count, let entry = entries[order[position]], !kept.contains(order[position]),
                entry.scheduled.sameIdentity(as: check)
            {
                id = order[position]
            } else {
                if byIdentity == nil {
                    var table: [Identity: UInt64] = [:]
                    table.reserveCapacity(entries.count)
                    for (id, entry) in entries { table[Identity(entry.scheduled)] = id }
                    byIdentity = table
                }
                if let found = byIdentity?[Identity(check)], !kept.contains(found) { id = found }
            }
            if let id {
                kept.insert(id)
                entries[id]?.scheduled = check
            } else {
                added.append(position)
            }
            newOrder.append(id)
        }
        for id in order where !kept.contains(id) { entries.removeValue(forKey: id) }
        let addedChecks = added.map { checks[$0] }
        for (position, phase) in zip(added, Self.phases(of: addedChecks)) {
            let id = nextID
            nextID += 1
            let due = now + phase.firstRun
            let check = checks[position]
            entries[id] = Entry(
                scheduled: check, combined: CombinedCheckState(for: check.check), due: due, phaseDelay: phase.delay)
            heap.insert(deadline: due, id: id)
            newOrder[position] = id
        }
        order = newOrder.map { $0! }
    }

    /// When new checks first run (after now) and how much later than one interval they run
    /// the second time: the i-th of n first at i/n s, then every interval from
    /// interval + i/n × interval. Quick verdicts, then an even load.
    public static func phases(of checks: [ScheduledCheck]) -> [(firstRun: Duration, delay: Duration)] {
        let count = checks.count
        return checks.enumerated().map { index, check in
            // An interval shorter than a second (none from a file) spreads nothing further.
            let spread = max(check.interval - .seconds(1), .zero)
            return (Duration.seconds(1) * index / count, spread * index / count)
        }
    }

    /// Forgets every entry; checks in flight end but are not run again.
    public mutating func stop() {
        entries = [:]
        order = []
        heap = DeadlineHeap()
        waitingForSlot = false
    }

    /// The checks to start now (due, or up to ``batchLimit`` due within ``batchWindow``), as
    /// long as slots are free.
    public mutating func takeDue(now: Instant) -> [UInt64] {
        // One list, emptied and filled again at every wake-up: a new one grew past a kilobyte
        // at each of them, and an allocation that large makes glibc consolidate every small
        // block freed since the last (the C library's share of directord's CPU at 10,000
        // checks a second: 9.0 to 7.5 %).
        var due = dueBuffer
        dueBuffer = []
        due.removeAll(keepingCapacity: true)
        while let top = heap.first, top.deadline <= now + Self.batchWindow {
            if top.deadline > now, due.count >= Self.batchLimit { break }
            guard running.count + due.count < inFlightLimit else {
                if !waitingForSlot { saturations += 1 }
                waitingForSlot = true
                limitReached = true
                break
            }
            heap.removeFirst()
            guard let entry = entries[top.id], entry.due == top.deadline, !running.contains(top.id),
                !due.contains(top.id)
            else { continue }
            due.append(top.id)
        }
        dueBuffer = due
        return due
    }

    /// When the timer should next fire: the earliest due time, none while every slot is taken
    /// (a finished check frees one and asks again).
    public var nextWakeup: Instant? {
        waitingForSlot ? nil : heap.first?.deadline
    }

    /// The check to run for an entry that is due, marking it running.
    public mutating func begin(_ id: UInt64, now: Instant) -> HealthCheck? {
        guard var entry = entries[id], !running.contains(id) else { return nil }
        running.insert(id)
        entry.lastStart = now
        let check = entry.combined.nextCheck(entry.scheduled.check)
        entries[id] = entry
        return check
    }

    /// A due entry that needs no check this turn (every real server it decides is in
    /// maintenance): its result is recorded as if a check had run now.
    public mutating func skip(_ id: UInt64, result: CheckResult, now: Instant) {
        guard var entry = entries[id], !running.contains(id) else { return }
        entry.lastStart = now
        entries[id] = entry
        running.insert(id)
        finished(id, result: result, now: now)
    }

    /// A check of an entry ended: its next run is one interval after its start (its
    /// `downinterval` when `down`: every real server it decides is down).
    public mutating func finished(_ id: UInt64, result: CheckResult, now: Instant, down: Bool = false) {
        if running.remove(id) != nil { waitingForSlot = false }
        guard var entry = entries[id] else { return }
        entry.combined.record(result)
        let interval = down ? entry.scheduled.downInterval ?? entry.scheduled.interval : entry.scheduled.interval
        entry.due = max((entry.lastStart ?? now) + interval + entry.phaseDelay, now)
        entry.phaseDelay = .zero
        entries[id] = entry
        heap.insert(deadline: entry.due, id: id)
    }

    /// What makes two scheduled checks the same across an update.
    fileprivate struct Identity: Hashable {
        var check: HealthCheck
        var interval: Duration
        var downInterval: Duration?

        init(_ scheduled: ScheduledCheck) {
            check = scheduled.check
            interval = scheduled.interval
            downInterval = scheduled.downInterval
        }
    }
}

extension ScheduledCheck {
    /// The same check at the same intervals (its real servers may differ).
    fileprivate func sameIdentity(as other: ScheduledCheck) -> Bool {
        interval == other.interval && downInterval == other.downInterval && check == other.check
    }
}
