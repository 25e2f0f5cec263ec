import DirectordCore
import DirectordIPVS
import Testing

/// Tables written by `ipvsadm`, read back through netlink: the other direction of the judge.
@Suite("Kernel: tables ipvsadm wrote, read through netlink", .tags(.kernel), .enabled(if: Lab.isGuest, Lab.skipReason))
struct KernelReadBackTests {
    /// Every scheduler module of Debian 12's kernel.
    @Test("every scheduler module, written by ipvsadm, reads back by name", arguments: Scheduler.known)
    func scheduler(_ name: String) throws {
        try withNamespace { namespace in
            try namespace.ipvsadmOK("-A", "-t", "10.0.0.1:80", "-s", name)
            try namespace.ipvsadmOK("-A", "-u", "[2001:db8::1]:53", "-s", name)
            try namespace.ipvsadmOK("-A", "-f", "3", "-s", name)
            let table = try namespace.client().table()
            #expect(table.services.map(\.scheduler.rawValue) == [name, name, name])
        }
    }

    @Test("a table of every kind reads back exactly, and prints as ipvsadm prints it in every style")
    func everything() throws {
        try withNamespace { namespace in
            for command in [
                "-A -t 10.0.0.1:80 -s wrr -p 300 -M 255.255.255.0",
                "-a -t 10.0.0.1:80 -r 10.0.1.1:80 -g -w 0",
                "-a -t 10.0.0.1:80 -r 10.0.1.2:8080 -m -w 65535 -x 100 -y 10",
                "-a -t 10.0.0.1:80 -r 10.0.1.3:80 -i -w 3",
                "-A -t 10.0.0.2:0 -s lc -p 1800",
                "-a -t 10.0.0.2:0 -r 10.0.2.1:0 -g -w 1",
                "-A -u 10.0.0.3:53 -s rr -o",
                "-a -u 10.0.0.3:53 -r 10.0.3.1:53 -m -w 2",
                "-A -t [2001:db8::10]:443 -s sh -b sh-port,sh-fallback -p 60 -M 64",
                "-a -t [2001:db8::10]:443 -r [2001:db8::11]:443 -m -w 7 -x 5 -y 5",
                "-A -f 42 -s mh -b mh-port",
                "-a -f 42 -r 10.0.4.1:0 -g -w 4",
                "-A -f 43 -6 -s sed",
                "-a -f 43 -6 -r [2001:db8::12]:0 -m -w 5",
                "-A --sctp-service 10.0.0.4:3868 -s nq",
                "-a --sctp-service 10.0.0.4:3868 -r 10.0.5.1:3868 -m -w 1",
            ] {
                try namespace.ipvsadmOK(command.split(separator: " ").map(String.init))
            }
            let client = try namespace.client()
            let snapshot = try client.snapshot()

            var expected = IPVSTable()
            func add(_ service: IPVSService, _ destinations: [IPVSDestination]) {
                expected.upsert(service)
                for destination in destinations { expected.upsert(destination, in: service.key) }
            }
            add(
                IPVSService(
                    key: tcp("10.0.0.1", 80), scheduler: sched("wrr"),
                    persistence: Persistence(timeout: 300, netmask: 0xffff_ff00)),
                [
                    IPVSDestination(address: v4("10.0.1.1"), port: 80, forwarding: .gate, weight: 0),
                    IPVSDestination(
                        address: v4("10.0.1.2"), port: 8080, forwarding: .masq, weight: 65535, upperThreshold: 100,
                        lowerThreshold: 10),
                    IPVSDestination(address: v4("10.0.1.3"), port: 80, forwarding: .ipip, weight: 3),
                ])
            add(
                IPVSService(
                    key: tcp("10.0.0.2", 0), scheduler: sched("lc"),
                    persistence: Persistence(timeout: 1800, netmask: 0xffff_ffff)),
                [IPVSDestination(address: v4("10.0.2.1"), port: 0, forwarding: .gate, weight: 1)])
            add(
                IPVSService(key: udp("10.0.0.3", 53), scheduler: sched("rr"), onePacket: true),
                [IPVSDestination(address: v4("10.0.3.1"), port: 53, forwarding: .masq, weight: 2)])
            add(
                IPVSService(
                    key: tcp("2001:db8::10", 443), scheduler: sched("sh"), schedulerFlags: [.flag1, .flag2],
                    persistence: Persistence(timeout: 60, netmask: 64)),
                [
                    IPVSDestination(
                        address: v6("2001:db8::11"), port: 443, forwarding: .masq, weight: 7, upperThreshold: 5,
                        lowerThreshold: 5)
                ])
            add(
                IPVSService(key: .firewallMark(42, .ipv4), scheduler: sched("mh"), schedulerFlags: [.flag2]),
                [IPVSDestination(address: v4("10.0.4.1"), port: 0, forwarding: .gate, weight: 4)])
            add(
                IPVSService(key: .firewallMark(43, .ipv6), scheduler: sched("sed")),
                [IPVSDestination(address: v6("2001:db8::12"), port: 0, forwarding: .masq, weight: 5)])
            add(
                IPVSService(key: .inet(.sctp, v4("10.0.0.4"), port: 3868), scheduler: sched("nq")),
                [IPVSDestination(address: v4("10.0.5.1"), port: 3868, forwarding: .masq, weight: 1)])
            #expect(snapshot.table == expected)

            for (style, options) in [
                (IPVSListing.Style.plain, ["-Ln"]), (.stats, ["-Ln", "--stats"]), (.rate, ["-Ln", "--rate"]),
                (.thresholds, ["-Ln", "--thresholds"]), (.persistentConnections, ["-Ln", "--persistent-conn"]),
                (.rules, ["-Sn"]),
            ] {
                #expect(
                    IPVSListing.format(snapshot, options: .init(style: style)) == (try namespace.ipvsadmOK(options)),
                    "\(options)")
            }
            #expect(
                IPVSListing.format(snapshot, options: .init(exact: true)) == (try namespace.ipvsadmOK("-Ln", "--exact"))
            )
            #expect(
                IPVSListing.format(snapshot, options: .init(sorted: false))
                    == (try namespace.ipvsadmOK("-Ln", "--nosort")))

            // Nothing to do when the table is what it should be.
            #expect(TableDiff.diff(from: try client.table(), to: expected).isEmpty)
        }
    }

    @Test("ipvsadm's sort is reproduced where its int overflow makes it differ from address order")
    func wrappingSort() throws {
        try withNamespace { namespace in
            // 10.x, 100.x and 192.x: each pair less than 2^31 apart compares as expected, but
            // 10.x against 192.x wraps, so the comparison goes round in a circle.
            for address in ["192.168.0.1", "10.0.0.1", "100.64.0.1", "172.16.0.1", "10.0.0.2", "200.0.0.1", "1.1.1.1"] {
                try namespace.ipvsadmOK("-A", "-t", "\(address):80", "-s", "rr")
                for real in ["192.168.9.9", "10.9.9.9", "100.64.9.9", "1.9.9.9", "250.1.1.1"] {
                    try namespace.ipvsadmOK("-a", "-t", "\(address):80", "-r", "\(real):80", "-g")
                }
            }
            let snapshot = try namespace.client().snapshot()
            #expect(IPVSListing.format(snapshot) == (try namespace.ipvsadmOK("-Ln")))
            // And that order is not address order.
            let listed = try namespace.ipvsadmOK("-Ln").split(separator: "\n").filter { $0.hasPrefix("TCP") }
                .map {
                    IPAddress($0.split(separator: " ", omittingEmptySubsequences: true)[1].split(separator: ":")[0])!
                }
            #expect(listed.count == 7)
            #expect(listed != listed.sorted())
        }
    }
}
