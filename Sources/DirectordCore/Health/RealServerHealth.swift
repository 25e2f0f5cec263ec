/// The health of one real server *in one virtual service*, with ldirectord's failurecount
/// hysteresis.
///
/// ldirectord keeps the failure count on the real server and, when the same real server
/// belongs to several virtual services, counts each failed check once per service, so a
/// shared server goes down after fewer failures than configured. Here every (virtual, real)
/// pair has its own count. Pure: results in, transitions out.
public struct RealServerHealth: Hashable, Sendable {
    public enum State: String, Hashable, Sendable, Codable {
        case up
        case down
    }

    public private(set) var state: State
    /// Consecutive failed checks while up; reset by a pass.
    public private(set) var failures: Int = 0
    /// A maintenance file names this server: down whatever the checks say.
    public private(set) var inMaintenance = false
    /// No check has decided this server's state yet: it is either trusted (up, found in the
    /// kernel with weight above 0) or waiting (down, it gets no traffic before a check passes).
    /// Cleared by the first result, maintenance or a forced state.
    public private(set) var awaitsFirstCheck: Bool

    /// Down and waiting for its first check.
    public var isPending: Bool { awaitsFirstCheck && state == .down }
    /// Why the server is in its state, in a check's words.
    public private(set) var reason: String
    /// Passing checks in a row since failed checks took the server out (`risecount`).
    public private(set) var passes: Int = 0
    /// Failed checks took the server out (not maintenance, not a start): `risecount` passes
    /// bring it back, and `maxejection` may hold it in.
    public private(set) var downByChecks = false

    /// - Parameters:
    ///   - state: `.up` only for a real server the kernel already routes to (weight above 0),
    ///     which is trusted until its first check; every other server starts down and gets no
    ///     traffic before it has passed a check.
    ///   - reason: why it starts so.
    ///   - awaitsFirstCheck: true when a check is to decide (false for checktype=on/off).
    public init(state: State, reason: String, awaitsFirstCheck: Bool = true) {
        self.state = state
        self.reason = reason
        self.awaitsFirstCheck = awaitsFirstCheck
    }

    /// A change worth a log line.
    public enum Transition: Hashable, Sendable {
        case wentUp(reason: String)
        case wentDown(reason: String)
        /// Failed, but fewer than `failurecount` times in a row: still up.
        case softFailure(count: Int, limit: Int, reason: String)
        /// Passed after soft failures.
        case softFailuresReset
    }

    /// Records one check result.
    /// - Parameters:
    ///   - result: what the check found.
    ///   - failureCount: the service's `failurecount`: consecutive failures that take an up
    ///     server down.
    ///   - riseCount: the service's `risecount`: consecutive passes that bring back a server
    ///     failed checks took out (a server not checked yet, or out for maintenance, needs one).
    /// - Returns: the transitions, in the order ldirectord logs them.
    public mutating func record(_ result: CheckResult, failureCount: Int, riseCount: Int = 1) -> [Transition] {
        awaitsFirstCheck = false
        guard !inMaintenance else { return [] }
        switch (result.status, state) {
        case (.up, .up):
            reason = result.reason
            guard failures > 0 else { return [] }
            failures = 0
            return [.softFailuresReset]
        case (.up, .down):
            let hadFailures = failures > 0
            failures = 0
            if downByChecks {
                passes += 1
                if passes < riseCount {
                    reason = "\(result.reason) (pass \(passes) of \(riseCount) to come back)"
                    return hadFailures ? [.softFailuresReset] : []
                }
            }
            passes = 0
            downByChecks = false
            state = .up
            reason = result.reason
            return (hadFailures ? [.softFailuresReset] : []) + [.wentUp(reason: result.reason)]
        case (.down, .up):
            failures += 1
            reason = result.reason
            if failures < max(failureCount, 1) {
                return [.softFailure(count: failures, limit: failureCount, reason: result.reason)]
            }
            state = .down
            downByChecks = true
            passes = 0
            return [.wentDown(reason: result.reason)]
        case (.down, .down):
            passes = 0
            reason = result.reason
            return []
        }
    }

    /// A maintenance file appeared: down at once, whatever `failurecount` says.
    public mutating func enterMaintenance() -> [Transition] {
        guard !inMaintenance else { return [] }
        inMaintenance = true
        awaitsFirstCheck = false
        failures = 0
        passes = 0
        downByChecks = false
        reason = "Server in maintenance"
        guard state == .up else { return [] }
        state = .down
        return [.wentDown(reason: reason)]
    }

    /// The maintenance file is gone: the server stays down until a check passes.
    public mutating func leaveMaintenance() {
        guard inMaintenance else { return }
        inMaintenance = false
        reason = "maintenance ended; waiting for a check to pass"
    }

    /// For checktype=on and off: the state is set, not checked.
    public mutating func force(_ newState: State, reason: String) -> [Transition] {
        failures = 0
        passes = 0
        downByChecks = false
        awaitsFirstCheck = false
        self.reason = reason
        guard newState != state, !inMaintenance || newState == .down else { return [] }
        state = newState
        return [newState == .up ? .wentUp(reason: reason) : .wentDown(reason: reason)]
    }
}
