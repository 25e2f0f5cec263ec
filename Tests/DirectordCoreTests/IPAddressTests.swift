import DirectordCore
import Testing

@Suite("IP addresses")
struct IPAddressTests {
    @Test(
        "IPv6 prints as glibc's inet_ntop prints it",
        arguments: [
            ("::", "::"), ("::1", "::1"), ("1::", "1::"), ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), ("2001:db8::0:1", "2001:db8::1"),
            ("0:0:0:0:0:ffff:10.1.2.3", "::ffff:10.1.2.3"), ("::10.1.2.3", "::10.1.2.3"),
            ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5:6"), ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
            ("fe80:0:0:1:0:0:0:0", "fe80:0:0:1::"), ("fe80::1:0:0:0", "fe80::1:0:0:0"),
            ("1:0:2:0:3:0:4:0", "1:0:2:0:3:0:4:0"),
        ])
    func ipv6Formatting(input: String, printed: String) throws {
        let address = try #require(IPAddress(input, family: .ipv6))
        #expect(address.description == printed)
        #expect(address.bracketed == "[\(printed)]")
        #expect(IPAddress(printed) == address)
    }

    @Test(
        "what inet_pton refuses is not an address",
        arguments: [
            "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4 ", "a.b.c.d", ":", ":::", "1:2",
            "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "::ffff:1.2.3", "[::1]", "1.2.3.4:80", "g::1",
            "1:2:3:4:5:6:7::8:9",
        ])
    func invalid(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test("IPv4 round-trips through bytes and text")
    func ipv4() throws {
        let address = try #require(IPAddress("192.168.6.240"))
        #expect(address == .v4(0xc0a8_06f0))
        #expect(address.bytes == [192, 168, 6, 240])
        #expect(IPAddress(bytes: [192, 168, 6, 240]) == address)
        #expect(address.family == .ipv4)
        #expect(IPAddress("192.168.6.240", family: .ipv6) == nil)
    }

    @Test("IPv4 sorts before IPv6, then numerically")
    func ordering() {
        let sorted = ["2001:db8::1", "10.0.0.2", "::1", "10.0.0.10", "9.255.255.255"].compactMap { IPAddress($0) }
            .sorted()
        #expect(sorted.map(\.description) == ["9.255.255.255", "10.0.0.2", "10.0.0.10", "::1", "2001:db8::1"])
    }
}
