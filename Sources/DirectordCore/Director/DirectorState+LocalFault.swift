/// Failures that are the director's own, not the real servers': when nearly every check fails
/// at once with the same local error (the director's network is down, it has no buffer space,
/// its source address is gone), taking every server out would empty the table, and bring it
/// all back with a flap when the director recovers, although no real server changed. Such
/// results are set aside instead, with one error line, until most checks stop failing so.
///
/// A local failure of one real server still counts, about one round of checks late: its local
/// failures in a row are held back until as many results as there are real servers have come
/// in after the first. A fault of the whole director that begins in the middle of a round is
/// then seen in every server's check (at the first failure of the server checked just before
/// it began) before any server is taken out.
extension DirectorState {
    /// With one real server a share says nothing of the director: its local failures count.
    static let localFaultMinimum = 2

    /// The error text of a check result that says the fault is this director's, or nil.
    public static func localFault(of result: CheckResult) -> String? {
        guard result.status == .down else { return nil }
        return ["Network is unreachable", "No buffer space available", "Cannot assign requested address"]
            .first { result.reason.contains($0) }
    }

    /// Whether `result` for `ref` is set aside (not recorded in its health); updates what the
    /// local-fault view knows. Only a server that is up is spared: one that is down or not
    /// checked yet carries no traffic, and its failure changes nothing but a quiescent weight-0
    /// entry, which ldirectord's table has too.
    mutating func setAsideLocalFault(_ result: CheckResult, for ref: RealServerRef, isUp: Bool) -> Bool {
        guard let fault = Self.localFault(of: result) else {
            if localFaults.removeValue(forKey: ref) != nil { localFaultsChanged = true }
            localFaultHeld[ref] = nil
            return false
        }
        if localFaults.updateValue(fault, forKey: ref) != fault { localFaultsChanged = true }
        guard isUp else {
            localFaultHeld[ref] = nil
            return false
        }
        if localFaultFreeze == fault { return true }
        // Held until a round's worth of results came in after the first; then the server's own.
        let first = localFaultHeld[ref] ?? resultsRecorded
        localFaultHeld[ref] = first
        return resultsRecorded - first < health.count
    }

    /// Starts or ends the freeze from the last results of every server.
    mutating func updateLocalFaultFreeze() -> [DirectorEvent] {
        // Looked at only when a server's local fault came or went: a healthy round costs
        // nothing per check, whatever the number of servers.
        guard localFaultsChanged else { return [] }
        localFaultsChanged = false
        let total = health.values.count { !$0.inMaintenance }
        var counts: [String: Int] = [:]
        for fault in localFaults.values { counts[fault, default: 0] += 1 }
        if let fault = localFaultFreeze {
            let failing = counts[fault] ?? 0
            guard total < Self.localFaultMinimum || failing * 2 < total else { return [] }
            localFaultFreeze = nil
            return [.localFaultEnded(fault: fault, failing: failing, total: total)]
        }
        guard total >= Self.localFaultMinimum,
            let (fault, failing) = counts.max(by: { ($0.value, $0.key) < ($1.value, $1.key) }),
            failing * 10 >= total * 9
        else { return [] }
        localFaultFreeze = fault
        localFaultHeld = [:]
        return [.localFaultBegan(fault: fault, failing: failing, total: total)]
    }
}
