/// Failures that are the director's own, not the real servers': when nearly every check fails
/// at once with the same local error (the director's network is down, it has no buffer space,
/// its source address is gone), taking every server out would empty the table, and bring it
/// all back with a flap when the director recovers, although no real server changed. Such
/// results are set aside instead, with one error line, until most checks stop failing so.
///
/// A local failure of one up real server still counts, about one round of checks late: its
/// local failures in a row are held back until a round of checks has ended, one in which
/// nearly every server (nine in ten, the share that begins the freeze) was checked by a check
/// begun after its first. A fault of the whole director is then seen in nearly every server's
/// check before any server is taken out, wherever in a round it began. The round counts only
/// checks begun after it: a check already under way when the fault began may still pass (its
/// connection was made before), or end only at its timeout, and counting it would close the
/// round before the servers checked after it were seen (a lab run saw two of three servers
/// taken out so before the freeze began).
extension DirectorState {
    /// With one real server a share says nothing of the director: its local failures count.
    static let localFaultMinimum = 2

    /// A round of checks that held local failures wait for.
    struct LocalFaultRound: Sendable {
        var id: Int
        /// ``resultsRecorded`` when it began: a check begun at that count or later is in it.
        var began: Int
        /// The checked servers not in maintenance when it began; it ends when nine in ten have
        /// been checked in it.
        var servers: Int
        var checked: Set<RealServerRef> = []
    }

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
            releaseLocalFaultHold(ref)
            return false
        }
        if localFaults.updateValue(fault, forKey: ref) != fault { localFaultsChanged = true }
        guard isUp, health.count - uncheckedServers.count >= Self.localFaultMinimum else {
            releaseLocalFaultHold(ref)
            return false
        }
        if localFaultFreeze == fault { return true }
        if let round = localFaultHeld[ref] { return localFaultRoundsEnded < round }
        // Its first: held until a round begun after it has ended.
        let round = localFaultRound.map { $0.id + 1 } ?? beginLocalFaultRound()
        localFaultHeld[ref] = round
        return true
    }

    /// Counts `ref`'s result in the round under way when its check began in it; ends the round
    /// when nine in ten servers were checked in it, and begins the next when a held failure
    /// waits for it.
    mutating func noteInLocalFaultRound(_ ref: RealServerRef, checkBegan: Int?) {
        guard var round = localFaultRound, (checkBegan ?? resultsRecorded) >= round.began else { return }
        round.checked.insert(ref)
        guard round.checked.count * 10 >= round.servers * 9 else {
            localFaultRound = round
            return
        }
        localFaultRoundsEnded = round.id
        localFaultRound = nil
        if localFaultHeld.values.contains(where: { $0 > round.id }) { _ = beginLocalFaultRound() }
    }

    /// A server in maintenance is not checked: the round under way no longer waits for it.
    mutating func noteMaintenanceInLocalFaultRound(_ ref: RealServerRef) {
        guard localFaultRound != nil else { return }
        noteInLocalFaultRound(ref, checkBegan: nil)
    }

    /// Starts or ends the freeze from the last results of every server.
    mutating func updateLocalFaultFreeze() -> [DirectorEvent] {
        // Looked at only when a server's local fault came or went: a healthy round costs
        // nothing per check, whatever the number of servers.
        guard localFaultsChanged else { return [] }
        localFaultsChanged = false
        let total = checkedServerCount
        var counts: [String: Int] = [:]
        for (ref, fault) in localFaults where health[ref]?.inMaintenance == false { counts[fault, default: 0] += 1 }
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
        forgetLocalFaultHolds()
        return [.localFaultBegan(fault: fault, failing: failing, total: total)]
    }

    /// After a reload: the last results of servers no longer configured are forgotten, and
    /// holds begin again with the next failure (the round's share was of the old servers).
    mutating func keepLocalFaultsStillConfigured() {
        let before = localFaults.count
        localFaults = localFaults.filter { health[$0.key] != nil }
        if localFaults.count != before { localFaultsChanged = true }
        forgetLocalFaultHolds()
    }

    /// Checked servers not in maintenance: those a fault of the director shows in.
    private var checkedServerCount: Int {
        health.count { ref, health in !health.inMaintenance && !uncheckedServers.contains(ref) }
    }

    private mutating func beginLocalFaultRound() -> Int {
        let id = max(localFaultRoundsEnded, localFaultRound?.id ?? 0) + 1
        localFaultRound = LocalFaultRound(id: id, began: resultsRecorded, servers: checkedServerCount)
        return id
    }

    private mutating func releaseLocalFaultHold(_ ref: RealServerRef) {
        guard localFaultHeld.removeValue(forKey: ref) != nil, localFaultHeld.isEmpty else { return }
        localFaultRound = nil
    }

    private mutating func forgetLocalFaultHolds() {
        localFaultHeld = [:]
        localFaultRound = nil
    }
}
