import DirectordChecks
import DirectordCore
import Testing

/// ldap and ldaps (bind and base search through libcurl's OpenLDAP backend) against
/// fault_server.py's LDAP listeners, plain and TLS.
@Suite("ldap and ldaps negotiate checks")
struct LDAPCheckTests {
    let servers: TestServers

    init() throws {
        servers = try TestServers.shared()
    }

    /// A check of fault_server's `port`, by default the service's own listener.
    func ldap(_ service: String, _ base: String, port: String? = nil, _ extra: String = "") throws -> HealthCheck {
        try ldapCheck(service: service, port: servers.port(port ?? service), base: base, extra)
    }

    func endpoint(_ port: String) -> String { "127.0.0.1:\(servers.port(port))" }

    static let monitor = "\tlogin=\"cn=monitor,dc=example,dc=org\""
    /// Never to be seen in a reason.
    static let badPassword = "n0t-the-Passw0rd"

    @Test(
        "ldap and ldaps: an anonymous bind and a base search that finds one entry are up, in well under a second",
        arguments: ["ldap", "ldaps"])
    func anonymous(service: String) async throws {
        let result = await run(try ldap(service, "dc=example,dc=org", "\treceive=\"^dc=example\""))
        #expect(result.isUp, "\(result.reason)")
        #expect(result.reason == "\(service): found dc=example,dc=org, receive /^dc=example/ found")
        #expect(result.latency < .seconds(1), "\(result.latency)")
        let mismatch = await run(try ldap(service, "dc=example,dc=org", "\treceive=\"^cn=\""))
        #expect(mismatch.reason == "\(service): receive /^cn=/ not found in dc=example,dc=org")
        let missing = await run(try ldap(service, "cn=nobody,dc=example,dc=org"))
        #expect(!missing.isUp)
        #expect(missing.reason.hasPrefix("\(service): \(endpoint(service)): "), "\(missing.reason)")
    }

    @Test(
        "ldap and ldaps: with login and passwd the bind must succeed; the reason never holds the password",
        arguments: ["ldap", "ldaps"])
    func bind(service: String) async throws {
        let good = await run(try ldap(service, "cn=monitor,dc=example,dc=org", "\(Self.monitor)\n\tpasswd=\"secret\""))
        #expect(good.isUp, "\(good.reason)")
        let bad = await run(
            try ldap(service, "cn=monitor,dc=example,dc=org", "\(Self.monitor)\n\tpasswd=\"\(Self.badPassword)\""))
        #expect(!bad.isUp)
        #expect(
            bad.reason
                == "\(service): bind as cn=monitor,dc=example,dc=org refused by \(endpoint(service)) (LDAP result 49)")
        #expect(!bad.reason.contains(Self.badPassword))
    }

    @Test(
        "ldap and ldaps: a server that takes 0.4 s over each answer is up (libcurl 7.88 alone never read its bind reply)",
        arguments: ["ldap", "ldaps"])
    func slowServer(service: String) async throws {
        let result = await run(try ldap(service, "dc=example,dc=org", port: "\(service)_slow"))
        #expect(result.isUp, "\(result.reason)")
        #expect(result.latency < .seconds(1.9), "two answers of 0.4 s each, plus at most a nudge each")
    }

    @Test(
        "ldap and ldaps: a server that accepts and never answers (before or after TLS) is down at checktimeout",
        arguments: [("ldap", "hold"), ("ldaps", "hold"), ("ldaps", "tls_hold")])
    func silentServer(service: String, port: String) async throws {
        let result = await run(try ldap(service, "dc=example,dc=org", port: port))
        #expect(!result.isUp)
        #expect(result.latency >= .seconds(1.9) && result.latency < .seconds(3.5), "\(result.latency)")
        #expect(result.reason == "\(service): no answer from \(endpoint(port)) within 2 s")
    }

    @Test("ldaps: a plain-text LDAP server is down")
    func plainTextServer() async throws {
        let result = await run(try ldap("ldaps", "dc=example,dc=org", port: "ldap"))
        #expect(!result.isUp)
        #expect(result.reason.hasPrefix("ldaps: TLS handshake with \(endpoint("ldap")) failed: "), "\(result.reason)")
    }

    @Test("ldaps: cafile verifies the certificate, sniname is the name verified")
    func verified() async throws {
        let good = await run(try ldap("ldaps", "dc=example,dc=org", "\tcafile=\(servers.ca)"))
        #expect(good.isUp, "\(good.reason)")
        let named = await run(try ldap("ldaps", "dc=example,dc=org", "\tcafile=\(servers.ca)\n\tsniname=check.example"))
        #expect(named.isUp, "\(named.reason)")
        let otherCA = await run(try ldap("ldaps", "dc=example,dc=org", "\tcafile=\(servers.otherCA)"))
        #expect(!otherCA.isUp)
        #expect(
            otherCA.reason.hasPrefix(
                "ldaps: \(endpoint("ldaps"))'s certificate is not accepted by cafile=\(servers.otherCA): "),
            "\(otherCA.reason)")
        let otherName = await run(
            try ldap("ldaps", "dc=example,dc=org", "\tcafile=\(servers.ca)\n\tsniname=wrong.example"))
        #expect(!otherName.isUp)
        #expect(otherName.reason.contains("wrong.example"), "\(otherName.reason)")
    }
}
