import DirectordChecks
import DirectordCore
import Foundation
import Testing

/// The PostgreSQL server that scripts/postgres-test-server starts (scripts/test starts it before
/// the tests). It has TLS on, as Debian's clusters do, so libpq negotiates TLS on the loop.
enum TestPostgres {
    /// "127.0.0.1:5433" from DIRECTORD_TEST_POSTGRES.
    static let endpoint = ProcessInfo.processInfo.environment["DIRECTORD_TEST_POSTGRES"]
    /// Without a server the suite is skipped, except on CI, where it runs and fails.
    static let shouldRun = endpoint != nil || isCI
}

@Suite(
    "pgsql negotiate checks against a real PostgreSQL",
    .enabled(
        if: TestPostgres.shouldRun, "DIRECTORD_TEST_POSTGRES is not set: run scripts/postgres-test-server start"))
struct PgSQLCheckTests {
    let address: String
    let port: UInt16

    /// Never to be seen in a reason.
    static let badPassword = "n0t-the-Passw0rd"

    init() throws {
        let endpoint = try #require(
            TestPostgres.endpoint, "DIRECTORD_TEST_POSTGRES must be set on CI (scripts/postgres-test-server start)")
        let parts = endpoint.split(separator: ":")
        address = String(parts[0])
        port = try #require(UInt16(parts.last ?? ""), "DIRECTORD_TEST_POSTGRES=\(endpoint) has no port")
    }

    func pgsql(
        query: String = "/SELECT * FROM health", login: String? = "directord_test", password: String = "directord-test",
        database: String = "directord_test", port: UInt16? = nil, timeout: Int = 2
    ) throws -> HealthCheck {
        try healthCheck(
            """
            virtual=10.0.0.1:5432
            \treal=\(address):\(port ?? self.port) gate
            \tservice=pgsql
            \(login.map { "\tlogin=\"\($0)\"" } ?? "")
            \tpasswd="\(password)"
            \tdatabase="\(database)"
            \trequest="\(query)"
            \tnegotiatetimeout=\(timeout)
            """)
    }

    @Test("a query that returns a row is up (the request's leading / is dropped, as ldirectord)")
    func rows() async throws {
        let result = await run(try pgsql())
        #expect(result.isUp, "\(result.reason)")
        #expect(result.reason == "pgsql: query returned 1 row")
    }

    @Test("an empty result is down")
    func emptyResult() async throws {
        let result = await run(try pgsql(query: "SELECT * FROM empty_table"))
        #expect(!result.isUp)
        #expect(result.reason == "pgsql: query returned no rows")
    }

    @Test("a wrong password is down with the server's message, which never holds the password")
    func wrongPassword() async throws {
        let result = await run(try pgsql(password: Self.badPassword))
        #expect(!result.isUp)
        #expect(
            result.reason.hasSuffix("password authentication failed for user \"directord_test\""), "\(result.reason)")
        #expect(result.reason.hasPrefix("pgsql: "))
        #expect(!result.reason.contains(Self.badPassword))
    }

    @Test("an unknown database is down with the server's message")
    func unknownDatabase() async throws {
        let result = await run(try pgsql(database: "no_such_database"))
        #expect(!result.isUp)
        #expect(result.reason.hasSuffix("database \"no_such_database\" does not exist"), "\(result.reason)")
    }

    @Test("a failing query is down with the server's message")
    func badQuery() async throws {
        let result = await run(try pgsql(query: "SELECT * FROM missing_table"))
        #expect(!result.isUp)
        #expect(result.reason == "pgsql: query failed: relation \"missing_table\" does not exist")
    }

    @Test("a statement that returns no result set is down")
    func notASelect() async throws {
        let result = await run(try pgsql(query: "SET search_path TO public"))
        #expect(!result.isUp)
        #expect(result.reason == "pgsql: the query returned no result set (it must be a SELECT)")
    }

    @Test("a server that is down is down")
    func serverDown() async throws {
        let servers = try TestServers.shared()
        let result = await run(try pgsql(port: servers.port("closed")))
        #expect(!result.isUp)
        #expect(result.reason.hasPrefix("pgsql: connection to server at \"127.0.0.1\""), "\(result.reason)")
        #expect(result.reason.contains("Connection refused"), "\(result.reason)")
    }

    @Test("a server that accepts and never speaks is down at negotiatetimeout")
    func silentServer() async throws {
        let servers = try TestServers.shared()
        let result = await run(try pgsql(port: servers.port("silent"), timeout: 1))
        #expect(!result.isUp)
        #expect(result.latency >= .seconds(0.9) && result.latency < .seconds(2.5), "\(result.latency)")
        #expect(
            result.reason == "pgsql: no answer within 1 s while connecting to 127.0.0.1:\(servers.port("silent"))")
    }

    @Test("without login= the check is down, as ldirectord refuses it")
    func noLogin() async throws {
        let result = await run(try pgsql(login: nil))
        #expect(!result.isUp)
        #expect(result.reason == "pgsql checks need login= and a request= query (as ldirectord's)")
        let noRequest = await run(try pgsql(query: "/"))
        #expect(!noRequest.isUp)
        #expect(noRequest.reason == result.reason)
    }

    @Test("many checks at once, each with its own connection")
    func concurrent() async throws {
        let check = try pgsql()
        let results = await withTaskGroup(of: CheckResult.self) { group in
            for _ in 0..<30 { group.addTask { await run(check) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(allUp(results), "\(results.filter { !$0.isUp }.map(\.reason))")
    }
}
