import DirectordChecks
import DirectordCore
import Testing

/// pops and imaps (TLS, greeting and login through libcurl) against fault_server.py's TLS
/// listeners; ldaps is in LDAPCheckTests.
@Suite("TLS mail negotiate checks: pops, imaps")
struct TLSServiceTests {
    let servers: TestServers

    init() throws {
        servers = try TestServers.shared()
    }

    /// A pops or imaps check of fault_server's `port` (the service's own TLS listener by default).
    func mail(_ service: String, port: String? = nil, _ extra: String = "", timeout: Int = 2) throws -> HealthCheck {
        try healthCheck(
            """
            virtual=10.0.0.1:\(service == "imaps" ? 993 : 995)
            \treal=127.0.0.1:\(servers.port(port ?? service)) gate
            \tservice=\(service)
            \tnegotiatetimeout=\(timeout)
            \(extra)
            """)
    }

    func endpoint(_ port: String) -> String { "127.0.0.1:\(servers.port(port))" }

    static let goodLogin = "\tlogin=tester\n\tpasswd=secret"
    /// Never to be seen in a reason.
    static let badPassword = "n0t-the-Passw0rd"

    @Test("pops and imaps: a good login over TLS is up", arguments: ["pops", "imaps"])
    func goodLogin(service: String) async throws {
        let result = await run(try mail(service, Self.goodLogin))
        #expect(result.isUp, "\(result.reason)")
        #expect(result.reason == "\(service): logged in as tester")
    }

    @Test("pops and imaps: without login= the TLS handshake and the greeting are enough", arguments: ["pops", "imaps"])
    func greetingOnly(service: String) async throws {
        let result = await run(try mail(service))
        #expect(result.isUp, "\(result.reason)")
        #expect(result.reason == "\(service): greeting received over TLS from \(endpoint(service))")
    }

    @Test("pops and imaps: a wrong password is down, and the reason never holds it", arguments: ["pops", "imaps"])
    func badPassword(service: String) async throws {
        let result = await run(try mail(service, "\tlogin=tester\n\tpasswd=\(Self.badPassword)"))
        #expect(!result.isUp)
        #expect(result.reason == "\(service): login as tester refused by \(endpoint(service))")
        #expect(!result.reason.contains(Self.badPassword))
    }

    @Test("pops and imaps: a plain-text server (no TLS) is down", arguments: [("pops", "pop"), ("imaps", "imap")])
    func plainTextServer(service: String, plain: String) async throws {
        let result = await run(try mail(service, port: plain, Self.goodLogin))
        #expect(!result.isUp)
        #expect(
            result.reason.hasPrefix("\(service): TLS handshake with \(endpoint(plain)) failed: "), "\(result.reason)")
    }

    @Test(
        "pops and imaps: a server that accepts and never answers (before or after TLS) is down at negotiatetimeout",
        arguments: ["pops", "imaps"], ["hold", "tls_hold"])
    func silentServer(service: String, port: String) async throws {
        let result = await run(try mail(service, port: port, Self.goodLogin, timeout: 1))
        #expect(!result.isUp)
        #expect(result.latency >= .seconds(0.9) && result.latency < .seconds(2.5), "\(result.latency)")
        #expect(result.reason == "\(service): no answer from \(endpoint(port)) within 1 s")
    }

    @Test(
        "pops and imaps: cafile verifies the certificate, sniname is the name verified", arguments: ["pops", "imaps"])
    func verified(service: String) async throws {
        let byAddress = await run(try mail(service, "\(Self.goodLogin)\n\tcafile=\(servers.ca)"))
        #expect(byAddress.isUp, "\(byAddress.reason)")
        let named = await run(try mail(service, "\(Self.goodLogin)\n\tcafile=\(servers.ca)\n\tsniname=check.example"))
        #expect(named.isUp, "\(named.reason)")

        let otherCA = await run(try mail(service, "\(Self.goodLogin)\n\tcafile=\(servers.otherCA)"))
        #expect(!otherCA.isUp)
        #expect(
            otherCA.reason.hasPrefix(
                "\(service): \(endpoint(service))'s certificate is not accepted by cafile=\(servers.otherCA): "),
            "\(otherCA.reason)")
        let otherName = await run(
            try mail(service, "\(Self.goodLogin)\n\tcafile=\(servers.ca)\n\tsniname=wrong.example"))
        #expect(!otherName.isUp)
        #expect(otherName.reason.contains("wrong.example"), "\(otherName.reason)")
    }

    @Test("many ldaps and imaps checks at once all finish, each with its own connection")
    func concurrent() async throws {
        let ldapsCheck = try ldapCheck(service: "ldaps", port: servers.port("ldaps"), base: "dc=example,dc=org")
        let imapsCheck = try mail("imaps", Self.goodLogin)
        let results = await withTaskGroup(of: CheckResult.self) { group in
            for index in 0..<40 { group.addTask { await run(index % 2 == 0 ? ldapsCheck : imapsCheck) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(allUp(results), "\(results.filter { !$0.isUp }.map(\.reason))")
    }
}
