public import DirectordChecks
public import DirectordCore

/// `directord plan`: what a start would do to the kernel's table as it is now, without doing
/// it. The way to rehearse moving a live ldirectord director to directord.
///
/// It does what a start does, and stops short of the kernel: adopts the table, checks every
/// real server once (maintenance files included), and takes the decisions the state then
/// takes. With a daemon already running, the same operations are what a reload to this file
/// would make, its health being what these checks find.
public enum StartPlan {
    /// The operations in the order a start makes them, and the log line each would get.
    public struct Plan: Sendable {
        public var operations: [TableOperation]
        public var events: [DirectorEvent]
        /// Services the kernel would refuse, which a start leaves out: `(id, why)`.
        public var refused: [(String, String)]

        /// One ipvsadm command a line, then, as comments, the lines the start would log.
        public var text: String {
            var lines: [String] = []
            for (id, why) in refused { lines.append("# \(id) is not run: \(why)") }
            if operations.isEmpty { lines.append("# nothing to change: the table is what a start would leave") }
            lines += operations.map(IPVSListing.command)
            if !events.isEmpty {
                lines.append("# what the start would log:")
                lines += events.map { "#   " + $0.message }
            }
            return lines.map(VisibleText.escaping).joined(separator: "\n") + "\n"
        }
    }

    /// Plans a start on `table` with one round of checks through `loop`.
    public static func plan(configuration: Configuration, table: IPVSTable, loop: CheckLoop) async -> Plan {
        var state = DirectorState(configuration: configuration, observed: table)
        var operations: [TableOperation] = []
        var events: [DirectorEvent] = []
        func settle(_ phase: DirectorEvent.Phase) {
            // As the daemon settles: apply, commit, again until nothing is left.
            for _ in 0..<4 where state.needsReconcile {
                let reconciliation = state.takeReconciliation(phase: phase)
                if reconciliation.operations.isEmpty && reconciliation.fallbackCommands.isEmpty { break }
                operations += reconciliation.operations
                events += reconciliation.events
                state.commit(reconciliation)
            }
        }
        settle(.start)

        if let directory = configuration.globals.maintenanceDirectory {
            let maintenance = MaintenanceDirectory(path: directory)
            maintenance.setCandidates(MaintenanceDirectory.candidateNames(for: configuration))
            for virtual in configuration.virtualServices {
                for real in virtual.realServers {
                    let ref = RealServerRef(service: virtual.key, destination: real.destinationKey)
                    if maintenance.isInMaintenance(ref) { state.setMaintenance(true, for: ref) }
                }
            }
        }
        let scheduled = state.scheduledChecks
        let results = await withTaskGroup(of: (Int, CheckResult).self) { group in
            for (index, entry) in scheduled.enumerated() {
                group.addTask { (index, await loop.check(entry.check)) }
            }
            var results: [Int: CheckResult] = [:]
            for await (index, result) in group { results[index] = result }
            return results
        }
        for (index, entry) in scheduled.enumerated() {
            let refs = entry.realServers.filter { state.health(of: $0)?.inMaintenance != true }
            if let result = results[index] { _ = state.record(result, for: refs) }
        }
        state.requestReconcile()
        settle(.start)
        let refused = configuration.virtualServices.compactMap { virtual in virtual.refusal.map { (virtual.id, $0) } }
        return Plan(operations: operations, events: events, refused: refused)
    }
}
