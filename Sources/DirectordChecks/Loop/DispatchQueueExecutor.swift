import Dispatch

/// A serial executor that runs jobs on one Dispatch queue.
///
/// ``CheckLoop`` uses it as its actor executor, so that the actor's methods and the Dispatch
/// sources of the loop (the epoll source, the timer) run in one serial context, and Dispatch
/// handlers can enter the actor synchronously with `assumeIsolated`. `DispatchSerialQueue` does
/// not exist on Linux, hence this type (conventions §6, pitfalls 1 and 2).
final class DispatchQueueExecutor: SerialExecutor {
    let queue: DispatchQueue

    init(label: String) {
        self.queue = DispatchQueue(label: label)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedSerialExecutor()) }
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Without this, `assumeIsolated` from a Dispatch handler traps even on the right queue.
    func checkIsolated() {
        dispatchPrecondition(condition: .onQueue(queue))
    }
}
