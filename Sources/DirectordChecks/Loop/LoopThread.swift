import CSystemShims
import DirectordSystem
import Glibc
import Synchronization

/// The check loop's own thread: it runs work posted from any thread and, in between, waits in
/// `epoll_wait` on the ``Reactor``'s descriptor for I/O or the next timer, and handles both.
///
/// Why a thread of its own rather than a Dispatch queue (as before): a Dispatch source on
/// Linux is watched by Dispatch's manager thread, which hands every wake-up to a worker thread
/// and re-arms the source each time (a timer source is a `timerfd_settime` besides). Here a
/// wake-up is one `epoll_wait` on this thread, a timer is that call's timeout, and work posted
/// while the loop is busy costs no system call at all (the `eventfd` is written only when the
/// loop sleeps). Counted with `strace -f` in `directord-bench checks` at 40 checks a second
/// (its driver and server included), per check: `futex` 11.6 to 7.7, `epoll_ctl` 8.0 to 4.0,
/// `epoll_wait` 9.9 to 6.9, `timerfd_settime` 1 to 0.
final class LoopThread: Sendable {
    private struct Posted: ~Copyable {
        var work: [@Sendable () -> Void] = []
        /// The loop is in (or about to enter) an `epoll_wait` that may block.
        var sleeping = false
        /// The eventfd was written since the loop went to sleep.
        var woken = false
        var terminated = false
    }

    private let posted = Mutex(Posted())
    /// The epoll instance the thread waits on; the ``Reactor`` registers descriptors in it.
    let epollFD: Int32
    private let wakeFD: Int32
    /// `pthread_self()` of the loop's thread, once it runs.
    private let thread = Atomic<UInt>(0)

    /// The epoll token of the wake-up eventfd: registrations carry a descriptor number in the
    /// low 32 bits, never -1.
    static let wakeToken = UInt64.max

    init() throws(SystemError) {
        let epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else { throw SystemError("epoll_create1") }
        let wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard wakeFD >= 0 else {
            let error = SystemError("eventfd")
            Glibc.close(epollFD)
            throw error
        }
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = Self.wakeToken
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event) == 0 else {
            let error = SystemError("epoll_ctl")
            Glibc.close(wakeFD)
            Glibc.close(epollFD)
            throw error
        }
        self.epollFD = epollFD
        self.wakeFD = wakeFD
    }

    deinit {
        Glibc.close(wakeFD)
        Glibc.close(epollFD)
    }

    /// Whether the caller runs on the loop's thread.
    var isCurrent: Bool {
        let loop = thread.load(ordering: .acquiring)
        return loop != 0 && pthread_equal(pthread_t(loop), pthread_self()) != 0
    }

    /// Starts the thread, which runs until ``terminate()`` (and the work posted before it) and
    /// holds `reactor` until then. Called once.
    func start(name: String, reactor: Reactor) {
        let body = ThreadBody(loop: self, reactor: reactor, name: String(name.utf8.prefix(15)) ?? "directord")
        var handle = pthread_t()
        let argument = Unmanaged.passRetained(body).toOpaque()
        let status = pthread_create(
            &handle, nil,
            { raw in
                let body = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
                body.run()
                return nil
            }, argument)
        // Without a thread there is no loop: nothing could run, and every check would hang.
        precondition(status == 0, "cannot start the check loop's thread: \(String(cString: strerror(status)))")
        pthread_detach(handle)
    }

    /// Runs `work` on the loop's thread, after the work posted before it. From any thread.
    func post(_ work: @escaping @Sendable () -> Void) {
        let wake = posted.withLock { state -> Bool in
            state.work.append(work)
            guard state.sleeping, !state.woken else { return false }
            state.woken = true
            return true
        }
        if wake { _ = eventfd_write(wakeFD, 1) }
    }

    /// Ends the thread once the work already posted has run. From any thread.
    func terminate() {
        let wake = posted.withLock { state -> Bool in
            state.terminated = true
            return state.sleeping
        }
        if wake { _ = eventfd_write(wakeFD, 1) }
    }

    /// Called by the reactor when the wake-up descriptor is readable.
    func consumeWakeUp() {
        var value: eventfd_t = 0
        _ = eventfd_read(wakeFD, &value)
    }

    /// The thread's body: posted work, due timers, then one wait for I/O or the next timer.
    private final class ThreadBody: @unchecked Sendable {
        // The reactor is only ever touched on this thread (and before it starts): the loop's rule.
        let loop: LoopThread
        let reactor: Reactor
        let name: String
        /// The other half of the posted-work buffer: the two are swapped at each turn, so taking
        /// the work allocates nothing.
        var taken: [@Sendable () -> Void] = []

        init(loop: LoopThread, reactor: Reactor, name: String) {
            self.loop = loop
            self.reactor = reactor
            self.name = name
        }

        func run() {
            _ = CSystem_set_thread_name(name)
            loop.thread.store(UInt(pthread_self()), ordering: .releasing)
            while runPostedWork() {
                let untilTimer = reactor.processTimers()
                let timeout = loop.posted.withLock { state -> Int32 in
                    if !state.work.isEmpty || state.terminated { return 0 }
                    if untilTimer != 0 { state.sleeping = true }
                    return untilTimer
                }
                reactor.poll(timeoutMilliseconds: timeout)
                if timeout != 0 {
                    loop.posted.withLock { state in
                        state.sleeping = false
                        state.woken = false
                    }
                }
            }
            // The loop's context, released with the loop, posts its closing just before.
            _ = runPostedWork()
        }

        /// Runs what was posted; false once terminated with nothing left. The work is released
        /// before the thread sleeps: a job holds the executor, whose release ends the thread.
        private func runPostedWork() -> Bool {
            let terminated = loop.posted.withLock { state in
                swap(&taken, &state.work)
                return state.terminated
            }
            let hadWork = !taken.isEmpty
            for item in taken { item() }
            taken.removeAll(keepingCapacity: true)
            return !(terminated && !hadWork)
        }
    }
}

