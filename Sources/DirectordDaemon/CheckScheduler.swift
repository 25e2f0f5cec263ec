import DirectordChecks
import DirectordCore
import DirectordSystem

/// Drives a ``CheckSchedule`` with one timer on the check loop's thread: the schedule
/// decides what is due and when to wake next; this only sets the timer and hands the due
/// checks to `onDue`. Not thread-safe: it lives on the check loop.
final class CheckScheduler {
    private(set) var schedule: CheckSchedule
    private let timer: LoopTimer
    /// When the timer is set for; nil when it is not.
    private var armedFor: ContinuousClock.Instant?
    /// When the timer should fire: its time, or when it was set if that time had passed.
    private var firesAt: ContinuousClock.Instant?
    /// Called on the loop for each check that is due; `begin` it, then `finished` later.
    var onDue: ((UInt64) -> Void)?

    /// Made on the loop, as everything that uses it.
    init(loop: CheckLoop, maxRunning: Int = CheckSchedule.defaultMaxRunning) {
        schedule = CheckSchedule(maxRunning: maxRunning)
        let link = Link()
        timer = loop.makeTimer { link.scheduler?.fire() }
        link.scheduler = self
    }

    deinit {
        timer.cancel()
    }

    private var now: ContinuousClock.Instant { .now }

    var entries: [UInt64: CheckSchedule.Entry] { schedule.entries }
    var maxRunning: Int { schedule.maxRunning }
    var inFlightLimit: Int { schedule.inFlightLimit }
    var runningCount: Int { schedule.runningCount }
    func takeSaturations() -> Int { schedule.takeSaturations() }

    func update(_ checks: [ScheduledCheck]) {
        schedule.update(checks, now: now)
        arm()
    }

    func stop() {
        schedule.stop()
        timer.cancel()
        armedFor = nil
        firesAt = nil
    }

    func begin(_ id: UInt64) -> HealthCheck? { schedule.begin(id, now: now) }

    func skip(_ id: UInt64, result: CheckResult) {
        schedule.skip(id, result: result, now: now)
        arm()
    }

    func finished(_ id: UInt64, result: CheckResult, down: Bool = false) {
        schedule.finished(id, result: result, now: now, down: down)
        arm()
    }

    private func fire() {
        let now = self.now
        // How late the loop is for its timer (not how late the checks are: those waiting for
        // a slot were due long ago): what the in-flight limit follows.
        if let firesAt { schedule.woke(late: now - firesAt, now: now) }
        armedFor = nil
        firesAt = nil
        for id in schedule.takeDue(now: now) { onDue?(id) }
        arm()
    }

    /// Sets the timer for the schedule's next wake-up, unless it is already set as early.
    private func arm() {
        guard let next = schedule.nextWakeup else { return }
        if let armedFor, armedFor <= next { return }
        armedFor = next
        let now = self.now
        firesAt = max(next, now)
        timer.schedule(after: max(next - now, .zero))
    }

    /// The timer's way back to the scheduler. Its action runs on the loop, where the scheduler
    /// lives, so the reference is only ever used there.
    private final class Link: @unchecked Sendable {
        weak var scheduler: CheckScheduler?
    }
}
