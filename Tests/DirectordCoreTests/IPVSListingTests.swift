import Glibc
import Testing

@testable import DirectordCore

/// The formatter against `ipvsadm` 1.31's own output, captured in the lab for a table of every
/// kind (the kernel tests also compare it live against `ipvsadm` for tables of every kind).
@Suite("IPVSListing: ipvsadm's layouts byte for byte")
struct IPVSListingTests {
    /// The table the captured listings show, entered in a scrambled order (the formatter sorts
    /// as ipvsadm does).
    static let snapshot: IPVSSnapshot = {
        func real(
            _ address: String, _ port: UInt16, _ forwarding: ForwardingMethod, _ weight: Int32, _ upper: UInt32 = 0,
            _ lower: UInt32 = 0
        ) -> IPVSSnapshot.Destination {
            IPVSSnapshot.Destination(
                IPVSDestination(
                    address: IPAddress(address)!, port: port, forwarding: forwarding, weight: weight,
                    upperThreshold: upper, lowerThreshold: lower))
        }
        func service(
            _ key: ServiceKey, _ scheduler: String, flags: SchedulerFlags = [], persistence: Persistence? = nil,
            onePacket: Bool = false
        ) -> IPVSService {
            IPVSService(
                key: key, scheduler: Scheduler(uncheckedName: scheduler), schedulerFlags: flags,
                persistence: persistence, onePacket: onePacket)
        }
        return IPVSSnapshot(
            info: IPVSInfo(version: 0x010201, connectionTableSize: 4096),
            services: [
                IPVSSnapshot.Service(
                    service(
                        .firewallMark(2, .ipv6), "mh", flags: [.flag2],
                        persistence: Persistence(timeout: 60, netmask: 64))),
                IPVSSnapshot.Service(
                    service(.inet(.udp, IPAddress("10.0.0.1")!, port: 53), "rr", onePacket: true),
                    destinations: [real("10.0.2.1", 53, .ipip, 2)]),
                IPVSSnapshot.Service(
                    service(
                        .inet(.tcp, IPAddress("10.0.0.1")!, port: 80), "wrr",
                        persistence: Persistence(timeout: 300, netmask: 0xffff_ff00)),
                    destinations: [real("10.0.1.2", 8080, .masq, 0, 100, 10), real("10.0.1.1", 80, .gate, 65535)]),
                IPVSSnapshot.Service(
                    service(.firewallMark(1, .ipv4), "sh", flags: [.flag1, .flag2]),
                    destinations: [real("10.0.4.1", 0, .gate, 4)]),
                IPVSSnapshot.Service(
                    service(.inet(.tcp, IPAddress("2001:db8::1")!, port: 443), "lc"),
                    destinations: [real("2001:db8::2", 443, .masq, 1, 7, 3)]),
                IPVSSnapshot.Service(
                    service(.inet(.sctp, IPAddress("10.0.0.4")!, port: 3868), "rr", flags: [.flag1, .flag3])),
                IPVSSnapshot.Service(
                    service(
                        .inet(.tcp, IPAddress("10.0.0.3")!, port: 0), "rr",
                        persistence: Persistence(timeout: 360, netmask: 0xffff_ffff)),
                    destinations: [real("10.0.3.1", 0, .gate, 1)]),
            ])
    }()

