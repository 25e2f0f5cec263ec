public import DirectordCore
import DirectordSystem
public import Logging
import Synchronization

/// Runs health checks of real servers, all concurrently, on one event loop.
///
/// Every check of every kind shares one thread of its own, which is also this actor's
/// executor: sockets are watched through one epoll instance, all time limits live in one
/// deadline heap whose earliest entry is the `epoll_wait` timeout, plain HTTP is spoken
/// directly, HTTPS (and what plain HTTP hands over), LDAP, POP3S and IMAPS go through libcurl's
/// multi-socket API, MySQL through MariaDB's non-blocking API, PostgreSQL through libpq's, ICMP
/// through one socket per address family, and external commands are watched through pidfds.
/// No check has a thread, no call blocks the loop, and the thread count does not depend on how
/// many checks are in flight.
///
/// A check never throws: whatever goes wrong with the real server is a ``CheckResult`` that is
/// down, with a reason a person can read. Each check ends within its time limit
/// (`negotiatetimeout` for negotiate checks, `checktimeout` for the others, `checkcount`
/// attempts of `checktimeout` for ping).
///
/// ```swift
/// let loop = try CheckLoop()
/// let check = virtualService.healthCheck(for: realServer)
/// let result = await loop.check(check)          // many may be awaited at once
/// log(result.isUp, result.reason, result.latency)
/// ```
///
/// For `checktype=N` (combined), keep one `CombinedCheckState` (in DirectordCore) per real server; it picks
/// the connect or negotiate check ldirectord would run next.
///
/// Another actor can run on this loop's thread (and call ``startOnLoop(_:completion:)`` without
/// a hop) by returning this loop's `unownedExecutor` from its own; its timers are
/// ``LoopTimer``s and work from other threads reaches it through ``execute(_:)``.
public actor CheckLoop {
    /// Settings that are not part of ldirectord.cf.
    public struct Options: Sendable, Hashable {
        /// Bytes of an HTTP body kept for matching `receive`; the transfer stops there.
        public var maximumBodyBytes: Int = 1 << 20
        /// Bytes of other replies (simpletcp, FTP files, command output) kept.
        public var maximumReplyBytes: Int = 64 << 10
        /// Runs plain `http://` checks through libcurl, as HTTPS ones, instead of
        /// ``PlainHTTPCheck``: for comparing the two (tests, `directord-bench checks`).
        public var plainHTTPThroughLibcurl = false
        /// The User-Agent of HTTP checks.
        public var userAgent: String = "directord"
        /// The name of the loop's thread (at most 15 bytes), seen in `top -H`, debuggers and
        /// crash reports.
        public var threadName: String = "directord-loop"

        public init() {}
    }

    private let executor: LoopExecutor
    let context: LoopContext
    /// The settings the loop was made with.
    public nonisolated let options: Options
    /// A debug line per finished check (`directord -d`); silent by default.
    private let logger: Logger
    private var inFlight: [UInt64: CheckOperation] = [:]
    private var isShutDown = false
    private let nextID = Atomic<UInt64>(1)

    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// Runs `work` on the loop's thread, after the work already waiting there. From any thread;
    /// `work` may `assumeIsolated` this loop or an actor that shares its executor.
    public nonisolated func execute(_ work: @escaping @Sendable () -> Void) {
        executor.thread.post(work)
    }

    /// A timer whose `action` runs on the loop's thread (and may `assumeIsolated` this loop or
    /// an actor that shares its executor). Made, set and cancelled on the loop only.
    public nonisolated func makeTimer(_ action: @escaping @Sendable () -> Void) -> LoopTimer {
        assumeIsolated { LoopTimer(reactor: $0.context.reactor, action: action) }
    }

    /// Creates the loop's thread and epoll instance.
    ///
    /// - Throws: ``CheckLoopError`` when the process is out of file descriptors.
    public init(
        options: Options = Options(),
        logger: Logger = Logger(label: "directord.checks", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws(CheckLoopError) {
        self.options = options
        self.logger = logger
        let context: LoopContext
        do {
            context = try LoopContext(options: options)
        } catch {
            throw .cannotCreatePoller(error.description)
        }
        self.context = context
        let thread = context.reactor.thread
        self.executor = LoopExecutor(thread: thread)
        context.hop = { [weak self] work in
            self?.execute { [weak self] in self?.assumeIsolated { work($0.context) } }
        }
        context.reactor.start(name: options.threadName)
    }

    // MARK: Running checks

    /// Runs one check now and returns its result.
    ///
    /// Many calls may be in flight at once; each returns when its own check ends. Cancelling
    /// the calling task ends the check at once, as down ("check cancelled").
    public func check(_ check: HealthCheck) async -> CheckResult {
        if Task.isCancelled { return .down("check cancelled", latency: .zero) }
        let id = nextID.add(1, ordering: .relaxed).newValue
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                self.start(check, id: id) { continuation.resume(returning: $0) }
            }
        } onCancel: {
            // Runs on whatever thread cancels; the cancellation is a job on the loop, after the
            // check has been registered (both are on the same serial queue).
            self.executor.thread.post { [weak self] in
                self?.assumeIsolated { $0.cancel(id, reason: "check cancelled") }
            }
        }
    }

    /// Starts one check now; `completion` runs on the loop with the result, exactly once.
    ///
    /// Checks that need no I/O (`checktype=on`/`off`, `service=none`, a check with no port)
    /// complete before this returns. `completion` may start further checks.
    public func start(_ check: HealthCheck, completion: @escaping (CheckResult) -> Void) {
        start(check, id: nextID.add(1, ordering: .relaxed).newValue, completion: completion)
    }

    /// Starts one check from any thread; `completion` runs on the loop.
    public nonisolated func submit(_ check: HealthCheck, completion: @escaping @Sendable (CheckResult) -> Void) {
        let id = nextID.add(1, ordering: .relaxed).newValue
        executor.thread.post { [weak self] in
            guard let self else {
                completion(.down("check loop shut down", latency: .zero))
                return
            }
            self.assumeIsolated { $0.start(check, id: id, completion: completion) }
        }
    }

    /// Starts one check now from code already running on the loop's thread (an actor that
    /// shares this loop's executor), without the hop ``submit(_:completion:)`` makes.
    public nonisolated func startOnLoop(_ check: HealthCheck, completion: @escaping @Sendable (CheckResult) -> Void) {
        startOnLoop(prepare(check), completion: completion)
    }

    /// ``startOnLoop(_:completion:)`` for a check prepared once (``prepare(_:)``) and run many
    /// times, as the daemon runs each of its checks every interval.
    public nonisolated func startOnLoop(
        _ prepared: PreparedCheck, completion: @escaping @Sendable (CheckResult) -> Void
    ) {
        let id = nextID.add(1, ordering: .relaxed).newValue
        assumeIsolated { $0.start(prepared, id: id, completion: completion) }
    }

    /// What running `check` means, worked out once: which checker and, for plain HTTP, the
    /// request's bytes. Before, every start did it again: about 16 of the 55 allocations of a
    /// plain HTTP check (perf probe on malloc, 40 checks a second).
    public nonisolated func prepare(_ check: HealthCheck) -> PreparedCheck {
        PreparedCheck(
            plan: CheckPlan(
                check, plainHTTPThroughLibcurl: options.plainHTTPThroughLibcurl, userAgent: options.userAgent))
    }

    /// Checks started and not yet finished.
    public var checksInFlight: Int { inFlight.count }

    /// Ends every check in flight (down, "check loop shut down"), kills running check commands
    /// and closes every socket. Checks started afterwards are down at once.
    public func shutdown() {
        guard !isShutDown else { return }
        isShutDown = true
        let operations = inFlight.values
        inFlight.removeAll()
        for operation in operations { operation.fail("check loop shut down") }
        context.shutdown()
    }

    // MARK: On the loop

    private func start(_ check: HealthCheck, id: UInt64, completion: @escaping (CheckResult) -> Void) {
        start(prepare(check), id: id, completion: completion)
    }

    private func start(_ prepared: PreparedCheck, id: UInt64, completion: @escaping (CheckResult) -> Void) {
        guard !isShutDown else {
            completion(.down("check loop shut down", latency: .zero))
            return
        }
        let plan = prepared.plan
        let check = plan.check
        guard let operation = plan.makeOperation(context: context) else {
            let result = plan.immediateResult ?? .down("nothing to check", latency: .zero)
            trace(check, result)
            completion(result)
            return
        }
        inFlight[id] = operation
        // Captures the loop strongly (which makes the closure isolated to it); the operation
        // drops the closure once it has run, and every operation ends by its time limit.
        operation.run(timeout: plan.timeout) { result in
            self.inFlight[id] = nil
            let result = Self.sayingThePath(result, of: check)
            self.trace(check, result)
            completion(result)
        }
    }

    /// A failure through the forwarding path says so: a plain check of the same server may pass.
    static func sayingThePath(_ result: CheckResult, of check: HealthCheck) -> CheckResult {
        guard let path = check.forwardingPath, !result.isUp else { return result }
        var result = result
        result.reason += " (sent to \(path.virtualAddress) through the forwarding path, fwmark \(path.mark))"
        return result
    }

    private func trace(_ check: HealthCheck, _ result: CheckResult) {
        logger.debug(
            "check \(check.address.bracketed)\(check.port.map { ":\($0)" } ?? ""): \(result.isUp ? "up" : "down")",
            metadata: [
                "type": "\(check.type)", "service": "\(check.service)", "latency": "\(result.latency)",
                "reason": "\(result.reason)",
            ])
    }

    private func cancel(_ id: UInt64, reason: String) {
        inFlight.removeValue(forKey: id)?.fail(reason)
    }
}

