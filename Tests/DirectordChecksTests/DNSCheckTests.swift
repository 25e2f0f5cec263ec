import DirectordCore
import Testing

@testable import DirectordChecks

@Suite("DNS negotiate checks")
struct DNSCheckTests {
    let servers: TestServers

    init() throws {
        servers = try TestServers.shared()
    }

    func dns(_ name: String, receive: String, protocol: String = "udp", timeout: Int = 2) throws -> HealthCheck {
        try healthCheck(
            """
            virtual=10.0.0.1:53
            \treal=127.0.0.1:\(servers.port("dns")) masq
            \tprotocol=\(`protocol`)
            \tservice=dns
            \trequest="\(name)"
            \treceive="\(receive)"
            \tnegotiatetimeout=\(timeout)
            """)
    }

    @Test("an A record matching receive is up, over UDP and over TCP")
    func addressRecord() async throws {
        let udp = await run(try dns("www.example.com", receive: "^192\\.0\\.2\\.11$"))
        #expect(udp.isUp, "\(udp.reason)")
        #expect(udp.reason == "dns: www.example.com answered 192.0.2.11, receive /^192\\.0\\.2\\.11$/ found")
        let tcp = await run(try dns("www.example.com", receive: "192.0.2", protocol: "tcp"))
        #expect(tcp.isUp, "\(tcp.reason)")
    }

    @Test("an address is looked up backwards (PTR), as Net::DNS does")
    func pointerRecord() async throws {
        let result = await run(try dns("192.0.2.10", receive: "^www\\.example\\.com$"))
        #expect(result.isUp, "\(result.reason)")
    }

    @Test("answers that do not match, NXDOMAIN, SERVFAIL and silence are down")
    func failures() async throws {
        let mismatch = await run(try dns("www.example.com", receive: "203\\.0\\.113"))
        #expect(
            mismatch.reason
                == "dns: receive /203\\.0\\.113/ not found in the answer for www.example.com (192.0.2.10, 192.0.2.11)")
        let missing = await run(try dns("nothing.example.com", receive: "x"))
        #expect(missing.reason == "dns: NXDOMAIN for nothing.example.com from 127.0.0.1:\(servers.port("dns"))")
        let broken = await run(try dns("servfail.example.com", receive: "x"))
        #expect(broken.reason.hasPrefix("dns: SERVFAIL for servfail.example.com"))
        let silent = await run(try dns("silent.example.com", receive: "x", timeout: 1))
        #expect(!silent.isUp)
        #expect(silent.reason == "dns: no answer from 127.0.0.1:\(servers.port("dns")) within 1 s")
    }

    @Test("a truncated UDP answer is asked again over TCP")
    func truncated() async throws {
        let result = await run(try dns("big.example.com", receive: "198\\.51\\.100\\.40"))
        #expect(result.isUp, "\(result.reason)")
    }

    @Test("a UDP port nobody listens on is down at once")
    func refused() async throws {
        let check = try healthCheck(
            """
            virtual=10.0.0.1:53
            \treal=127.0.0.1:\(servers.port("closed")) masq
            \tprotocol=udp
            \tservice=dns
            \trequest="www.example.com"
            \treceive="x"
            """)
        let result = await run(check)
        #expect(!result.isUp)
        #expect(result.reason.hasSuffix("Connection refused"), "\(result.reason)")
        #expect(result.latency < .seconds(1))
    }

    @Test("queries and answers, as bytes")
    func messages() throws {
        #expect(DNSMessage.question(for: "192.0.2.10") == ("10.2.0.192.in-addr.arpa", .ptr))
        #expect(DNSMessage.question(for: "::1").name.hasPrefix("1.0.0.0."))
        #expect(DNSMessage.question(for: "::1").name.hasSuffix(".ip6.arpa"))
        let query = try #require(DNSMessage.query(id: 0x1234, name: "a.b", type: .a))
        #expect(query == [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 97, 1, 98, 0, 0, 1, 0, 1])
        #expect(DNSMessage.query(id: 1, name: String(repeating: "x", count: 64), type: .a) == nil)
        // A response with a compressed PTR answer pointing back into the question.
        var response = query
        response[2] = 0x81
        response[3] = 0x80
        response[7] = 1
        response += [0xc0, 0x0c, 0, 12, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 0x0c]
        let parsed = try #require(DNSMessage.parse(response))
        #expect(parsed.answers.map(\.value) == ["a.b"])
        #expect(DNSMessage.parse(Array(response.prefix(20))) == nil)
        // A pointer loop is refused, not followed forever.
        var loop = query
        loop[2] = 0x81
        loop[7] = 1
        loop += [0xc0, 21, 0, 12, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 21]
        #expect(DNSMessage.parse(loop) == nil)
    }
}
