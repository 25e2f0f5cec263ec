import CMariaDB
import DirectordCore
import DirectordSystem
import Glibc

/// libmariadb's global state, initialised once before the first handle (`mysql_init` would do
/// it itself, but not thread-safely; loops on several threads may start at once in tests).
private let mariaDBLibraryReady: Bool = mysql_server_init(0, nil, nil) == 0

/// `service=mysql` negotiate checks (ldirectord's `check_mysql`): connect to REAL:checkport
/// with `login`, `passwd` and `database`, run the `request` query once, up when it returns at
/// least one row.
///
/// Runs on MariaDB Connector/C's non-blocking API (`mysql_*_start` / `_cont`): the library
/// says what it waits for (read, write, a timeout) and the loop calls it back when that
/// happens, so a server that accepts and never answers holds no thread. ldirectord ran the
/// query twice and had no time limit at all; here the query runs once and the whole exchange
/// is limited by `negotiatetimeout` (also set as the library's connect, read and write
/// timeouts). ldirectord required `login` and a request; so does this check.
final class MySQLCheck: CheckOperation {
    private enum Step {
        case connect
        case query
        case storeResult
        case close
    }

    private let check: HealthCheck
    private var mysql: UnsafeMutablePointer<MYSQL>?
    private var step = Step.connect
    private var watchedFD: Int32 = -1
    /// A `_start` returned a wait status and its `_cont` has not finished yet.
    private var operationPending = false
    private var libraryTimer: TimerID?
    private var result: UnsafeMutablePointer<MYSQL_RES>?
    /// The verdict reached before the polite close; delivered once the close is done.
    private var verdict: (up: Bool, reason: String)?
    /// C strings handed to a `_start` call: the library keeps the pointers while the operation
    /// is suspended, so they live until the check ends.
    private var cStrings: [UnsafeMutablePointer<CChar>] = []

    init(context: LoopContext, check: HealthCheck) {
        self.check = check
        super.init(context: context)
    }

    /// Dropped without a verdict (the loop was released): free the C handle all the same.
    deinit {
        if !isFinished { releaseResources() }
    }

    private var endpoint: String { "\(check.address.bracketed):\(check.port ?? 0)" }

    /// ldirectord strips the request's leading slash to make the query.
    private var query: String {
        check.request.hasPrefix("/") ? String(check.request.dropFirst()) : check.request
    }

    override func begin() {
        guard !check.login.isEmpty, !query.isEmpty else {
            fail("mysql checks need login= and a request= query (as ldirectord's)")
            return
        }
        guard mariaDBLibraryReady, let mysql = mysql_init(nil) else {
            fail("mysql: cannot initialise the client library")
            return
        }
        self.mysql = mysql
        mysql_options(mysql, MYSQL_OPT_NONBLOCK, nil)
        var seconds = UInt32(clamping: check.negotiateTimeout.components.seconds)
        mysql_options(mysql, MYSQL_OPT_CONNECT_TIMEOUT, &seconds)
        mysql_options(mysql, MYSQL_OPT_READ_TIMEOUT, &seconds)
        mysql_options(mysql, MYSQL_OPT_WRITE_TIMEOUT, &seconds)
        var tcp = UInt32(MYSQL_PROTOCOL_TCP.rawValue)
        mysql_options(mysql, MYSQL_OPT_PROTOCOL, &tcp)

        var connected: UnsafeMutablePointer<MYSQL>?
        let status = mysql_real_connect_start(
            &connected, mysql, keep(check.address.description), keep(check.login), keep(check.password),
            check.database.isEmpty ? nil : keep(check.database), UInt32(check.port ?? 3306), nil, 0)
        handle(status: status) { connected != nil }
    }

    override func timedOut() {
        let during: String =
            switch step {
            case .connect: "connecting to"
            case .query, .storeResult: "running the query on"
            case .close: "closing the connection to"
            }
        fail("mysql: no answer within \(timeoutText) while \(during) \(endpoint)")
    }

    override func releaseResources() {
        stopWaiting()
        if let result { mysql_free_result(result) }
        result = nil
        if let mysql {
            // Any step still in progress is abandoned: make all I/O fail at once, then free.
            // mysql_close then cannot block on a server that stopped answering.
            if operationPending { mariadb_cancel(mysql) }
            mysql_close(mysql)
        }
        mysql = nil
        for string in cStrings { free(string) }
        cStrings.removeAll()
    }

    /// A C copy of `text` that lives as long as the check.
    private func keep(_ text: String) -> UnsafeMutablePointer<CChar> {
        let copy = strdup(text)!
        cStrings.append(copy)
        return copy
    }

    // MARK: The state machine