/// Setup problems of the check loop itself (never of a checked server).
public enum CheckLoopError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The epoll instance could not be created (usually: out of file descriptors).
    case cannotCreatePoller(String)

    public var description: String {
        switch self {
        case .cannotCreatePoller(let why): "cannot create the check loop's poller: \(why)"
        }
    }
}

/// Runs `work` on the loop (with its ``LoopContext``) from any thread; a no-op once the loop
/// is gone.
typealias LoopHop = @Sendable (_ work: @escaping @Sendable (LoopContext) -> Void) -> Void

/// Everything the checks on one loop share. Not thread-safe: it lives inside the ``CheckLoop``
/// actor and is only touched on the loop.
final class LoopContext {
    let options: CheckLoop.Options
    let reactor: Reactor
    let patterns = ReceivePatternCache()
    private var curlMultis: [CurlMulti?] = Array(repeating: nil, count: LoopContext.curlShards)
    private var icmp: [AddressFamily: ICMPEndpoint] = [:]
    private var processWatcher: ProcessWatcher?
    /// Runs work on the loop from another thread; set by the ``CheckLoop`` when it starts.
    var hop: LoopHop?

    /// The loop's watcher of check commands, made on first use.
    var processes: ProcessWatcher {
        if let processWatcher { return processWatcher }
        let watcher = ProcessWatcher(reactor: reactor, hop: hop)
        processWatcher = watcher
        return watcher
    }

