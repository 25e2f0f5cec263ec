import DirectordCore
import DirectordSystem
import Glibc
import Testing

@Suite("System name resolution")
struct SystemNameResolverTests {
    let resolver = SystemNameResolver()

    @Test("host names resolve with getaddrinfo, in the family asked for")
    func hosts() {
        #expect(resolver.addresses(ofHost: "localhost", family: .ipv4).first == IPAddress("127.0.0.1"))
        #expect(resolver.addresses(ofHost: "127.0.0.1", family: .ipv4) == [IPAddress("127.0.0.1")!])
        // Legacy forms getaddrinfo accepts, as ldirectord does through it.
        #expect(resolver.addresses(ofHost: "10.1", family: .ipv4) == [IPAddress("10.0.0.1")!])
        #expect(resolver.addresses(ofHost: "::1", family: .ipv6) == [IPAddress("::1")!])
        #expect(resolver.addresses(ofHost: "127.0.0.1", family: .ipv6).isEmpty)
        #expect(resolver.addresses(ofHost: "no-such-host.invalid", family: .ipv4).isEmpty)
    }

    @Test("service names resolve from /etc/services")
    func services() {
        #expect(resolver.port(ofService: "http", protocol: "tcp") == 80)
        #expect(resolver.port(ofService: "www", protocol: "tcp") == 80)
        #expect(resolver.port(ofService: "domain", protocol: "udp") == 53)
        #expect(resolver.port(ofService: "https", protocol: nil) == 443)
        #expect(resolver.port(ofService: "no-such-service", protocol: "tcp") == nil)
    }

    @Test("the host name is $HOSTNAME or the node name")
    func hostName() {
        #expect(!resolver.hostName.isEmpty)
    }
}

/// directord prints and parses addresses without libc; libc is the judge.
@Suite("Addresses against glibc")
struct AddressesAgainstGlibcTests {
    static func glibcText(_ address: IPAddress) -> String {
        var bytes = address.bytes
        var buffer = [CChar](repeating: 0, count: 64)
        let family = address.family == .ipv4 ? AF_INET : AF_INET6
        inet_ntop(family, &bytes, &buffer, socklen_t(buffer.count))
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func glibcParse(_ text: String, family: AddressFamily) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: 16)
        guard inet_pton(family == .ipv4 ? AF_INET : AF_INET6, text, &bytes) == 1 else { return nil }
        return Array(bytes.prefix(family == .ipv4 ? 4 : 16))
    }

    @Test("100,000 random IPv6 addresses with zero runs print as inet_ntop prints them")
    func ipv6Printing() {
        var state: UInt64 = 0x1234_5678
        func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        for _ in 0..<100_000 {
            // Words are mostly zero so that runs, ties and the IPv4 forms all occur.
            var words = (0..<8).map { _ in next() % 3 == 0 ? UInt16(truncatingIfNeeded: next()) : 0 }
            if next() % 8 == 0 { words[5] = 0xffff }
            let bytes = words.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
            let address = IPAddress(bytes: bytes)!
            let expected = Self.glibcText(address)
            guard address.description == expected else {
                Issue.record("\(words): directord \(address) glibc \(expected)")
                return
            }
            #expect(IPAddress(expected, family: .ipv6) == address)
        }
    }

    @Test(
        "parsing agrees with inet_pton",
        arguments: [
            "1.2.3.4", "255.255.255.255", "0.0.0.0", "01.2.3.4", "1.2.3", "1.2.3.4.5", "256.0.0.1", " 1.2.3.4",
            "::", "::1", "1::", "::ffff:1.2.3.4", "::1.2.3.4", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
            "1:2:3:4:5:6:1.2.3.4", "1::1.2.3.4", "1:2:3:4:5:6:7:8:9", "1::2::3", ":1::", "1:::", "12345::", "fe80::1%1",
            "2001:DB8::A", "::ffff:1.2.3", "::ffff:1.2.3.04", "1.2.3.4::", "g::", "",
        ])
    func parsing(text: String) {
        for family in AddressFamily.allCases {
            #expect(
                IPAddress(text, family: family)?.bytes == Self.glibcParse(text, family: family), "\(family) \(text)")
        }
    }
}
