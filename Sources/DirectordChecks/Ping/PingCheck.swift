import DirectordCore
import DirectordSystem

/// `checktype=ping` (and connect on a UDP service): up when an ICMP echo reply arrives; up to
/// `checkcount` attempts, each waiting `checktimeout` (ldirectord's `check_ping`).
final class PingCheck: CheckOperation {
    private let check: HealthCheck
    private let label: String?
    private let attempts: Int
    private let attemptTimeout: Duration
    private var attempt = 0
    private var endpoint: ICMPEndpoint?
    private var sequences: [UInt16] = []
    private var attemptTimer: TimerID?
    private var lastError: SystemError?

    init(context: LoopContext, check: HealthCheck, label: String?) {
        self.check = check
        self.label = label
        self.attempts = max(1, check.checkCount)
        self.attemptTimeout = check.checkTimeout
        super.init(context: context)
    }

    override func begin() {
        switch context.icmpEndpoint(for: check.address.family) {
        case .success(let endpoint):
            self.endpoint = endpoint
            sendNext()
        case .failure(let error):
            fail(labelled("ping \(check.address): \(error.description)"))
        }
    }

    private func sendNext() {
        guard let endpoint, !isFinished else { return }
        while attempt < attempts {
            attempt += 1
            do {
                let sequence = try endpoint.sendEcho(to: check.address) { [weak self] in
                    guard let self else { return }
                    let tries = self.attempt > 1 ? " (attempt \(self.attempt) of \(self.attempts))" : ""
                    self.succeed(self.labelled("echo reply from \(self.check.address)\(tries)"))
                }
                sequences.append(sequence)
                attemptTimer = context.reactor.schedule(after: attemptTimeout) { [weak self] in
                    self?.sendNext()
                }
                return
            } catch {
                // No route and the like: this attempt failed at once; try the next.
                lastError = error
            }
        }
        if let lastError, sequences.isEmpty {
            fail(labelled("ping \(check.address): \(lastError.reason)"))
        } else {
            let each = secondsText(attemptTimeout)
            let tries = attempts == 1 ? "within \(each)" : "to \(attempts) pings, \(each) each"
            fail(labelled("no echo reply from \(check.address) \(tries)"))
        }
    }

    override func timedOut() {
        // The attempts' own timers end the check first; this is the loop's backstop.
        fail(labelled("no echo reply from \(check.address) within \(timeoutText)"))
    }

    override func releaseResources() {
        context.reactor.cancel(attemptTimer)
        for sequence in sequences { endpoint?.forget(sequence) }
        sequences.removeAll()
    }

    private func labelled(_ text: String) -> String {
        label.map { "\($0): \(text)" } ?? text
    }
}