    /// Acts on a `_start`/`_cont` return: wait for what the library asks, or go on.
    /// `succeeded` says whether the finished step worked (read only when status is 0).
    private func handle(status: Int32, succeeded: () -> Bool) {
        guard !isFinished, let mysql else { return }
        if status != 0 {
            operationPending = true
            wait(for: status, on: mysql)
            return
        }
        operationPending = false
        stopWaiting()
        switch step {
        case .connect:
            guard succeeded() else {
                fail("mysql: \(Self.error(of: mysql))")
                return
            }
            step = .query
            var error: Int32 = 0
            let status = mysql_real_query_start(&error, mysql, keep(query), UInt(query.utf8.count))
            handle(status: status) { error == 0 }
        case .query:
            guard succeeded() else {
                fail("mysql: query failed: \(Self.error(of: mysql))")
                return
            }
            step = .storeResult
            var stored: UnsafeMutablePointer<MYSQL_RES>?
            let status = mysql_store_result_start(&stored, mysql)
            handle(status: status) {
                self.result = stored
                return true
            }
        case .storeResult:
            guard succeeded() else { return }
            if let result {
                let rows = mysql_num_rows(result)
                verdict =
                    rows > 0
                    ? (true, "mysql: query returned \(rows) row\(rows == 1 ? "" : "s")")
                    : (false, "mysql: query returned no rows")
            } else if mysql_field_count(mysql) == 0 {
                verdict = (false, "mysql: the query returned no result set (it must be a SELECT)")
            } else {
                verdict = (false, "mysql: reading the result failed: \(Self.error(of: mysql))")
            }
            // Say goodbye (COM_QUIT) as DBI's disconnect does, so the server does not count an
            // aborted connection for every check.
            step = .close
            let status = mysql_close_start(mysql)
            handle(status: status) { true }
        case .close:
            // The handle is closed and freed by mysql_close_start/_cont.
            self.mysql = nil
            deliverVerdict()
        }
    }

    private func deliverVerdict() {
        guard let verdict else { return }
        if verdict.up { succeed(verdict.reason) } else { fail(verdict.reason) }
    }

    private func resume(_ ready: Int32) {
        guard !isFinished, let mysql else { return }
        switch step {
        case .connect:
            var connected: UnsafeMutablePointer<MYSQL>?
            let status = mysql_real_connect_cont(&connected, mysql, ready)
            handle(status: status) { connected != nil }
        case .query:
            var error: Int32 = 0
            let status = mysql_real_query_cont(&error, mysql, ready)
            handle(status: status) { error == 0 }
        case .storeResult:
            var stored: UnsafeMutablePointer<MYSQL_RES>?
            let status = mysql_store_result_cont(&stored, mysql, ready)
            handle(status: status) {
                self.result = stored
                return true
            }
        case .close:
            let status = mysql_close_cont(mysql, ready)
            handle(status: status) { true }
        }
    }

    private func wait(for status: Int32, on mysql: UnsafeMutablePointer<MYSQL>) {
        stopWaiting()
        let fd = mysql_get_socket(mysql)
        var interest: PollEvents = []
        if status & MYSQL_WAIT_READ != 0 { interest.insert(.readable) }
        if status & MYSQL_WAIT_WRITE != 0 { interest.insert(.writable) }
        if fd >= 0 && (!interest.isEmpty || status & MYSQL_WAIT_EXCEPT != 0) {
            do {
                try context.reactor.register(fd, for: interest) { [weak self] events in
                    guard let self else { return }
                    var ready: Int32 = 0
                    let failed = events.contains(.error) || events.contains(.hangup)
                    if events.contains(.readable) || (failed && status & MYSQL_WAIT_READ != 0) {
                        ready |= MYSQL_WAIT_READ
                    }
                    if events.contains(.writable) || (failed && status & MYSQL_WAIT_WRITE != 0) {
                        ready |= MYSQL_WAIT_WRITE
                    }
                    if failed && status & MYSQL_WAIT_EXCEPT != 0 { ready |= MYSQL_WAIT_EXCEPT }
                    self.resume(ready)
                }
                watchedFD = fd
            } catch {
                fail("mysql: cannot watch the connection: \(error.description)")
                return
            }
        }
        if status & MYSQL_WAIT_TIMEOUT != 0 {
            let milliseconds = Int(mysql_get_timeout_value_ms(mysql))
            libraryTimer = context.reactor.schedule(after: .milliseconds(milliseconds)) { [weak self] in
                self?.libraryTimer = nil
                self?.resume(MYSQL_WAIT_TIMEOUT)
            }
        }
    }

    private func stopWaiting() {
        if watchedFD >= 0 { context.reactor.unregister(watchedFD) }
        watchedFD = -1
        context.reactor.cancel(libraryTimer)
        libraryTimer = nil
    }

    private static func error(of mysql: UnsafeMutablePointer<MYSQL>) -> String {
        String(cString: mysql_error(mysql))
    }
}
