import DirectordCore
import DirectordSystem

/// One check in flight on the loop: it reaches a verdict exactly once, then releases whatever
/// it holds (sockets, timers, handles).
///
/// Subclasses implement ``begin()`` and ``releaseResources()`` and call ``succeed(_:)`` or
/// ``fail(_:)``. Everything runs on the loop.
class CheckOperation {
    let context: LoopContext
    let started: ContinuousClock.Instant
    private var completion: ((CheckResult) -> Void)?
    private var deadlineTimer: TimerID?
    /// The check's own time limit; nil when something else (libcurl) enforces it.
    private(set) var timeout: Duration?
    private(set) var isFinished = false

    init(context: LoopContext) {
        self.context = context
        self.started = ContinuousClock.now
    }

    /// Starts the work. Called once, by the loop, after the completion is set.
    func begin() {}

    /// Closes sockets, cancels timers, frees C handles. Called once, after the verdict.
    func releaseResources() {}

    final func run(timeout: Duration?, completion: @escaping (CheckResult) -> Void) {
        self.completion = completion
        self.timeout = timeout
        if let timeout {
            deadlineTimer = context.reactor.schedule(after: timeout) { [weak self] in self?.timedOut() }
        }
        begin()
    }

    /// The verdict when the check's own timeout passes; subclasses say what they were waiting for.
    func timedOut() {
        fail("no answer within \(timeoutText)")
    }

    /// "5 s": the time limit as reasons say it.
    var timeoutText: String { timeout.map(secondsText) ?? "the time limit" }

    final func succeed(_ reason: String) {
        finish(.up(reason, latency: elapsed))
    }

    final func fail(_ reason: String) {
        finish(.down(reason, latency: elapsed))
    }

    var elapsed: Duration { ContinuousClock.now - started }

    private func finish(_ result: CheckResult) {
        guard !isFinished else { return }
        isFinished = true
        context.reactor.cancel(deadlineTimer)
        deadlineTimer = nil
        releaseResources()
        let completion = self.completion
        self.completion = nil
        completion?(result)
    }
}

/// "5 s", "1.5 s", "250 ms": a duration as reasons say it.
func secondsText(_ duration: Duration) -> String {
    let milliseconds = duration.nanoseconds / 1_000_000
    if milliseconds < 1000 { return "\(milliseconds) ms" }
    if milliseconds % 1000 == 0 { return "\(milliseconds / 1000) s" }
    let tenths = (milliseconds + 50) / 100
    return "\(tenths / 10).\(tenths % 10) s"
}
