import DirectordChecks
import DirectordCore
import Dispatch

/// When each scheduled check runs next: one deadline heap and one Dispatch timer on the check
/// loop's queue, however many real servers there are.
///
/// A check runs every `interval` seconds from its last start; one still running when its next
/// turn comes starts again as soon as it ends. New checks are not started in one burst:
/// their first runs are spread over one second (every real server has a verdict soon after a
/// start or reload) and their second runs over a whole interval, so from then on the load is
/// even. 10,000 real servers checked in one burst hold 10,000 connections and buffers at the
/// same moment, overflow the listen queues of servers that share a host, and would keep that
/// burst in step for ever, since each check's next run follows its last start.
/// Not thread-safe: it lives on the check loop.
final class CheckScheduler {
    struct Entry {
        var scheduled: ScheduledCheck
        var combined: CombinedCheckState
        var due: UInt64
        var lastStart: UInt64 = 0
        /// Added once, to the wait after the first run, to spread the checks' phases over
        /// the interval.
        var phaseDelay: UInt64 = 0
    }

    private(set) var entries: [UInt64: Entry] = [:]
    private var heap = DeadlineHeap()
    private var nextID: UInt64 = 0
    private let timer: any DispatchSourceTimer
    private var armedFor: UInt64 = .max
    /// Checks in flight, also those of entries a reload removed, until they end.
    private var running: Set<UInt64> = []
    /// Checks due but held back because ``maxRunning`` are in flight.
    private var waitingForSlot = false
    /// The most checks in flight at once. Beyond it due checks wait for a slot and run late
    /// rather than all at once: an overloaded machine then checks less often instead of timing
    /// its own checks out and taking healthy real servers down, and memory stays bounded
    /// (each check in flight holds a socket and libcurl's buffers).
    let maxRunning: Int
    static let defaultMaxRunning = 2048
    var runningCount: Int { running.count }
    /// Times due checks had to wait for a slot since the last ``takeSaturations()``.
    private var saturations = 0
    /// Called on the loop for each check that is due; `start` must call `finished` later.
    var onDue: ((UInt64) -> Void)?

    init(queue: DispatchQueue, maxRunning: Int = CheckScheduler.defaultMaxRunning) {
        self.maxRunning = max(maxRunning, 1)
        timer = DispatchSource.makeTimerSource(queue: queue)
        timer.setEventHandler { [weak self] in self?.fire() }
        timer.schedule(deadline: .distantFuture)
        timer.resume()
    }

    deinit {
        timer.cancel()
    }

    /// How often checks waited for a slot since the last call; for the daemon's warning.
    func takeSaturations() -> Int {
        defer { saturations = 0 }
        return saturations
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Replaces the set of checks. Checks that stay (same check and interval) keep their place
    /// in time and their combined-check counter; new ones start within their first second.
    func update(_ checks: [ScheduledCheck]) {
        var byIdentity: [ScheduledCheckIdentity: UInt64] = [:]
        for (id, entry) in entries { byIdentity[ScheduledCheckIdentity(entry.scheduled)] = id }
        var kept: [UInt64: Entry] = [:]
        var added: [ScheduledCheck] = []
        for check in checks {
            if let id = byIdentity[ScheduledCheckIdentity(check)], var entry = entries[id] {
                entry.scheduled = check
                kept[id] = entry
            } else {
                added.append(check)
            }
        }
        let phases = Self.phases(of: added, now: Self.now())
        for (check, phase) in zip(added, phases) {
            let id = nextID
            nextID += 1
            let due = phase.firstRun
            kept[id] = Entry(
                scheduled: check, combined: CombinedCheckState(for: check.check), due: due, phaseDelay: phase.delay)
            heap.insert(deadline: due, id: id)
        }
        entries = kept
        arm()
    }

    /// When new checks first run, and how much later than one interval they run the second
    /// time. The i-th of n runs first at now + i/n s and then every interval from
    /// now + interval + i/n × interval: quick verdicts, then an even load.
    static func phases(of checks: [ScheduledCheck], now: UInt64) -> [(firstRun: UInt64, delay: UInt64)] {
        let second: UInt64 = 1_000_000_000
        let count = UInt64(checks.count)
        return checks.enumerated().map { index, check in
            let position = UInt64(index)
            let interval = UInt64(max(check.interval, 1)) * second
            return (now + second * position / count, (interval - second) * position / count)
        }
    }

    /// Stops scheduling; checks in flight finish but are not run again.
    func stop() {
        entries = [:]
        heap = DeadlineHeap()
        timer.schedule(deadline: .distantFuture)
        armedFor = .max
        waitingForSlot = false
    }

    /// The check to run for an entry that is due, marking it running.
    func begin(_ id: UInt64) -> HealthCheck? {
        guard var entry = entries[id], !running.contains(id) else { return nil }
        running.insert(id)
        entry.lastStart = Self.now()
        let check = entry.combined.nextCheck(entry.scheduled.check)
        entries[id] = entry
        return check
    }

    /// A due entry that needs no check this turn (every real server it decides is in
    /// maintenance): its result is recorded as if a check had run now.
    func skip(_ id: UInt64, result: CheckResult) {
        guard var entry = entries[id], !running.contains(id) else { return }
        entry.lastStart = Self.now()
        entries[id] = entry
        finished(id, result: result)
    }

    /// A check of an entry ended: schedules its next run.
    func finished(_ id: UInt64, result: CheckResult) {
        if running.remove(id) != nil && waitingForSlot {
            // A slot is free: the timer, set in the past, fires at once.
            waitingForSlot = false
            armedFor = .max
        }
        guard var entry = entries[id] else {
            arm()
            return
        }
        entry.combined.record(result)
        let interval = UInt64(max(entry.scheduled.interval, 1)) * 1_000_000_000
        entry.due = max(entry.lastStart + interval + entry.phaseDelay, Self.now())
        entry.phaseDelay = 0
        entries[id] = entry
        heap.insert(deadline: entry.due, id: id)
        arm()
    }

    /// Checks due this soon are started with those due now: one wake-up of the loop for
    /// several checks instead of one each (1,000 checks a second spread evenly would otherwise
    /// be 1,000 wake-ups), for at most this much earliness.
    static let batchWindow: UInt64 = 10_000_000

    private func fire() {
        armedFor = .max
        let now = Self.now()
        while let top = heap.first, top.deadline <= now + Self.batchWindow {
            guard running.count < maxRunning else {
                if !waitingForSlot { saturations += 1 }
                waitingForSlot = true
                return
            }
            heap.removeFirst()
            // Stale heap items (rescheduled or removed entries) are skipped.
            guard let entry = entries[top.id], entry.due == top.deadline, !running.contains(top.id) else { continue }
            onDue?(top.id)
        }
        arm()
    }

    private func arm() {
        guard !waitingForSlot, let top = heap.first, top.deadline < armedFor else { return }
        armedFor = top.deadline
        timer.schedule(deadline: DispatchTime(uptimeNanoseconds: top.deadline), leeway: .milliseconds(1))
    }
}

/// What makes two scheduled checks the same across a reload.
struct ScheduledCheckIdentity: Hashable {
    var check: HealthCheck
    var interval: Int

    init(_ scheduled: ScheduledCheck) {
        check = scheduled.check
        interval = scheduled.interval
    }
}
