import DirectordChecks
import DirectordCore
import Testing

@Suite("connect checks")
struct ConnectCheckTests {
    let servers: TestServers

    init() throws {
        servers = try TestServers.shared()
    }

    func connect(_ port: UInt16, address: String = "127.0.0.1", timeout: Int = 1) throws -> HealthCheck {
        try healthCheck(
            """
            virtual=10.0.0.1:80
            \treal=\(address):\(port) gate
            \tchecktype=connect
            \tchecktimeout=\(timeout)
            """)
    }

    @Test("a listening port is up")
    func listening() async throws {
        let result = await run(try connect(servers.port("http")))
        #expect(result.isUp)
        #expect(result.reason == "connected to 127.0.0.1:\(servers.port("http"))")
    }

    @Test("through the forwarding path: to the virtual address, marked, and a failure says so")
    func forwardingPath() async throws {
        // Without IPVS on the host the mark leads nowhere special: the virtual address here is
        // the server's own, so the connection shows the socket is marked, bound and connected.
        var check = try connect(servers.port("http"))
        check.forwardingPath = ForwardingPath(virtualAddress: IPAddress("127.0.0.1")!, mark: 0x6476_0001)
        check.address = IPAddress("127.0.0.2")!
        let result = await run(check)
        #expect(result.isUp, "\(result.reason)")
        #expect(result.reason == "connected to 127.0.0.1:\(servers.port("http")) (forwarded to 127.0.0.2)")
        check.port = servers.port("closed")
        let refused = await run(check)
        #expect(
            refused.reason
                == "connect to 127.0.0.1:\(servers.port("closed")) (forwarded to 127.0.0.2): Connection refused (sent to 127.0.0.1 through the forwarding path, fwmark 1685454849)"
        )
    }

    @Test("a closed port is down, with the system's reason")
    func refused() async throws {
        let port = servers.port("closed")
        let result = await run(try connect(port))
        #expect(!result.isUp)
        #expect(result.reason == "connect to 127.0.0.1:\(port): Connection refused")
    }

    @Test("a connect that is never answered is down at checktimeout")
    func unanswered() async throws {
        let port = servers.port("backlog")
        let result = await run(try connect(port, timeout: 1))
        #expect(!result.isUp)
        #expect(result.reason == "connect to 127.0.0.1:\(port): no answer within 1 s")
        #expect(result.latency >= .seconds(0.9) && result.latency < .seconds(2))
    }

    @Test("IPv6 ::1")
    func ipv6() async throws {
        let check = try healthCheck(
            """
            virtual6=[2001:db8::1]:80
            \treal6=[::1]:\(servers.port("http6")) gate
            \tchecktype=connect
            """)
        let result = await run(check)
        #expect(result.isUp, "\(result.reason)")
        #expect(result.reason == "connected to [::1]:\(servers.port("http6"))")
    }

    @Test("a connect check on a UDP service pings, as ldirectord")
    func udpPings() async throws {
        let check = try healthCheck(
            """
            virtual=10.0.0.1:53
            \treal=127.0.0.1:53 gate
            \tprotocol=udp
            \tchecktype=connect
            """)
        let result = await run(check)
        #expect(result.isUp, "\(result.reason)")
        #expect(result.reason == "echo reply from 127.0.0.1")
    }
}

@Suite("ping checks")
struct PingCheckTests {
    func ping(_ real: String, count: Int = 1, timeout: Int = 1) throws -> HealthCheck {
        let six = real.hasPrefix("[")
        return try healthCheck(
            """
            virtual\(six ? "6=[2001:db8::1]" : "=10.0.0.1"):80
            \treal\(six ? "6" : "")=\(real):80 gate
            \tchecktype=ping
            \tchecktimeout=\(timeout)
            \tcheckcount=\(count)
            """)
    }

    @Test("127.0.0.1 answers")
    func loopback4() async throws {
        let result = await run(try ping("127.0.0.1"))
        #expect(result.isUp, "\(result.reason)")
        #expect(result.latency < .seconds(0.5))
    }

    @Test("::1 answers")
    func loopback6() async throws {
        let result = await run(try ping("[::1]"))
        #expect(result.isUp, "\(result.reason)")
        #expect(result.reason == "echo reply from ::1")
    }

    @Test("an address that never answers is down after checkcount attempts of checktimeout")
    func silentAddress() async throws {
        // TEST-NET-2: nothing answers there (a router may say "unreachable", which is not an
        // echo reply).
        let result = await run(try ping("198.51.100.1", count: 2, timeout: 1))
        #expect(!result.isUp)
        if result.reason.hasPrefix("no echo reply") {
            #expect(result.reason == "no echo reply from 198.51.100.1 to 2 pings, 1 s each")
            #expect(result.latency >= .seconds(1.9) && result.latency < .seconds(3))
        } else {
            // No route at all on this machine: each attempt fails at once.
            #expect(result.reason.hasPrefix("ping 198.51.100.1: "))
        }
    }

    @Test("thousands of pings in flight at once, on one socket, are told apart by sequence")
    func manyAtOnce() async throws {
        let loop = try CheckLoop()
        let four = try ping("127.0.0.1")
        let six = try ping("[::1]")
        let results = await withTaskGroup(of: CheckResult.self) { group in
            for index in 0..<4000 { group.addTask { await loop.check(index % 2 == 0 ? four : six) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 4000)
        #expect(allUp(results), "\(Set(results.filter { !$0.isUp }.map(\.reason)))")
    }
}