    init(options: CheckLoop.Options) throws(SystemError) {
        self.options = options
        self.reactor = try Reactor()
    }

    /// The loop was released without ``CheckLoop/shutdown()``: the checks still in flight were
    /// released before this (each holds the context), dropping their results; what is left is
    /// closed here, on the loop's thread, which may be touching the reactor at this moment.
    /// Work posted to the thread holds the loop weakly, so none of the loop's runs any more.
    deinit {
        let remains = self.remains
        if reactor.thread.isCurrent {
            remains.close()
        } else {
            reactor.thread.post { remains.close() }
        }
    }

    /// What the context holds open, to close: at ``shutdown()``, or by the loop's thread once
    /// the context is released.
    private var remains: Remains {
        Remains(processWatcher: processWatcher, curlMultis: curlMultis, icmp: Array(icmp.values), reactor: reactor)
    }

    private final class Remains: @unchecked Sendable {
        // Handed to the loop's thread whole when the context is released elsewhere: nothing
        // else refers to these any more, and they are closed there.
        let processWatcher: ProcessWatcher?
        let curlMultis: [CurlMulti?]
        let icmp: [ICMPEndpoint]
        let reactor: Reactor

        init(processWatcher: ProcessWatcher?, curlMultis: [CurlMulti?], icmp: [ICMPEndpoint], reactor: Reactor) {
            self.processWatcher = processWatcher
            self.curlMultis = curlMultis
            self.icmp = icmp
            self.reactor = reactor
        }

        func close() {
            processWatcher?.killAll()
            for multi in curlMultis { multi?.close() }
            for endpoint in icmp { endpoint.close() }
            reactor.close()
        }
    }

    /// The libcurl multi handle for a real server's checks, made on first use.
    ///
    /// Why several: libcurl before 8.x (Debian 12 ships 7.88) keeps a connection cache with
    /// one "bundle" per destination host and port, and closing a destination's last connection
    /// walks every bundle (`conncache_remove_bundle`). With N real servers that is O(N) per
    /// check; measured here, 10,000 real servers made each check cost 0.3 ms of CPU instead of
    /// 0.05. Spreading real servers over a fixed number of multi handles, by address and port,
    /// divides that walk; all of them run on the same loop.
    func curl(for address: IPAddress, port: UInt16?) throws(CurlSetupError) -> CurlMulti {
        var hasher = Hasher()
        hasher.combine(address)
        hasher.combine(port)
        let shard = Int(UInt(bitPattern: hasher.finalize()) % UInt(Self.curlShards))
        if let multi = curlMultis[shard] { return multi }
        let multi = try CurlMulti(reactor: reactor)
        curlMultis[shard] = multi
        return multi
    }

    static let curlShards = 64

    /// The loop's ICMP socket for a family, opened on first use; nil with the reason when the
    /// process may not open one.
    func icmpEndpoint(for family: AddressFamily) -> Result<ICMPEndpoint, SystemError> {
        if let endpoint = icmp[family] { return .success(endpoint) }
        do {
            let endpoint = try ICMPEndpoint(family: family, reactor: reactor)
            icmp[family] = endpoint
            return .success(endpoint)
        } catch {
            return .failure(error)
        }
    }

    func shutdown() {
        let remains = self.remains
        curlMultis = Array(repeating: nil, count: Self.curlShards)
        icmp.removeAll()
        remains.close()
    }
}

/// A check ready to start many times on the loop that prepared it (``CheckLoop/prepare(_:)``).
public struct PreparedCheck: Sendable {
    let plan: CheckPlan

    /// The check it runs.
    public var check: HealthCheck { plan.check }
}
