import CSystemShims
import DirectordCore
import DirectordSystem
import Glibc

/// Readiness of a file descriptor, as epoll reports it.
struct PollEvents: OptionSet, Hashable {
    let rawValue: UInt32

    static let readable = PollEvents(rawValue: EPOLLIN.rawValue)
    static let writable = PollEvents(rawValue: EPOLLOUT.rawValue)
    /// Reported whether asked for or not.
    static let error = PollEvents(rawValue: EPOLLERR.rawValue)
    /// Reported whether asked for or not.
    static let hangup = PollEvents(rawValue: EPOLLHUP.rawValue)
}

/// The I/O and timer core of a ``CheckLoop``: one epoll instance and one deadline heap, driven
/// by the loop's own thread (``LoopThread``), which waits in `epoll_wait` until a descriptor is
/// ready or the earliest deadline comes.
///
/// Registration and removal are one synchronous `epoll_ctl` each, made on the loop, so closing
/// a descriptor right after `unregister` is always safe (libcurl, libmariadb and our own checks
/// close sockets synchronously and reuse descriptor numbers at once), and a check costs no
/// objects beyond its handler. The epoll descriptor is level-triggered.
///
/// Not thread-safe: every method runs on the loop's thread (the ``CheckLoop`` actor's executor).
final class Reactor {
    typealias IOHandler = (PollEvents) -> Void

    private struct Registration {
        var generation: UInt32
        var handler: IOHandler
    }

    let thread: LoopThread
    private var epollFD: Int32 { thread.epollFD }
    private var registrations: [Int32: Registration] = [:]
    private var generation: UInt32 = 0
    private var events: [epoll_event]

    private var timers = DeadlineHeap<UInt64>()
    private var timerActions: [UInt64: () -> Void] = [:]
    private var nextTimerID: UInt64 = 1
    private(set) var isClosed = false

    init() throws(SystemError) {
        thread = try LoopThread()
        events = [epoll_event](repeating: epoll_event(), count: 256)
    }

    deinit {
        readBuffer.deallocate()
    }

    /// Starts the loop's thread; from then on only that thread touches this reactor.
    func start(name: String) {
        thread.start(name: name, reactor: self)
    }

