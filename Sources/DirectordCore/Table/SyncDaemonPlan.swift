/// What to do with the kernel's connection-sync daemons so that the ones the file asks for run:
/// an I/O-free decision, made at start, at every repair and reload, and at stop.
///
/// A daemon directord did not start (the operator's `ipvsadm --start-daemon`, a previous
/// daemon's) is adopted when it is what the file asks for, and left alone when the file asks for
/// none of its role; directord only stops the daemons it started, so a stop never takes away a
/// daemon someone else relies on.
public struct SyncDaemonPlan: Equatable, Sendable {
    public enum Action: Equatable, Sendable {
        case start(IPVSSyncDaemon)
        /// Stop the running daemon of that role (`replacing` it when a start follows).
        case stop(IPVSSyncDaemon, replacing: Bool)
    }

    /// In order: a replaced daemon's stop comes right before its start.
    public var actions: [Action]
    /// The roles directord has started and so will stop, once the actions succeed.
    public var started: Set<IPVSSyncDaemon.Role>

    /// - Parameters:
    ///   - wanted: the daemons the file asks for (``ConnectionSync/daemons``).
    ///   - running: the daemons the kernel reports.
    ///   - started: the roles directord started earlier.
    ///   - previous: what the file asked for at the last plan (before a reload), so that a
    ///     changed `syncmaxlen`, which the kernel may round, still replaces the daemon.
    public static func plan(
        wanted: [IPVSSyncDaemon], running: [IPVSSyncDaemon], started: Set<IPVSSyncDaemon.Role>,
        previous: [IPVSSyncDaemon] = []
    ) -> SyncDaemonPlan {
        var actions: [Action] = []
        var nowStarted = started
        for role in IPVSSyncDaemon.Role.allCases {
            let want = wanted.first { $0.role == role }
            let have = running.first { $0.role == role }
            switch (want, have) {
            case (nil, nil):
                nowStarted.remove(role)
            case (nil, let have?):
                // No longer asked for: stopped if directord started it, else not its business.
                if started.contains(role) { actions.append(.stop(have, replacing: false)) }
                nowStarted.remove(role)
            case (let want?, nil):
                actions.append(.start(want))
                nowStarted.insert(role)
            case (let want?, let have?):
                let changed =
                    started.contains(role) && previous.contains { $0.role == role } && !previous.contains(want)
                if !have.satisfies(want) || changed {
                    actions.append(.stop(have, replacing: true))
                    actions.append(.start(want))
                    nowStarted.insert(role)
                }
            }
        }
        return SyncDaemonPlan(actions: actions, started: nowStarted)
    }

    /// At stop: the daemons directord started, and only those.
    public static func shutdown(running: [IPVSSyncDaemon], started: Set<IPVSSyncDaemon.Role>) -> [Action] {
        running.filter { started.contains($0.role) }.map { .stop($0, replacing: false) }
    }
}

extension IPVSSyncDaemon {
    /// Whether this running daemon is the one `wanted` describes. The kernel reports every
    /// value, its defaults included; what `wanted` leaves unset is whatever the kernel chose.
    /// The message length is not compared: the kernel fits it to the interface and the address
    /// family, so the value it reports may differ from the one asked for.
    public func satisfies(_ wanted: IPVSSyncDaemon) -> Bool {
        role == wanted.role && interface == wanted.interface && syncID == wanted.syncID
            && (wanted.group == nil || group == wanted.group) && (wanted.port == nil || port == wanted.port)
            && (wanted.ttl == nil || ttl == wanted.ttl)
    }
}
