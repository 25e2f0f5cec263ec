import CPQ
import DirectordCore
import DirectordSystem
import Glibc

/// `service=pgsql` negotiate checks (ldirectord's `check_pgsql`, its `check_sql` with DBD::Pg):
/// connect to REAL:checkport with `login`, `passwd` and `database`, run the `request` query
/// (without its leading `/`) once, up when it returns at least one row.
///
/// Runs on libpq's non-blocking API (`PQconnectStartParams` / `PQconnectPoll`, then
/// `PQsendQuery` / `PQconsumeInput` / `PQgetResult`): libpq says whether it waits to read or
/// to write its socket and the loop calls it again when it can, so a server that accepts and
/// never answers holds no thread. As for ``MySQLCheck``, ldirectord's twice-run query and
/// missing time limit are not copied: the query runs once and the whole exchange is limited by
/// `negotiatetimeout`. ldirectord required `login` and a request; so does this check.
///
/// Nothing here may block the loop, so the parameters leave libpq nothing to look up: the
/// server is given as a numeric `hostaddr` (a `host` name would be resolved with a blocking
/// `getaddrinfo`), and GSSAPI encryption is off (its `prefer` default asks the Kerberos library
/// for credentials first, which may read files or talk to a daemon). TLS stays at libpq's
/// default, `sslmode=prefer`, which `PQconnectPoll` negotiates without blocking.
final class PgSQLCheck: CheckOperation {
    private enum Step {
        case connect
        /// The query is (partly) sent; waiting to send the rest or for its results.
        case query
    }

    private let check: HealthCheck
    /// The `PGconn`; nil once freed.
    private var connection: OpaquePointer?
    private var step = Step.connect
    private var watchedFD: Int32 = -1
    /// `PQflush` left part of the query unsent.
    private var flushing = false
    /// What the results so far say; the last result (or the first error) decides.
    private var verdict: (up: Bool, reason: String)?
    /// A statement of the query failed: later results do not change the verdict.
    private var queryFailed = false

    init(context: LoopContext, check: HealthCheck) {
        self.check = check
        super.init(context: context)
    }

    /// Dropped without a verdict (the loop was released): free the C handle all the same.
    deinit {
        if !isFinished { releaseResources() }
    }

    private var port: UInt16 { check.port ?? 5432 }
    private var endpoint: String { "\(check.address.bracketed):\(port)" }

    /// ldirectord strips the request's leading slash to make the query.
    private var query: String {
        check.request.hasPrefix("/") ? String(check.request.dropFirst()) : check.request
    }

    /// libpq's connection parameters. DBD::Pg gets `dbname`, `host`, `port`, user and password
    /// from ldirectord; an empty database is left out, so libpq's default (the user's name)
    /// applies as it does there.
    private var parameters: [(keyword: String, value: String)] {
        let address = check.address.description
        var parameters = [
            ("host", address), ("hostaddr", address), ("port", String(port)), ("user", check.login),
            ("password", check.password), ("gssencmode", "disable"), ("application_name", "directord"),
        ]
        if !check.database.isEmpty { parameters.append(("dbname", check.database)) }
        return parameters
    }

    override func begin() {
        guard !check.login.isEmpty, !query.isEmpty else {
            fail("pgsql checks need login= and a request= query (as ldirectord's)")
            return
        }
        let connection = withCStringArrays(parameters) { keywords, values in
            PQconnectStartParams(keywords, values, 0)
        }
        guard let connection else {
            fail("pgsql: cannot initialise the client library")
            return
        }
        self.connection = connection
        guard PQstatus(connection) != CONNECTION_BAD else {
            fail("pgsql: \(Self.message(of: connection))")
            return
        }
        // libpq's contract: start as if PQconnectPoll had asked to write.
        wait(for: .writable)
    }

    override func timedOut() {
        let during =
            switch step {
            case .connect: "connecting to"
            case .query: "running the query on"
            }
        fail("pgsql: no answer within \(timeoutText) while \(during) \(endpoint)")
    }

    override func releaseResources() {
        stopWaiting()
        // Sends Terminate (the polite goodbye DBI's disconnect sends) when connected, without
        // waiting: the connection is non-blocking by then.
        if let connection { PQfinish(connection) }
        connection = nil
    }

    // MARK: The state machine

