import DirectordChecks
import DirectordCore
import Foundation
import Testing

/// The MariaDB server that scripts/mariadb-test-server starts (CI starts it before the tests).
enum TestMariaDB {
    /// "127.0.0.1:3307" from DIRECTORD_TEST_MARIADB.
    static let endpoint = ProcessInfo.processInfo.environment["DIRECTORD_TEST_MARIADB"]
    /// Without a server the suite is skipped, except on CI, where it runs and fails.
    static let shouldRun = endpoint != nil || isCI
}

@Suite(
    "MySQL negotiate checks against a real MariaDB",
    .enabled(if: TestMariaDB.shouldRun, "DIRECTORD_TEST_MARIADB is not set: run scripts/mariadb-test-server start"))
struct MySQLCheckTests {
    let address: String
    let port: UInt16

    init() throws {
        let endpoint = try #require(
            TestMariaDB.endpoint, "DIRECTORD_TEST_MARIADB must be set on CI (scripts/mariadb-test-server start)")
        let parts = endpoint.split(separator: ":")
        address = String(parts[0])
        port = try #require(UInt16(parts.last ?? ""), "DIRECTORD_TEST_MARIADB=\(endpoint) has no port")
    }

    func mysql(
        query: String = "SELECT * FROM health", login: String? = "directord_test", password: String = "directord-test",
        port: UInt16? = nil, timeout: Int = 2
    ) throws -> HealthCheck {
        try healthCheck(
            """
            virtual=10.0.0.1:3306
            \treal=\(address):\(port ?? self.port) gate
            \tservice=mysql
            \(login.map { "\tlogin=\"\($0)\"" } ?? "")
            \tpasswd="\(password)"
            \tdatabase="directord_test"
            \trequest="\(query)"
            \tnegotiatetimeout=\(timeout)
            """)
    }

    @Test("a query that returns rows is up")
    func rows() async throws {
        let result = await run(try mysql())
        #expect(result.isUp, "\(result.reason)")
        #expect(result.reason == "mysql: query returned 1 row")
    }

    @Test("a wrong password is down with the server's message")
    func wrongPassword() async throws {
        let result = await run(try mysql(password: "wrong"))
        #expect(!result.isUp)
        #expect(result.reason.hasPrefix("mysql: Access denied for user 'directord_test'@"), "\(result.reason)")
    }

    @Test("an empty result is down")
    func emptyResult() async throws {
        let result = await run(try mysql(query: "SELECT * FROM empty_table"))
        #expect(!result.isUp)
        #expect(result.reason == "mysql: query returned no rows")
    }

    @Test("a failing query is down with the server's message")
    func badQuery() async throws {
        let result = await run(try mysql(query: "SELECT * FROM missing_table"))
        #expect(!result.isUp)
        #expect(result.reason == "mysql: query failed: Table 'directord_test.missing_table' doesn't exist")
    }

    @Test("a server that is down is down")
    func serverDown() async throws {
        let servers = try TestServers.shared()
        let result = await run(try mysql(port: servers.port("closed")))
        #expect(!result.isUp)
        #expect(result.reason.hasPrefix("mysql: Can't connect to server on '127.0.0.1'"), "\(result.reason)")
    }

    @Test("a server that accepts and never speaks is down at negotiatetimeout")
    func silentServer() async throws {
        let servers = try TestServers.shared()
        let result = await run(try mysql(port: servers.port("silent"), timeout: 1))
        #expect(!result.isUp)
        #expect(result.latency < .seconds(2.5))
        #expect(result.reason.contains("1 s") || result.reason.contains("timeout"), "\(result.reason)")
    }

    @Test("without login= the check is down, as ldirectord refuses it")
    func noLogin() async throws {
        let result = await run(try mysql(login: nil))
        #expect(!result.isUp)
        #expect(result.reason.contains("need login="))
    }

    @Test("many checks at once, each with its own connection")
    func concurrent() async throws {
        let check = try mysql()
        let results = await withTaskGroup(of: CheckResult.self) { group in
            for _ in 0..<30 { group.addTask { await run(check) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(allUp(results), "\(results.filter { !$0.isUp }.map(\.reason))")
    }
}