    /// Forgets every registration and timer. Descriptors registered here belong to their
    /// owners, which close them; the thread keeps running posted work until it is terminated.
    func close() {
        guard !isClosed else { return }
        isClosed = true
        for fd in registrations.keys {
            var event = epoll_event()
            _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, &event)
        }
        registrations.removeAll()
        timerActions.removeAll()
        timers = DeadlineHeap()
    }

    // MARK: Descriptors

    /// Watches `fd` for `interest`; `handler` runs on the loop with what is ready (errors and
    /// hang-ups are always reported). Registering an fd that is already registered replaces
    /// its interest and handler.
    func register(_ fd: Int32, for interest: PollEvents, handler: @escaping IOHandler) throws(SystemError) {
        guard !isClosed else { throw SystemError("epoll_ctl", code: EBADF) }
        generation &+= 1
        let token = UInt64(generation) << 32 | UInt64(UInt32(bitPattern: fd))
        var event = epoll_event()
        event.events = interest.rawValue
        event.data.u64 = token
        let operation = registrations[fd] == nil ? EPOLL_CTL_ADD : EPOLL_CTL_MOD
        if epoll_ctl(epollFD, operation, fd, &event) != 0 {
            // A descriptor closed without unregistering (the kernel dropped it: ENOENT) or
            // registered behind our back (EEXIST): try the other operation once.
            let retry: Int32? =
                switch errno {
                case ENOENT: EPOLL_CTL_ADD
                case EEXIST: EPOLL_CTL_MOD
                default: nil
                }
            guard let retry, epoll_ctl(epollFD, retry, fd, &event) == 0 else { throw SystemError("epoll_ctl") }
        }
        registrations[fd] = Registration(generation: generation, handler: handler)
    }

    /// Changes what `fd` is watched for, keeping its handler.
    func setInterest(_ fd: Int32, _ interest: PollEvents) throws(SystemError) {
        guard let registration = registrations[fd] else { return }
        var event = epoll_event()
        event.events = interest.rawValue
        event.data.u64 = UInt64(registration.generation) << 32 | UInt64(UInt32(bitPattern: fd))
        if epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, &event) != 0 { throw SystemError("epoll_ctl") }
    }

    /// Stops watching `fd`. Safe to call for a descriptor that is not registered; the caller may
    /// close the descriptor right after.
    func unregister(_ fd: Int32) {
        guard registrations.removeValue(forKey: fd) != nil else { return }
        var event = epoll_event()
        _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, &event)
    }

    /// Forgets `fd`, which the caller is about to close, without telling epoll: closing the
    /// last descriptor of a socket removes it from the epoll set, and at thousands of checks a
    /// second the `EPOLL_CTL_DEL` is a system call per check for nothing. (A child being
    /// spawned may hold a copy until its `execve`; events of that stale entry carry an old
    /// generation and are ignored.)
    func forgetBeforeClosing(_ fd: Int32) {
        registrations.removeValue(forKey: fd)
    }

    var registeredCount: Int { registrations.count }

    /// A buffer for reads on the loop, shared by every connection: whatever is read is copied
    /// out before the next read, so one is enough, and a check does not allocate (and zero)
    /// its own for each read.
    let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)

    /// Waits up to `timeoutMilliseconds` (-1: for ever, 0: not at all) for ready descriptors
    /// and runs their handlers, once. When more are ready than fit in one batch, the rest are
    /// reported by the next call (the descriptor is level-triggered), after timers and posted
    /// work have had their turn.
    func poll(timeoutMilliseconds: Int32) {
        let count = events.withUnsafeMutableBufferPointer { buffer in
            epoll_wait(epollFD, buffer.baseAddress, Int32(buffer.count), timeoutMilliseconds)
        }
        guard count > 0 else { return }
        for index in 0..<Int(count) {
            let event = events[index]
            let token = event.data.u64
            if token == LoopThread.wakeToken {
                thread.consumeWakeUp()
                continue
            }
            let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: token))
            // An earlier handler in this batch may have unregistered the descriptor, and a new
            // one may have taken its number: the generation tells them apart.
            guard let registration = registrations[fd], registration.generation == UInt32(token >> 32) else {
                continue
            }
            registration.handler(PollEvents(rawValue: event.events))
        }
    }

    // MARK: Timers

    /// Now, on the clock the timers use (CLOCK_MONOTONIC, read without a system call), in
    /// nanoseconds.
    static var now: UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }

    /// Runs `action` on the loop at `deadline` (``Reactor/now`` nanoseconds) unless cancelled.
    @discardableResult
    func schedule(at deadline: UInt64, _ action: @escaping () -> Void) -> TimerID {
        let id = nextTimerID
        nextTimerID += 1
        timerActions[id] = action
        timers.insert(deadline: deadline, id: id)
        return TimerID(rawValue: id)
    }

    @discardableResult
    func schedule(after delay: Duration, _ action: @escaping () -> Void) -> TimerID {
        schedule(at: Self.now &+ delay.nanoseconds, action)
    }

    /// Cancels a timer; harmless if it already ran or was cancelled.
    func cancel(_ timer: TimerID?) {
        guard let timer, timerActions.removeValue(forKey: timer.rawValue) != nil else { return }
        // Cancelled entries stay in the heap until they come due. Most checks end long before
        // their time limit (30 s by default), so at thousands of checks per second they would
        // pile up: rebuild the heap when most of it is dead.
        if timers.count > 4096 && timers.count > 4 * timerActions.count {
            timers.removeAll { timerActions[$0.id] == nil }
        }
    }

    /// Runs every timer that is due; returns how long the loop may wait for I/O before the
    /// next one, in milliseconds rounded up (-1: no timer). Timers scheduled while this runs
    /// wait for the next round, so an action that reschedules itself at "now" cannot spin it.
    func processTimers() -> Int32 {
        guard !isClosed else { return -1 }
        let now = Self.now
        let newest = nextTimerID
        while let head = timers.first, head.deadline <= now, head.id < newest {
            timers.removeFirst()
            if let action = timerActions.removeValue(forKey: head.id) { action() }
        }
        // Cancelled timers at the top would wake the loop for nothing.
        while let head = timers.first, timerActions[head.id] == nil { timers.removeFirst() }
        guard let head = timers.first else { return -1 }
        let after = Self.now
        guard head.deadline > after else { return 0 }
        return Int32(clamping: (head.deadline - after + 999_999) / 1_000_000)
    }

    var pendingTimerCount: Int { timerActions.count }
}

/// A timer scheduled on a ``Reactor``.
struct TimerID: Hashable {
    let rawValue: UInt64
}
