/// Slow start (`slowstart=SECONDS`): a real server its checks bring back goes into the table at
/// a small share of its weight and ramps to all of it over the window, so that under `lc` or
/// `wlc` it does not take every new connection at once and fall over again.
///
/// The rules, as the README states them:
/// - Only a server its checks took out and bring back ramps: not one adopted from the kernel at
///   start, not one whose first check passes, not one back from maintenance.
/// - The weight grows in at most ``rampSteps`` steps, each a whole number at least 1, rounded
///   up; the daemon gives the time once a second while a ramp is under way, so a step never
///   comes sooner than a second after the last.
/// - A server that fails again stops ramping; one that comes back later starts again from
///   the first step. A reload keeps a ramp and ramps to the new weight.
/// - Hashing schedulers (sh, dh, mh) are never ramped: each weight change would move clients
///   between servers (the parser warns).
extension DirectorState {
    /// One ramp: when it began (nil until the daemon next gives the time) and over how long.
    public struct Ramp: Hashable, Sendable {
        public var began: Double?
        public var seconds: Int
    }

    /// How many weights a ramp goes through: at most this many table changes and log lines.
    public static let rampSteps = 20

    /// The weight `elapsed` seconds into a ramp of `seconds` to `full`.
    public static func rampWeight(full: Int32, elapsed: Double, seconds: Int) -> Int32 {
        guard full > 1, elapsed < Double(seconds) else { return full }
        let step = min(rampSteps, Int(Double(rampSteps) * max(elapsed, 0) / Double(seconds)) + 1)
        let share = (Int64(full) * Int64(step) + Int64(rampSteps) - 1) / Int64(rampSteps)
        return Int32(max(1, share))
    }

    /// A real server came back by its checks: its ramp, if its service asks for one.
    mutating func beginRamp(_ ref: RealServerRef, in virtual: VirtualService) -> DirectorEvent? {
        guard let seconds = virtual.slowStart, !Scheduler.hashing.contains(virtual.scheduler.rawValue),
            let real = realServer(ref)?.1, real.weight > 1
        else { return nil }
        ramps[ref] = Ramp(began: nil, seconds: seconds)
        return .slowStartBegan(ref.endpoint, in: ref.service, weight: Int32(clamping: real.weight), seconds: seconds)
    }

    /// The weight the table should give an up real server of `configured` weight now.
    func currentWeight(_ ref: RealServerRef, configured: Int32) -> Int32 {
        guard let ramp = ramps[ref] else { return configured }
        return Self.rampWeight(full: configured, elapsed: ramp.began.map { clock - $0 } ?? 0, seconds: ramp.seconds)
    }

    /// Whether a ramp is under way: the daemon then gives the time once a second.
    public var rampsUnderWay: Bool { !ramps.isEmpty }

    /// The daemon's clock (seconds since 1970): new ramps begin now, finished ones end, and a
    /// reconciliation is asked for when a ramp's weight changes; new departures
    /// (DirectorState+Departures) start their time limit.
    public mutating func advanceClock(to now: Double) {
        let before = ramps.keys.map { ($0, rampedWeight($0)) }
        clock = now
        startDepartureClocks(now: now)
        for (ref, ramp) in ramps where ramp.began == nil { ramps[ref]?.began = now }
        for (ref, weight) in before where rampedWeight(ref) != weight { needsReconcile = true }
        // Ended: at its full weight now. Kept until that weight is in the table (the line
        // that says the ramp ended names it), dropped at the next tick.
        ramps = ramps.filter { ref, ramp in
            guard let began = ramp.began, now - began >= Double(ramp.seconds) else { return true }
            return health[ref]?.state == .up && drains[ref] == nil
                && observed[ref.service]?[destination: ref.destination]?.weight != fullWeight(ref)
        }
    }

    /// The weight a ramp ends at: the configured one, or the agent's share of it.
    private func fullWeight(_ ref: RealServerRef) -> Int32? {
        guard let real = realServer(ref)?.1 else { return nil }
        let configured = Int32(clamping: real.weight)
        return agentEffect(ref, configured: configured).weight ?? configured
    }

    private func rampedWeight(_ ref: RealServerRef) -> Int32? {
        fullWeight(ref).map { currentWeight(ref, configured: $0) }
    }

    /// After a reload: ramps of real servers no longer configured, or no longer slow-started,
    /// end.
    mutating func keepRampsStillConfigured() {
        ramps = ramps.filter { ref, _ in
            guard let (virtual, _) = realServer(ref) else { return false }
            return virtual.slowStart != nil && !Scheduler.hashing.contains(virtual.scheduler.rawValue)
        }
    }
}
