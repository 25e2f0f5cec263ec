public import Dispatch

/// A serial executor that runs jobs on one Dispatch queue.
///
/// An actor whose `unownedExecutor` is this one runs in the same serial context as the
/// Dispatch sources on ``queue`` (the table writer's netlink work runs so), and Dispatch
/// handlers can enter the actor synchronously with `assumeIsolated`. `DispatchSerialQueue` does
/// not exist on Linux, hence this type (conventions §6, pitfalls 1 and 2).
public final class DispatchQueueExecutor: SerialExecutor {
    public let queue: DispatchQueue

    public init(label: String) {
        self.queue = DispatchQueue(label: label)
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedSerialExecutor()) }
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Without this, `assumeIsolated` from a Dispatch handler traps even on the right queue.
    public func checkIsolated() {
        dispatchPrecondition(condition: .onQueue(queue))
    }
}
