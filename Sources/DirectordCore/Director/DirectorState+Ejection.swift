/// `maxejection`: failed checks never take out more than a share of a virtual service's real
/// servers. A fault every server shares (a dependency down, a broken network path on the
/// director itself) then costs a service some of its capacity, not all of it.
extension DirectorState {
    /// The real servers of `virtual` whose checks failed but that stay in the table at their
    /// weight because `maxejection` is reached: beyond the share, those that failed last (the
    /// ones that failed first are the likeliest to be really broken).
    ///
    /// Counted among the real servers that can be taken out: not refused, not drained, not in
    /// maintenance, and up or taken out by checks. A server that never passed a check is not
    /// held in: it has carried no traffic yet.
    public func ejectionHeld(_ virtual: VirtualService) -> Set<RealServerRef> {
        guard let percent = virtual.maxEjection else { return [] }
        var eligible = 0
        var failed: [RealServerRef] = []
        for real in virtual.realServers where real.refusal == nil {
            let ref = RealServerRef(service: virtual.key, destination: real.destinationKey)
            guard drains[ref] == nil, let health = health[ref], !health.inMaintenance,
                health.state == .up || health.downByChecks
            else { continue }
            eligible += 1
            if health.state == .down { failed.append(ref) }
        }
        let allowed = eligible * percent / 100
        guard failed.count > allowed else { return [] }
        let lastFirst = failed.sorted { (wentDownOrder[$0] ?? 0) > (wentDownOrder[$1] ?? 0) }
        return Set(lastFirst.prefix(failed.count - allowed))
    }

    /// Events for the servers `maxejection` holds in now and did not before.
    func ejectionEvents(_ virtual: VirtualService, heldBefore: Set<RealServerRef>) -> [DirectorEvent] {
        let now = ejectionHeld(virtual)
        guard let percent = virtual.maxEjection else { return [] }
        return now.subtracting(heldBefore).sorted { "\($0)" < "\($1)" }.map { ref in
            .ejectionLimitHolds(ref.endpoint, in: ref.service, percent: percent, reason: health[ref]?.reason ?? "")
        }
    }
}
