public import DirectordCore
import Synchronization

/// An ``InMemoryIPVSTable`` that tells waiting tests about every read and every change, so a
/// test waits for a condition on the table without polling it: ``waitUntil(timeout:_:)``
/// re-evaluates its condition after each operation the code under test makes. Conditions read
/// the inner ``table``, never this wrapper (a read here would wake every waiter again).
public final class ObservedIPVSTable: IPVSControl {
    public let table: InMemoryIPVSTable

    private struct State {
        /// Snapshots taken by the code under test: a director reads the table at start and at
        /// every drift repair, so this counts its repair rounds.
        var reads = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
    }

    private let state = Mutex(State())

    public init(_ table: InMemoryIPVSTable = InMemoryIPVSTable()) {
        self.table = table
    }

    /// How many times the code under test read the table.
    public var reads: Int { state.withLock { $0.reads } }

    /// Waits until `condition` holds, evaluating it now and after every read or change of the
    /// table, for at most `timeout`; returns whether it held. No thread is held while waiting.
    public func waitUntil(timeout: Duration, _ condition: @escaping @Sendable () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        // The timeout only wakes a waiter that nothing else woke; it never decides early.
        let alarm = Task {
            try? await Task.sleep(until: deadline, clock: .continuous)
            if !Task.isCancelled { self.wakeAll() }
        }
        defer { alarm.cancel() }
        while true {
            if condition() { return true }
            if ContinuousClock.now >= deadline { return condition() }
            await withCheckedContinuation { continuation in
                state.withLock { state in
                    state.waiters[state.nextWaiter] = continuation
                    state.nextWaiter += 1
                }
                // A change between the check above and the registration must not be missed:
                // check again now that a change will wake us.
                if condition() || ContinuousClock.now >= deadline { wakeAll() }
            }
        }
    }

    private func wakeAll() {
        let waiters = state.withLock { state in
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    // MARK: IPVSControl, forwarded

    public func info() throws(IPVSError) -> IPVSInfo { try table.info() }

    public func snapshot() throws(IPVSError) -> IPVSSnapshot {
        defer {
            state.withLock { $0.reads += 1 }
            wakeAll()
        }
        return try table.snapshot()
    }

    public func apply(_ operations: [TableOperation]) throws(IPVSError) {
        defer { wakeAll() }
        try table.apply(operations)
    }

    public func flush() throws(IPVSError) {
        defer { wakeAll() }
        try table.flush()
    }

    public func syncDaemons() throws(IPVSError) -> [IPVSSyncDaemon] { try table.syncDaemons() }

    public func startSyncDaemon(_ daemon: IPVSSyncDaemon) throws(IPVSError) {
        defer { wakeAll() }
        try table.startSyncDaemon(daemon)
    }

    public func stopSyncDaemon(_ role: IPVSSyncDaemon.Role) throws(IPVSError) {
        defer { wakeAll() }
        try table.stopSyncDaemon(role)
    }
}
