import DirectordCore
import DirectordSystem
import Dispatch

/// Drives a ``CheckSchedule`` with one Dispatch timer on the check loop's queue: the schedule
/// decides what is due and when to wake next; this only sets the timer and hands the due
/// checks to `onDue`. Not thread-safe: it lives on the check loop.
final class CheckScheduler {
    private(set) var schedule: CheckSchedule
    private let timer: any DispatchSourceTimer
    /// When the timer is set for; nil when it is not.
    private var armedFor: ContinuousClock.Instant?
    /// Called on the loop for each check that is due; `begin` it, then `finished` later.
    var onDue: ((UInt64) -> Void)?

    init(queue: DispatchQueue, maxRunning: Int = CheckSchedule.defaultMaxRunning) {
        schedule = CheckSchedule(maxRunning: maxRunning)
        timer = DispatchSource.makeTimerSource(queue: queue)
        timer.setEventHandler { [weak self] in self?.fire() }
        timer.schedule(deadline: .distantFuture)
        timer.resume()
    }

    deinit {
        timer.cancel()
    }

    private var now: ContinuousClock.Instant { .now }

    var entries: [UInt64: CheckSchedule.Entry] { schedule.entries }
    var maxRunning: Int { schedule.maxRunning }
    var runningCount: Int { schedule.runningCount }
    func takeSaturations() -> Int { schedule.takeSaturations() }

    func update(_ checks: [ScheduledCheck]) {
        schedule.update(checks, now: now)
        arm()
    }

    func stop() {
        schedule.stop()
        timer.schedule(deadline: .distantFuture)
        armedFor = nil
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
        armedFor = nil
        for id in schedule.takeDue(now: now) { onDue?(id) }
        arm()
    }

    /// Sets the timer for the schedule's next wake-up, unless it is already set as early.
    private func arm() {
        guard let next = schedule.nextWakeup else { return }
        if let armedFor, armedFor <= next { return }
        armedFor = next
        let wait = max(next - now, .zero)
        timer.schedule(deadline: .now() + wait.dispatchInterval, leeway: .milliseconds(1))
    }
}