/// The check loop's serial executor: every job runs on its ``LoopThread``. An actor that
/// returns it as its `unownedExecutor` runs on that thread too, so the reactor's handlers (which
/// run there, outside any job) may enter it with `assumeIsolated`.
final class LoopExecutor: SerialExecutor {
    let thread: LoopThread

    init(thread: LoopThread) {
        self.thread = thread
    }

    /// The last reference gone (the loop released): the thread ends after the jobs queued.
    deinit {
        thread.terminate()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        thread.post { job.runSynchronously(on: self.asUnownedSerialExecutor()) }
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// What `assumeIsolated` asks outside a job (in a reactor handler, a timer, posted work).
    func checkIsolated() {
        precondition(thread.isCurrent, "not on the check loop's thread")
    }
}

/// A one-shot or repeating timer on the check loop's thread, for an actor that shares the
/// loop's executor (the daemon's director, its check scheduler): `action` runs on the loop and
/// may `assumeIsolated` it. Made by ``CheckLoop/makeTimer(_:)``; set and cancelled on the loop
/// only (its state is the loop's, like the reactor's). A timer that is released simply never
/// fires again.
public final class LoopTimer: @unchecked Sendable {
    private weak var reactor: Reactor?
    private let action: @Sendable () -> Void
    private var pending: TimerID?
    private var deadline: UInt64 = 0
    private var period: UInt64?

    init(reactor: Reactor, action: @escaping @Sendable () -> Void) {
        self.reactor = reactor
        self.action = action
    }

    /// Fires once after `delay`, then every `period` if one is given (counted from each
    /// deadline, so a late firing does not shift the ones after it); replaces what was set.
    public func schedule(after delay: Duration, repeating period: Duration? = nil) {
        cancel()
        self.period = period.map { max($0.nanoseconds, 1_000_000) }
        arm(at: Reactor.now &+ delay.nanoseconds)
    }

    /// Fires no more until scheduled again.
    public func cancel() {
        reactor?.cancel(pending)
        pending = nil
        period = nil
    }

    private func arm(at deadline: UInt64) {
        guard let reactor else { return }
        self.deadline = deadline
        pending = reactor.schedule(at: deadline) { [weak self] in self?.fire() }
    }

    private func fire() {
        pending = nil
        if let period {
            let now = Reactor.now
            let next = deadline &+ period
            arm(at: next > now ? next : now &+ period)
        }
        action()
    }
}
