import DirectordCore
import DirectordIPVS
import Testing

/// Every operation applied through netlink, judged by `ipvsadm -Ln` in the same namespace.
@Suite("Kernel: operations through netlink, judged by ipvsadm", .tags(.kernel), .enabled(if: Lab.isGuest, Lab.skipReason))
struct KernelOperationTests {
    @Test("info reports IPVS 1.2.1 and the connection table size ipvsadm reports")
    func info() throws {
        try withNamespace { namespace in
            let info = try namespace.client().info()
            #expect(info.versionString == "1.2.1")
            let header = try namespace.ipvsadmOK("-Ln").split(separator: "\n").first.map(String.init)
            #expect(header == "IP Virtual Server version 1.2.1 (size=\(info.connectionTableSize))")
        }
    }

    @Test("add a TCP service with direct-routing, NAT and tunnel destinations")
    func addTCPService() throws {
        try withNamespace { namespace in
            let client = try namespace.client()
            let key = tcp("10.0.0.1", 80)
            try client.apply([
                .addService(IPVSService(key: key, scheduler: sched("wrr"))),
                .addDestination(IPVSDestination(address: v4("10.0.1.1"), port: 80, forwarding: .gate, weight: 1), service: key),
                .addDestination(IPVSDestination(address: v4("10.0.1.2"), port: 8080, forwarding: .masq, weight: 5), service: key),
                .addDestination(IPVSDestination(address: v4("10.0.1.3"), port: 80, forwarding: .ipip, weight: 2), service: key),
            ])
            #expect(
                try namespace.listing() == plainTitle + """
                    TCP  10.0.0.1:80 wrr
                      -> 10.0.1.1:80                  Route   1      0          0         
                      -> 10.0.1.2:8080                Masq    5      0          0         
                      -> 10.0.1.3:80                  Tunnel  2      0          0         

                    """)
        }
    }

    @Test("the snapshot reads back what was applied, and prints as ipvsadm prints it")
    func snapshotMatchesIpvsadm() throws {
        try withNamespace { namespace in
            let client = try namespace.client()
            var desired = IPVSTable()
            let web = tcp("192.168.10.1", 443)
            let dns = udp("10.0.0.53", 53)
            let mark = ServiceKey.firewallMark(7, .ipv4)
            desired.upsert(IPVSService(key: web, scheduler: sched("lc"), persistence: Persistence(timeout: 600, netmask: 0xffff_ff00)))
            desired.upsert(IPVSDestination(address: v4("10.1.0.1"), port: 443, forwarding: .masq, weight: 3), in: web)
            desired.upsert(IPVSService(key: dns, scheduler: sched("rr"), onePacket: true))
            desired.upsert(IPVSDestination(address: v4("10.1.0.2"), port: 53, forwarding: .gate, weight: 1), in: dns)
            desired.upsert(IPVSService(key: mark, scheduler: sched("sh"), schedulerFlags: [.flag1, .flag2]))
            desired.upsert(IPVSDestination(address: v4("10.1.0.3"), port: 0, forwarding: .gate, weight: 1), in: mark)
            try client.apply(TableDiff.diff(from: IPVSTable(), to: desired))

            let snapshot = try client.snapshot()
            #expect(snapshot.table == desired)
            for style in [IPVSListing.Style.plain, .stats, .rate, .thresholds, .persistentConnections] {
                let option: [String] =
                    switch style {
                    case .plain: []
                    case .stats: ["--stats"]
                    case .rate: ["--rate"]
                    case .thresholds: ["--thresholds"]
                    case .persistentConnections: ["--persistent-conn"]
                    case .rules: []
                    }
                let expected = try namespace.ipvsadmOK(["-Ln"] + option)
                #expect(IPVSListing.format(snapshot, options: .init(style: style)) == expected, "style \(style)")
            }
            #expect(IPVSListing.format(snapshot, options: .init(style: .rules)) == (try namespace.ipvsadmOK("-Sn")))
        }
    }
}
