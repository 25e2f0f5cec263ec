import CSystemShims
import DirectordCore
import DirectordSystem
import Dispatch
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

/// The I/O and timer core of a ``CheckLoop``: one epoll instance and one deadline heap, each
/// driven by a single Dispatch source on the loop's serial queue.
///
/// Why epoll behind one `DispatchSourceRead` instead of one Dispatch source per socket: on Linux,
/// Dispatch registers and cancels sources asynchronously through its manager thread, so a socket
/// may only be closed after its source's cancel handler has run. libcurl, libmariadb and our own
/// checks close sockets synchronously and reuse descriptor numbers at once, which races with
/// that. Here registration and removal are one synchronous `epoll_ctl` each, made on the loop, so
/// closing right after `unregister` is always safe, and a check costs no Dispatch objects. The
/// epoll descriptor is level-triggered and itself pollable: Dispatch fires the source again as
/// long as any registered descriptor is ready.
///
/// Not thread-safe: every method runs on the loop's queue (the ``CheckLoop`` actor's executor).
final class Reactor {
    typealias IOHandler = (PollEvents) -> Void

    private struct Registration {
        var generation: UInt32
        var handler: IOHandler
    }

    let queue: DispatchQueue
    private let epollFD: Int32
    private var registrations: [Int32: Registration] = [:]
    private var generation: UInt32 = 0
    private var events: [epoll_event]

    private var ioSource: (any DispatchSourceRead)?
    private var timerSource: (any DispatchSourceTimer)?
    private var timers = DeadlineHeap<UInt64>()
    private var timerActions: [UInt64: () -> Void] = [:]
    private var nextTimerID: UInt64 = 1
    /// The deadline the Dispatch timer is armed for; `UInt64.max` when disarmed.
    private var armedDeadline = UInt64.max
    private(set) var isClosed = false

    init(queue: DispatchQueue) throws(SystemError) {
        self.queue = queue
        let fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard fd >= 0 else { throw SystemError("epoll_create1") }
        epollFD = fd
        events = [epoll_event](repeating: epoll_event(), count: 256)
    }

    deinit {
        readBuffer.deallocate()
    }

    /// Creates and resumes the two Dispatch sources. `wake` runs on the queue and must call
    /// ``processIO()`` or ``processTimers()`` inside the owning actor's isolation.
    func start(wake: @escaping @Sendable (_ timers: Bool) -> Void) {
        guard ioSource == nil, !isClosed else { return }
        let io = DispatchSource.makeReadSource(fileDescriptor: epollFD, queue: queue)
        io.setEventHandler { wake(false) }
        let epollFD = self.epollFD
        // The descriptor may only be closed once Dispatch has let go of it.
        io.setCancelHandler { Glibc.close(epollFD) }
        io.resume()
        ioSource = io

        let timer = DispatchSource.makeTimerSource(flags: .strict, queue: queue)
        timer.setEventHandler { wake(true) }
        timer.schedule(deadline: .distantFuture, leeway: .milliseconds(1))
        timer.resume()
        timerSource = timer
    }

    /// Cancels both sources and forgets every registration and timer. Descriptors registered
    /// here belong to their owners, which close them.
    func close() {
        guard !isClosed else { return }
        isClosed = true
        registrations.removeAll()
        timerActions.removeAll()
        timerSource?.cancel()
        if let ioSource {
            ioSource.cancel()
        } else {
            Glibc.close(epollFD)
        }
    }

    // MARK: Descriptors

    /// Watches `fd` for `interest`; `handler` runs on the loop with what is ready (errors and
    /// hang-ups are always reported). Registering an fd that is already registered replaces
    /// its interest and handler.
    func register(_ fd: Int32, for interest: PollEvents, handler: @escaping IOHandler) throws(SystemError) {
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

    /// Runs the handlers of every ready descriptor, once. When more are ready than fit in one
    /// batch, the still-readable epoll descriptor makes Dispatch call again, so timers and
    /// other queue work interleave with a flood of I/O.
    func processIO() {
        guard !isClosed else { return }
        let count = events.withUnsafeMutableBufferPointer { buffer in
            retryingInterrupts { epoll_wait(epollFD, buffer.baseAddress, Int32(buffer.count), 0) }
        }
        guard count > 0 else { return }
        for index in 0..<Int(count) {
            let event = events[index]
            let token = event.data.u64
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

    /// Now, on the clock the timers use (Dispatch's monotonic uptime), in nanoseconds.
    static var now: UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Runs `action` on the loop at `deadline` (``Reactor/now`` nanoseconds) unless cancelled.
    @discardableResult
    func schedule(at deadline: UInt64, _ action: @escaping () -> Void) -> TimerID {
        let id = nextTimerID
        nextTimerID += 1
        timerActions[id] = action
        timers.insert(deadline: deadline, id: id)
        if deadline < armedDeadline { arm(deadline) }
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

    /// Runs every timer that is due. Timers scheduled while this runs wait for the next round,
    /// so an action that reschedules itself at "now" cannot spin the loop.
    func processTimers() {
        guard !isClosed else { return }
        armedDeadline = .max
        let now = Self.now
        let newest = nextTimerID
        while let head = timers.first, head.deadline <= now, head.id < newest {
            timers.removeFirst()
            if let action = timerActions.removeValue(forKey: head.id) { action() }
        }
        // Drop cancelled timers from the top so the Dispatch timer is not armed for them.
        while let head = timers.first, timerActions[head.id] == nil { timers.removeFirst() }
        if let head = timers.first { arm(head.deadline) }
    }

    var pendingTimerCount: Int { timerActions.count }

    private func arm(_ deadline: UInt64) {
        armedDeadline = deadline
        timerSource?.schedule(deadline: DispatchTime(uptimeNanoseconds: deadline), leeway: .milliseconds(1))
    }
}

/// A timer scheduled on a ``Reactor``.
struct TimerID: Hashable {
    let rawValue: UInt64
}