    /// The socket is ready (or failed: libpq finds out when it uses it).
    private func advance(_ events: PollEvents) {
        guard !isFinished, let connection else { return }
        // libpq may close this socket and open another (TLS refused, the next address), so it is
        // not watched while libpq works on it.
        stopWaiting()
        switch step {
        case .connect:
            switch PQconnectPoll(connection) {
            case PGRES_POLLING_READING: wait(for: .readable)
            case PGRES_POLLING_WRITING: wait(for: .writable)
            case PGRES_POLLING_OK: sendQuery(on: connection)
            default: fail("pgsql: \(Self.message(of: connection))")
            }
        case .query:
            if flushing && !events.contains(.readable) && !events.contains(.error) && !events.contains(.hangup) {
                flush(connection)
                return
            }
            // Reading may be what lets the server take the rest of the query.
            guard PQconsumeInput(connection) != 0 else {
                fail("pgsql: \(Self.message(of: connection))")
                return
            }
            if flushing {
                flush(connection)
                return
            }
            collectResults(from: connection)
        }
    }

    private func sendQuery(on connection: OpaquePointer) {
        step = .query
        guard PQsetnonblocking(connection, 1) == 0, PQsendQuery(connection, query) != 0 else {
            fail("pgsql: cannot send the query: \(Self.message(of: connection))")
            return
        }
        flush(connection)
    }

    /// Sends what libpq still holds of the query; then waits for the results.
    private func flush(_ connection: OpaquePointer) {
        switch PQflush(connection) {
        case 0:
            flushing = false
            collectResults(from: connection)
        case 1:
            flushing = true
            wait(for: [.readable, .writable])
        default:
            fail("pgsql: cannot send the query: \(Self.message(of: connection))")
        }
    }

    /// Takes every result libpq has completed; at the end of them (a null result) the verdict.
    private func collectResults(from connection: OpaquePointer) {
        while PQisBusy(connection) == 0 {
            guard let result = PQgetResult(connection) else {
                deliverVerdict()
                return
            }
            judge(result)
            PQclear(result)
        }
        wait(for: .readable)
    }

    private func judge(_ result: OpaquePointer) {
        // After an error the rest does not matter.
        if queryFailed { return }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_SINGLE_TUPLE:
            let rows = PQntuples(result)
            verdict =
                rows > 0
                ? (true, "pgsql: query returned \(rows) row\(rows == 1 ? "" : "s")")
                : (false, "pgsql: query returned no rows")
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            verdict = (false, "pgsql: the query returned no result set (it must be a SELECT)")
        default:
            let primary = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
            let message = primary ?? Self.oneLine(String(cString: PQresultErrorMessage(result)))
            verdict = (false, "pgsql: query failed: \(message)")
            queryFailed = true
        }
    }

    private func deliverVerdict() {
        let verdict = self.verdict ?? (false, "pgsql: the query returned no result")
        if verdict.up { succeed(verdict.reason) } else { fail(verdict.reason) }
    }

    private func wait(for interest: PollEvents) {
        guard let connection else { return }
        let fd = PQsocket(connection)
        guard fd >= 0 else {
            fail("pgsql: \(Self.message(of: connection))")
            return
        }
        do {
            try context.reactor.register(fd, for: interest) { [weak self] events in self?.advance(events) }
            watchedFD = fd
        } catch {
            fail("pgsql: cannot watch the connection: \(error.description)")
        }
    }

    private func stopWaiting() {
        if watchedFD >= 0 { context.reactor.unregister(watchedFD) }
        watchedFD = -1
    }

    // MARK: C values

    /// libpq's message for the connection's last failure, on one line. libpq ends its lines
    /// and, when TLS was tried first (`sslmode=prefer`) and the login failed, tries again
    /// without TLS and says the same line twice: each line is kept once.
    private static func message(of connection: OpaquePointer) -> String {
        guard let text = PQerrorMessage(connection) else { return "unknown error" }
        var seen = Set<String>()
        let lines = String(cString: text).split(whereSeparator: \.isNewline).map(oneLine)
            .filter { !$0.isEmpty && seen.insert($0).inserted }
        return lines.isEmpty ? "unknown error" : lines.joined(separator: " ")
    }

    /// `text` with every run of white space made one space.
    private static func oneLine(_ text: some StringProtocol) -> String {
        text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }
}

/// Calls `body` with two null-terminated C string arrays (keywords, values) made of `pairs`,
/// which live only for the call: libpq copies what it keeps.
private func withCStringArrays<Result>(
    _ pairs: [(keyword: String, value: String)],
    _ body: (UnsafePointer<UnsafePointer<CChar>?>, UnsafePointer<UnsafePointer<CChar>?>) -> Result
) -> Result {
    let keywords = pairs.map { strdup($0.keyword) }
    let values = pairs.map { strdup($0.value) }
    defer {
        for pointer in keywords + values { free(pointer) }
    }
    let keywordArray = keywords.map { UnsafePointer($0) } + [nil]
    let valueArray = values.map { UnsafePointer($0) } + [nil]
    return keywordArray.withUnsafeBufferPointer { keywordPointers in
        valueArray.withUnsafeBufferPointer { valuePointers in
            body(keywordPointers.baseAddress!, valuePointers.baseAddress!)
        }
    }
}