    /// Every service and destination of the table, as the operations that would add it, then
    /// edits and deletions: the command lines `directord plan` prints.
    @Test("table operations as ipvsadm command lines")
    func commands() {
        var lines: [String] = []
        for entry in Self.snapshot.services {
            lines.append(IPVSListing.command(.addService(entry.service)))
            for destination in entry.destinations {
                lines.append(IPVSListing.command(.addDestination(destination.destination, service: entry.service.key)))
            }
        }
        let web = Self.snapshot.services[2]
        lines.append(IPVSListing.command(.editService(web.service)))
        lines.append(IPVSListing.command(.editDestination(web.destinations[0].destination, service: web.service.key)))
        lines.append(IPVSListing.command(.deleteDestination(web.destinations[1].destination, service: web.service.key)))
        lines.append(IPVSListing.command(.deleteService(Self.snapshot.services[0].service)))
        #expect(
            lines == [
                "ipvsadm -A -f 2 -6 -s mh -p 60 -M 64 -b mh-port",
                "ipvsadm -A -u 10.0.0.1:53 -s rr -o",
                "ipvsadm -a -u 10.0.0.1:53 -r 10.0.2.1:53 -i -w 2 --tun-type ipip",
                "ipvsadm -A -t 10.0.0.1:80 -s wrr -p 300 -M 255.255.255.0",
                "ipvsadm -a -t 10.0.0.1:80 -r 10.0.1.2:8080 -m -w 0 -x 100 -y 10",
                "ipvsadm -a -t 10.0.0.1:80 -r 10.0.1.1:80 -g -w 65535",
                "ipvsadm -A -f 1 -s sh -b sh-fallback,sh-port",
                "ipvsadm -a -f 1 -r 10.0.4.1:0 -g -w 4",
                "ipvsadm -A -t [2001:db8::1]:443 -s lc",
                "ipvsadm -a -t [2001:db8::1]:443 -r [2001:db8::2]:443 -m -w 1 -x 7 -y 3",
                "ipvsadm -A --sctp-service 10.0.0.4:3868 -s rr -b flag-1,flag-3",
                "ipvsadm -A -t 10.0.0.3:0 -s rr -p 360",
                "ipvsadm -a -t 10.0.0.3:0 -r 10.0.3.1:0 -g -w 1",
                "ipvsadm -E -t 10.0.0.1:80 -s wrr -p 300 -M 255.255.255.0",
                "ipvsadm -e -t 10.0.0.1:80 -r 10.0.1.2:8080 -m -w 0 -x 100 -y 10",
                "ipvsadm -d -t 10.0.0.1:80 -r 10.0.1.1:80",
                "ipvsadm -D -f 2 -6",
            ])
    }

    @Test("ipvsadm -Ln")
    func plain() { #expect(IPVSListing.format(Self.snapshot) == Captured.plain) }

    @Test("ipvsadm -Ln --stats")
    func stats() { #expect(IPVSListing.format(Self.snapshot, options: .init(style: .stats)) == Captured.stats) }

    @Test("ipvsadm -Ln --rate")
    func rate() { #expect(IPVSListing.format(Self.snapshot, options: .init(style: .rate)) == Captured.rate) }

    @Test("ipvsadm -Ln --thresholds")
    func thresholds() {
        #expect(IPVSListing.format(Self.snapshot, options: .init(style: .thresholds)) == Captured.thresholds)
    }

    @Test("ipvsadm -Ln --persistent-conn")
    func persistent() {
        #expect(IPVSListing.format(Self.snapshot, options: .init(style: .persistentConnections)) == Captured.persistent)
    }

    @Test("ipvsadm -Sn")
    func rules() { #expect(IPVSListing.format(Self.snapshot, options: .init(style: .rules)) == Captured.rules) }

    @Test("ipvsadm -Ln --stats --exact")
    func exact() {
        #expect(IPVSListing.format(Self.snapshot, options: .init(style: .stats, exact: true)) == Captured.exactstats)
    }

    @Test("an empty table is the banner and the titles")
    func empty() {
        let snapshot = IPVSSnapshot(info: IPVSInfo(version: 0x010201, connectionTableSize: 1 << 20))
        #expect(
            IPVSListing.format(snapshot)
                == "IP Virtual Server version 1.2.1 (size=1048576)\nProt LocalAddress:Port Scheduler Flags\n"
                + "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")
        #expect(IPVSListing.format(snapshot, options: .init(style: .rules)).isEmpty)
    }

    /// print_largenum's own printf formats, run through the C library, as the oracle.
    static func printLargeNumber(_ value: UInt64, exact: Bool) -> String {
        func c(_ format: String, _ arguments: any CVarArg...) -> String {
            var buffer = [CChar](repeating: 0, count: 64)
            _ = withVaList(arguments) { vsnprintf(&buffer, buffer.count, format, $0) }
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        if exact {
            let length = c("%llu", value).count
            return c("%*llu", Int32(length <= 8 ? 9 : length + 1), value)
        }
        switch value {
        case ..<100_000_000: return c("%9llu", value)
        case ..<1_000_000_000: return c("%8lluK", value / 1000)
        case ..<100_000_000_000: return c("%8lluM", value / 1_000_000)
        case ..<100_000_000_000_000: return c("%8lluG", value / 1_000_000_000)
        default: return c("%8lluT", value / 1_000_000_000_000)
        }
    }

    @Test(
        "counters scale as print_largenum scales them",
        arguments: [
            0, 7, 99_999_999, 100_000_000, 123_456_789, 999_999_999, 1_000_000_000, 99_999_999_999, 100_000_000_000,
            99_999_999_999_999, 100_000_000_000_000, UInt64.max,
        ] as [UInt64])
    func largeNumbers(_ value: UInt64) {
        #expect(
            IPVSListing.format(Self.counterSnapshot(value), options: .init(style: .stats)).hasSuffix(
                "TCP  10.0.0.1:80                 "
                    + String(repeating: Self.printLargeNumber(value, exact: false), count: 5) + "\n"
                    + "  -> 10.0.1.1:80                 "
                    + String(repeating: Self.printLargeNumber(value, exact: false), count: 5) + "\n"))
        #expect(
            IPVSListing.format(Self.counterSnapshot(value), options: .init(style: .stats, exact: true)).hasSuffix(
                "  -> 10.0.1.1:80                 "
                    + String(repeating: Self.printLargeNumber(value, exact: true), count: 5) + "\n"))
    }

    static func counterSnapshot(_ value: UInt64) -> IPVSSnapshot {
        let statistics = IPVSStatistics(
            connections: value, incomingPackets: value, outgoingPackets: value, incomingBytes: value,
            outgoingBytes: value,
            connectionRate: value, incomingPacketRate: value, outgoingPacketRate: value, incomingByteRate: value,
            outgoingByteRate: value)
        return IPVSSnapshot(
            info: IPVSInfo(version: 0x010201, connectionTableSize: 4096),
            services: [
                IPVSSnapshot.Service(
                    IPVSService(
                        key: .inet(.tcp, IPAddress("10.0.0.1")!, port: 80), scheduler: Scheduler(uncheckedName: "rr")),
                    statistics: statistics,
                    destinations: [
                        IPVSSnapshot.Destination(
                            IPVSDestination(address: IPAddress("10.0.1.1")!, port: 80, forwarding: .gate, weight: 1),
                            statistics: statistics)
                    ])
            ])
    }

    @Test("rates: a destination's first three rates are plain %8llu, the byte rates scaled")
    func rateColumns() {
        let text = IPVSListing.format(Self.counterSnapshot(123_456_789_012), options: .init(style: .rate))
        let destination = text.split(separator: "\n").last!
        let printed =
            "  -> " + "10.0.1.1:80".padding(28) + " 123456789012 123456789012 123456789012"
            + Self.printLargeNumber(123_456_789_012, exact: false)
            + Self.printLargeNumber(123_456_789_012, exact: false)
        #expect(String(destination) == printed)
    }

    @Test("a firewall mark above 2^31 prints as ipvsadm's %d prints it, and sorts first")
    func hugeMark() {
        let snapshot = IPVSSnapshot(
            info: IPVSInfo(version: 0x010201, connectionTableSize: 4096),
            services: [
                IPVSSnapshot.Service(
                    IPVSService(
                        key: .inet(.tcp, IPAddress("10.0.0.1")!, port: 80), scheduler: Scheduler(uncheckedName: "rr"))),
                IPVSSnapshot.Service(
                    IPVSService(key: .firewallMark(4_000_000_000, .ipv4), scheduler: Scheduler(uncheckedName: "rr"))),
            ])
        let lines = IPVSListing.format(snapshot).split(separator: "\n").dropFirst(3)
        #expect(Array(lines) == ["FWM  -294967296 rr", "TCP  10.0.0.1:80 rr"])
        #expect(
            IPVSListing.format(snapshot, options: .init(style: .rules))
                == "-A -f -294967296 -s rr\n-A -t 10.0.0.1:80 -s rr\n")
    }

    @Test("the sort is glibc's merge sort with ipvsadm's wrapping comparison")
    func wrappingComparison() {
        func key(_ address: String) -> IPVSSnapshot.Service {
            IPVSSnapshot.Service(
                IPVSService(key: .inet(.tcp, IPAddress(address)!, port: 80), scheduler: Scheduler(uncheckedName: "rr")))
        }
        // 10.0.0.1 - 192.168.0.1 wraps past 2^31 and comes out positive.
        #expect(IPVSListing.compareServices(key("10.0.0.1"), key("192.168.0.1")) > 0)
        #expect(IPVSListing.compareServices(key("10.0.0.1"), key("100.0.0.1")) < 0)
        #expect(IPVSListing.compareServices(key("100.0.0.1"), key("192.168.0.1")) < 0)
        // The result of a cycle depends on where the merge sort starts.
        var a = [key("10.0.0.1"), key("100.0.0.1"), key("192.168.0.1")]
        var b = [key("192.168.0.1"), key("100.0.0.1"), key("10.0.0.1")]
        IPVSListing.mergeSort(&a, by: IPVSListing.compareServices)
        IPVSListing.mergeSort(&b, by: IPVSListing.compareServices)
        #expect(a.map(\.service.key.listingName) == ["TCP 10.0.0.1:80", "TCP 100.0.0.1:80", "TCP 192.168.0.1:80"])
        #expect(b.map(\.service.key.listingName) == ["TCP 192.168.0.1:80", "TCP 10.0.0.1:80", "TCP 100.0.0.1:80"])
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}

/// ipvsadm 1.31's output for ``IPVSListingTests/snapshot``, captured inside lab/run.
private enum Captured {
    static let plain = [
        "IP Virtual Server version 1.2.1 (size=4096)",
        "Prot LocalAddress:Port Scheduler Flags",
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
        "TCP  10.0.0.1:80 wrr persistent 300 mask 255.255.255.0",
        "  -> 10.0.1.1:80                  Route   65535  0          0         ",
        "  -> 10.0.1.2:8080                Masq    0      0          0         ",
        "TCP  10.0.0.3:0 rr persistent 360",
        "  -> 10.0.3.1:0                   Route   1      0          0         ",
        "UDP  10.0.0.1:53 rr ops",
        "  -> 10.0.2.1:53                  Tunnel  2      0          0         ",
        "SCTP 10.0.0.4:3868 rr (flag-1,flag-3)",
        "TCP  [2001:db8::1]:443 lc",
        "  -> [2001:db8::2]:443            Masq    1      0          0         ",
        "FWM  1 sh (sh-fallback,sh-port)",
        "  -> 10.0.4.1:0                   Route   4      0          0         ",
        "FWM  2 IPv6 mh (mh-port) persistent 60 mask 64",
    ].map { $0 + "\n" }.joined()

    static let stats = [
        "IP Virtual Server version 1.2.1 (size=4096)",
        "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes",
        "  -> RemoteAddress:Port",
        "TCP  10.0.0.1:80                         0        0        0        0        0",
        "  -> 10.0.1.1:80                         0        0        0        0        0",
        "  -> 10.0.1.2:8080                       0        0        0        0        0",
        "TCP  10.0.0.3:0                          0        0        0        0        0",
        "  -> 10.0.3.1:0                          0        0        0        0        0",
        "UDP  10.0.0.1:53                         0        0        0        0        0",
        "  -> 10.0.2.1:53                         0        0        0        0        0",
        "SCTP 10.0.0.4:3868                       0        0        0        0        0",
        "TCP  [2001:db8::1]:443                   0        0        0        0        0",
        "  -> [2001:db8::2]:443                   0        0        0        0        0",
        "FWM  1                                   0        0        0        0        0",
        "  -> 10.0.4.1:0                          0        0        0        0        0",
        "FWM  2 IPv6                              0        0        0        0        0",
    ].map { $0 + "\n" }.joined()

    static let rate = [
        "IP Virtual Server version 1.2.1 (size=4096)",
        "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS",
        "  -> RemoteAddress:Port",
        "TCP  10.0.0.1:80                         0        0        0        0        0",
        "  -> 10.0.1.1:80                         0        0        0        0        0",
        "  -> 10.0.1.2:8080                       0        0        0        0        0",
        "TCP  10.0.0.3:0                          0        0        0        0        0",
        "  -> 10.0.3.1:0                          0        0        0        0        0",
        "UDP  10.0.0.1:53                         0        0        0        0        0",
        "  -> 10.0.2.1:53                         0        0        0        0        0",
        "SCTP 10.0.0.4:3868                       0        0        0        0        0",
        "TCP  [2001:db8::1]:443                   0        0        0        0        0",
        "  -> [2001:db8::2]:443                   0        0        0        0        0",
        "FWM  1                                   0        0        0        0        0",
        "  -> 10.0.4.1:0                          0        0        0        0        0",
        "FWM  2 IPv6                              0        0        0        0        0",
    ].map { $0 + "\n" }.joined()

    static let thresholds = [
        "IP Virtual Server version 1.2.1 (size=4096)",
        "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn ",
        "  -> RemoteAddress:Port",
        "TCP  10.0.0.1:80 wrr persistent 300 mask 255.255.255.0",
        "  -> 10.0.1.1:80                  0          0          0          0         ",
        "  -> 10.0.1.2:8080                100        10         0          0         ",
        "TCP  10.0.0.3:0 rr persistent 360",
        "  -> 10.0.3.1:0                   0          0          0          0         ",
        "UDP  10.0.0.1:53 rr ops",
        "  -> 10.0.2.1:53                  0          0          0          0         ",
        "SCTP 10.0.0.4:3868 rr (flag-1,flag-3)",
        "TCP  [2001:db8::1]:443 lc",
        "  -> [2001:db8::2]:443            7          3          0          0         ",
        "FWM  1 sh (sh-fallback,sh-port)",
        "  -> 10.0.4.1:0                   0          0          0          0         ",
        "FWM  2 IPv6 mh (mh-port) persistent 60 mask 64",
    ].map { $0 + "\n" }.joined()

    static let persistent = [
        "IP Virtual Server version 1.2.1 (size=4096)",
        "Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn ",
        "  -> RemoteAddress:Port",
        "TCP  10.0.0.1:80 wrr persistent 300 mask 255.255.255.0",
        "  -> 10.0.1.1:80                  65535     0           0          0         ",
        "  -> 10.0.1.2:8080                0         0           0          0         ",
        "TCP  10.0.0.3:0 rr persistent 360",
        "  -> 10.0.3.1:0                   1         0           0          0         ",
        "UDP  10.0.0.1:53 rr ops",
        "  -> 10.0.2.1:53                  2         0           0          0         ",
        "SCTP 10.0.0.4:3868 rr (flag-1,flag-3)",
        "TCP  [2001:db8::1]:443 lc",
        "  -> [2001:db8::2]:443            1         0           0          0         ",
        "FWM  1 sh (sh-fallback,sh-port)",
        "  -> 10.0.4.1:0                   4         0           0          0         ",
        "FWM  2 IPv6 mh (mh-port) persistent 60 mask 64",
    ].map { $0 + "\n" }.joined()

    static let rules = [
        "-A -t 10.0.0.1:80 -s wrr -p 300 -M 255.255.255.0",
        "-a -t 10.0.0.1:80 -r 10.0.1.1:80 -g -w 65535",
        "-a -t 10.0.0.1:80 -r 10.0.1.2:8080 -m -w 0",
        "-A -t 10.0.0.3:0 -s rr -p 360",
        "-a -t 10.0.0.3:0 -r 10.0.3.1:0 -g -w 1",
        "-A -u 10.0.0.1:53 -s rr -o",
        "-a -u 10.0.0.1:53 -r 10.0.2.1:53 -i -w 2 --tun-type ipip",
        "-A --sctp-service 10.0.0.4:3868 -s rr -b flag-1,flag-3",
        "-A -t [2001:db8::1]:443 -s lc",
        "-a -t [2001:db8::1]:443 -r [2001:db8::2]:443 -m -w 1",
        "-A -f 1 -s sh -b sh-fallback,sh-port",
        "-a -f 1 -r 10.0.4.1:0 -g -w 4",
        "-A -f 2 -6 -s mh -p 60 -M 64 -b mh-port",
    ].map { $0 + "\n" }.joined()

    static let exactstats = [
        "IP Virtual Server version 1.2.1 (size=4096)",
        "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes",
        "  -> RemoteAddress:Port",
        "TCP  10.0.0.1:80                         0        0        0        0        0",
        "  -> 10.0.1.1:80                         0        0        0        0        0",
        "  -> 10.0.1.2:8080                       0        0        0        0        0",
        "TCP  10.0.0.3:0                          0        0        0        0        0",
        "  -> 10.0.3.1:0                          0        0        0        0        0",
        "UDP  10.0.0.1:53                         0        0        0        0        0",
        "  -> 10.0.2.1:53                         0        0        0        0        0",
        "SCTP 10.0.0.4:3868                       0        0        0        0        0",
        "TCP  [2001:db8::1]:443                   0        0        0        0        0",
        "  -> [2001:db8::2]:443                   0        0        0        0        0",
        "FWM  1                                   0        0        0        0        0",
        "  -> 10.0.4.1:0                          0        0        0        0        0",
        "FWM  2 IPv6                              0        0        0        0        0",
    ].map { $0 + "\n" }.joined()
}
