import DirectordCore
import Testing

@testable import DirectordChecks

@Suite("RADIUS negotiate checks")
struct RADIUSCheckTests {
    let servers: TestServers

    init() throws {
        servers = try TestServers.shared()
    }

    func radius(login: String, password: String, secret: String = "testing123", port: String = "radius") throws
        -> HealthCheck
    {
        try healthCheck(
            """
            virtual=10.0.0.1:1812
            \treal=127.0.0.1:\(servers.port(port)) masq
            \tprotocol=udp
            \tservice=radius
            \tlogin="\(login)"
            \tpasswd="\(password)"
            \tsecret="\(secret)"
            \tchecktimeout=1
            """)
    }

    @Test("Access-Accept is up, Access-Reject down with the server's message")
    func acceptAndReject() async throws {
        let accepted = await run(try radius(login: "tester", password: "secret"))
        #expect(accepted.isUp, "\(accepted.reason)")
        #expect(accepted.reason == "radius: Access-Accept for tester: welcome")
        let rejected = await run(try radius(login: "tester", password: "wrong"))
        #expect(!rejected.isUp)
        #expect(rejected.reason == "radius: Access-Reject for tester: bad password")
    }

    @Test("a server with another secret, a silent server and a closed port are down")
    func failures() async throws {
        // The server drops a request whose Message-Authenticator it cannot verify.
        let wrongSecret = await run(try radius(login: "tester", password: "secret", secret: "other"))
        #expect(!wrongSecret.isUp)
        #expect(wrongSecret.reason.hasPrefix("radius: no answer from"))
        let silent = await run(try radius(login: "silent", password: "x"))
        #expect(silent.reason == "radius: no answer from 127.0.0.1:\(servers.port("radius")) within 1 s")
        let closed = await run(try radius(login: "tester", password: "secret", port: "closed"))
        #expect(closed.reason == "radius: 127.0.0.1:\(servers.port("closed")): Connection refused")
    }

    @Test("MD5 and HMAC-MD5 match RFC 1321 and RFC 2104")
    func digests() {
        func hex(_ bytes: [UInt8]) -> String {
            bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        }
        #expect(hex(MD5.digest([])) == "d41d8cd98f00b204e9800998ecf8427e")
        #expect(hex(MD5.digest(Array("abc".utf8))) == "900150983cd24fb0d6963f7d28e17f72")
        #expect(
            hex(
                MD5.digest(
                    Array("12345678901234567890123456789012345678901234567890123456789012345678901234567890".utf8)))
                == "57edf4a22be3c955ac49da2e2107b67a")
        #expect(
            hex(hmacMD5(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8)))
                == "750c783e6ab0b503eaa86e310a5db738")
    }

    @Test("a reply signed with another secret is told apart")
    func replyAuthenticator() throws {
        let request = [UInt8](repeating: 7, count: 16)
        var reply: [UInt8] = [2, 9, 0, 20] + [UInt8](repeating: 0, count: 16)
        reply.replaceSubrange(4..<20, with: MD5.digest(Array(reply[0..<4]) + request + Array("s3cret".utf8)))
        let good = try #require(RADIUSPacket.parseReply(reply, requestAuthenticator: request, secret: "s3cret"))
        #expect(good.isAuthentic && good.codeName == "Access-Accept")
        let bad = try #require(RADIUSPacket.parseReply(reply, requestAuthenticator: request, secret: "other"))
        #expect(!bad.isAuthentic)
    }
}
