import DirectordCore
import DirectordIPVS
import Testing

/// Every operation applied through netlink, judged by `ipvsadm` in the same namespace: its
/// listings, spaces squeezed, against literal expectations written here (so the judge does not
/// share code with the formatter); and, separately, directord's formatter against `ipvsadm`'s
/// bytes.
@Suite(
    "Kernel: operations through netlink, judged by ipvsadm", .tags(.kernel), .enabled(if: Lab.isGuest, Lab.skipReason))
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

    @Test(
        "add services of every kind: TCP, UDP, SCTP, firewall marks, IPv4 and IPv6, persistence with netmask, port 0, one-packet, scheduler flags"
    )
    func addServices() throws {
        try withNamespace { namespace in
            try namespace.client().apply([
                .addService(IPVSService(key: tcp("10.0.0.1", 80), scheduler: sched("wrr"))),
                .addService(
                    IPVSService(
                        key: tcp("10.0.0.2", 0), scheduler: sched("wlc"),
                        persistence: Persistence(timeout: 360, netmask: 0xffff_ffff))),
                .addService(
                    IPVSService(
                        key: tcp("10.0.0.3", 443), scheduler: sched("lblc"),
                        persistence: Persistence(timeout: 900, netmask: 0xffff_fe00))),
                .addService(IPVSService(key: udp("10.0.0.4", 53), scheduler: sched("rr"), onePacket: true)),
                .addService(IPVSService(key: .inet(.sctp, v4("10.0.0.5"), port: 3868), scheduler: sched("lblcr"))),
                .addService(
                    IPVSService(
                        key: tcp("2001:db8::1", 80), scheduler: sched("dh"),
                        persistence: Persistence(timeout: 60, netmask: 48))),
                .addService(
                    IPVSService(
                        key: udp("2001:db8::2", 5060), scheduler: sched("sh"), schedulerFlags: [.flag1, .flag2])),
                .addService(
                    IPVSService(
                        key: .firewallMark(1, .ipv4), scheduler: sched("fo"),
                        persistence: Persistence(timeout: 30, netmask: 0xffff_ff00))),
                .addService(
                    IPVSService(key: .firewallMark(2, .ipv6), scheduler: sched("ovf"), schedulerFlags: [.flag3])),
            ])
            #expect(
                try namespace.squeezedListing() == [
                    "TCP 10.0.0.1:80 wrr",
                    "TCP 10.0.0.2:0 wlc persistent 360",
                    "TCP 10.0.0.3:443 lblc persistent 900 mask 255.255.254.0",
                    "UDP 10.0.0.4:53 rr ops",
                    "SCTP 10.0.0.5:3868 lblcr",
                    "TCP [2001:db8::1]:80 dh persistent 60 mask 48",
                    "UDP [2001:db8::2]:5060 sh (sh-fallback,sh-port)",
                    "FWM 1 fo persistent 30 mask 255.255.255.0",
                    "FWM 2 IPv6 ovf (flag-3)",
                ])
        }
    }

    @Test("add destinations: route, masq, tunnel; weights 0 and 65535; thresholds")
    func addDestinations() throws {
        try withNamespace { namespace in
            let key = tcp("10.0.0.1", 80)
            let key6 = tcp("2001:db8::1", 443)
            try namespace.client().apply([
                .addService(IPVSService(key: key, scheduler: sched("wrr"))),
                .addDestination(
                    IPVSDestination(address: v4("10.0.1.1"), port: 80, forwarding: .gate, weight: 1), service: key),
                .addDestination(
                    IPVSDestination(address: v4("10.0.1.2"), port: 8080, forwarding: .masq, weight: 0), service: key),
                .addDestination(
                    IPVSDestination(
                        address: v4("10.0.1.3"), port: 80, forwarding: .ipip, weight: 65535, upperThreshold: 1000,
                        lowerThreshold: 800), service: key),
                .addService(IPVSService(key: key6, scheduler: sched("nq"))),
                .addDestination(
                    IPVSDestination(
                        address: v6("2001:db8::2"), port: 8443, forwarding: .masq, weight: 9, upperThreshold: 10),
                    service: key6),
            ])
            #expect(
                try namespace.squeezedListing() == [
                    "TCP 10.0.0.1:80 wrr",
                    "-> 10.0.1.1:80 Route 1 0 0",
                    "-> 10.0.1.2:8080 Masq 0 0 0",
                    "-> 10.0.1.3:80 Tunnel 65535 0 0",
                    "TCP [2001:db8::1]:443 nq",
                    "-> [2001:db8::2]:8443 Masq 9 0 0",
                ])
            #expect(
                try namespace.squeezedListing("--thresholds") == [
                    "TCP 10.0.0.1:80 wrr",
                    "-> 10.0.1.1:80 0 0 0 0",
                    "-> 10.0.1.2:8080 0 0 0 0",
                    "-> 10.0.1.3:80 1000 800 0 0",
                    "TCP [2001:db8::1]:443 nq",
                    "-> [2001:db8::2]:8443 10 0 0 0",
                ])
            #expect(
                try namespace.squeezedListing("--persistent-conn") == [
                    "TCP 10.0.0.1:80 wrr",
                    "-> 10.0.1.1:80 1 0 0 0",
                    "-> 10.0.1.2:8080 0 0 0 0",
                    "-> 10.0.1.3:80 65535 0 0 0",
                    "TCP [2001:db8::1]:443 nq",
                    "-> [2001:db8::2]:8443 9 0 0 0",
                ])
        }
    }

    @Test("edit a service in place: scheduler, persistence on and off, netmask, flags; its destinations stay")
    func editService() throws {
        try withNamespace { namespace in
            let client = try namespace.client()
            let key = tcp("10.0.0.1", 80)
            try client.apply([
                .addService(IPVSService(key: key, scheduler: sched("wrr"))),
                .addDestination(
                    IPVSDestination(address: v4("10.0.1.1"), port: 80, forwarding: .gate, weight: 2), service: key),
            ])
            try client.apply([
                .editService(
                    IPVSService(
                        key: key, scheduler: sched("sh"), schedulerFlags: [.flag2],
                        persistence: Persistence(timeout: 120, netmask: 0xffff_0000)))
            ])
            #expect(
                try namespace.squeezedListing() == [
                    "TCP 10.0.0.1:80 sh (sh-port) persistent 120 mask 255.255.0.0", "-> 10.0.1.1:80 Route 2 0 0",
                ])
            try client.apply([.editService(IPVSService(key: key, scheduler: sched("lc")))])
            #expect(try namespace.squeezedListing() == ["TCP 10.0.0.1:80 lc", "-> 10.0.1.1:80 Route 2 0 0"])
        }
    }

    @Test("edit a destination in place: forwarding, weight, thresholds")
    func editDestination() throws {
        try withNamespace { namespace in
            let client = try namespace.client()
            let key = udp("10.0.0.1", 53)
            try client.apply([
                .addService(IPVSService(key: key, scheduler: sched("rr"))),
                .addDestination(
                    IPVSDestination(address: v4("10.0.1.1"), port: 53, forwarding: .gate, weight: 1), service: key),
            ])
            try client.apply([
                .editDestination(
                    IPVSDestination(
                        address: v4("10.0.1.1"), port: 53, forwarding: .masq, weight: 0, upperThreshold: 50,
                        lowerThreshold: 5), service: key)
            ])
            #expect(try namespace.squeezedListing() == ["UDP 10.0.0.1:53 rr", "-> 10.0.1.1:53 Masq 0 0 0"])
            #expect(try namespace.squeezedListing("--thresholds") == ["UDP 10.0.0.1:53 rr", "-> 10.0.1.1:53 50 5 0 0"])
        }
    }

    @Test("delete a destination, then a service with its destinations, then flush the rest")
    func deleteAndFlush() throws {
        try withNamespace { namespace in
            let client = try namespace.client()
            let a = tcp("10.0.0.1", 80)
            let b = ServiceKey.firewallMark(9, .ipv6)
            try client.apply([
                .addService(IPVSService(key: a, scheduler: sched("rr"))),
                .addDestination(
                    IPVSDestination(address: v4("10.0.1.1"), port: 80, forwarding: .gate, weight: 1), service: a),
                .addDestination(
                    IPVSDestination(address: v4("10.0.1.2"), port: 80, forwarding: .gate, weight: 1), service: a),
                .addService(IPVSService(key: b, scheduler: sched("rr"))),
                .addDestination(
                    IPVSDestination(address: v6("2001:db8::9"), port: 0, forwarding: .masq, weight: 1), service: b),
            ])
            try client.apply([
                .deleteDestination(
                    IPVSDestination(address: v4("10.0.1.1"), port: 80, forwarding: .gate, weight: 1), service: a)
            ])
            #expect(
                try namespace.squeezedListing() == [
                    "TCP 10.0.0.1:80 rr", "-> 10.0.1.2:80 Route 1 0 0", "FWM 9 IPv6 rr",
                    "-> [2001:db8::9]:0 Masq 1 0 0",
                ])
            try client.apply([.deleteService(IPVSService(key: b, scheduler: sched("rr")))])
            #expect(try namespace.squeezedListing() == ["TCP 10.0.0.1:80 rr", "-> 10.0.1.2:80 Route 1 0 0"])
            try client.flush()
            #expect(try namespace.squeezedListing().isEmpty)
            #expect(try client.table().isEmpty)
        }
    }

    @Test("every scheduler module through netlink", arguments: Scheduler.known)
    func everyScheduler(_ name: String) throws {
        try withNamespace { namespace in
            try namespace.client().apply([
                .addService(IPVSService(key: tcp("10.0.0.1", 80), scheduler: sched(name))),
                .addService(IPVSService(key: tcp("2001:db8::1", 80), scheduler: sched(name))),
                .addService(IPVSService(key: .firewallMark(5, .ipv4), scheduler: sched(name))),
            ])
            #expect(
                try namespace.squeezedListing() == [
                    "TCP 10.0.0.1:80 \(name)", "TCP [2001:db8::1]:80 \(name)", "FWM 5 \(name)",
                ])
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
            desired.upsert(
                IPVSService(
                    key: web, scheduler: sched("lc"), persistence: Persistence(timeout: 600, netmask: 0xffff_ff00)))
            desired.upsert(IPVSDestination(address: v4("10.1.0.1"), port: 443, forwarding: .masq, weight: 3), in: web)
            desired.upsert(IPVSService(key: dns, scheduler: sched("rr"), onePacket: true))
            desired.upsert(IPVSDestination(address: v4("10.1.0.2"), port: 53, forwarding: .gate, weight: 1), in: dns)
            desired.upsert(IPVSService(key: mark, scheduler: sched("sh"), schedulerFlags: [.flag1, .flag2]))
            desired.upsert(IPVSDestination(address: v4("10.1.0.3"), port: 0, forwarding: .gate, weight: 1), in: mark)
            try client.apply(TableDiff.diff(from: IPVSTable(), to: desired))

            let snapshot = try client.snapshot()
            #expect(snapshot.table == desired)
            for (style, options) in [
                (IPVSListing.Style.plain, ["-Ln"]), (.stats, ["-Ln", "--stats"]), (.rate, ["-Ln", "--rate"]),
                (.thresholds, ["-Ln", "--thresholds"]), (.persistentConnections, ["-Ln", "--persistent-conn"]),
                (.rules, ["-Sn"]),
            ] {
                #expect(
                    IPVSListing.format(snapshot, options: .init(style: style)) == (try namespace.ipvsadmOK(options)),
                    "\(options)")
            }
        }
    }

    @Test("reconciling reaches the desired table with the smallest diff, and then has nothing to do")
    func reconcile() throws {
        try withNamespace { namespace in
            let client = try namespace.client()
            let web = tcp("10.0.0.1", 80)
            let gone = tcp("10.0.0.9", 80)
            // What another tool left in the kernel.
            try namespace.ipvsadmOK("-A", "-t", "10.0.0.1:80", "-s", "wlc")
            try namespace.ipvsadmOK("-a", "-t", "10.0.0.1:80", "-r", "10.0.1.1:80", "-g", "-w", "1")
            try namespace.ipvsadmOK("-a", "-t", "10.0.0.1:80", "-r", "10.0.1.2:80", "-g", "-w", "1")
            try namespace.ipvsadmOK("-A", "-t", "10.0.0.9:80", "-s", "rr")

            var desired = IPVSTable()
            desired.upsert(IPVSService(key: web, scheduler: sched("wrr")))
            desired.upsert(IPVSDestination(address: v4("10.0.1.1"), port: 80, forwarding: .gate, weight: 5), in: web)
            desired.upsert(IPVSDestination(address: v4("10.0.1.3"), port: 80, forwarding: .gate, weight: 1), in: web)
            let applied = try client.reconcile(to: desired)
            #expect(
                applied == [
                    .editService(IPVSService(key: web, scheduler: sched("wrr"))),
                    .addDestination(
                        IPVSDestination(address: v4("10.0.1.3"), port: 80, forwarding: .gate, weight: 1), service: web),
                    .editDestination(
                        IPVSDestination(address: v4("10.0.1.1"), port: 80, forwarding: .gate, weight: 5), service: web),
                    .deleteDestination(
                        IPVSDestination(address: v4("10.0.1.2"), port: 80, forwarding: .gate, weight: 1), service: web),
                    .deleteService(IPVSService(key: gone, scheduler: sched("rr"))),
                ])
            #expect(
                try namespace.squeezedListing() == [
                    "TCP 10.0.0.1:80 wrr", "-> 10.0.1.1:80 Route 5 0 0", "-> 10.0.1.3:80 Route 1 0 0",
                ])
            #expect(try client.reconcile(to: desired).isEmpty)
        }
    }

    @Test("10,000 destination changes go out in datagrams of 128 and all arrive")
    func largeBatch() throws {
        try withNamespace { namespace in
            let client = try namespace.client()
            let key = tcp("10.0.0.1", 80)
            try client.apply([.addService(IPVSService(key: key, scheduler: sched("wlc")))])
            let before = client.transportStatistics
            let adds: [TableOperation] = (0..<10_000).map { index in
                .addDestination(
                    IPVSDestination(address: .v4(0x0a01_0000 + UInt32(index)), port: 80, forwarding: .masq, weight: 1),
                    service: key)
            }
            try client.apply(adds)
            let after = client.transportStatistics
            #expect(after.requests - before.requests == 10_000)
            #expect(after.sendCalls - before.sendCalls == (10_000 + 127) / 128)
            #expect(after.receiveCalls - before.receiveCalls <= 2 * ((10_000 + 127) / 128))
            let listing = try namespace.ipvsadmOK("-Ln")
            #expect(listing.split(separator: "\n").dropFirst(3).filter { $0.hasPrefix("  -> ") }.count == 10_000)
            #expect(try client.table().destinations(of: key).count == 10_000)

            // A failure deep in a batch is reported by its position; the rest is applied.
            var edits: [TableOperation] = (0..<10_000).map { index in
                .editDestination(
                    IPVSDestination(address: .v4(0x0a01_0000 + UInt32(index)), port: 80, forwarding: .masq, weight: 2),
                    service: key)
            }
            edits[7777] = .editDestination(
                IPVSDestination(address: v4("10.9.9.9"), port: 80, forwarding: .masq, weight: 2), service: key)
            #expect {
                try client.apply(edits)
            } throws: { error in
                guard case .operationsFailed(let failures, let attempted)? = error as? IPVSError else { return false }
                return attempted == 10_000 && failures.map(\.index) == [7777]
                    && failures[0].error
                        == .destinationNotFound(IPVSDestination.Key(address: v4("10.9.9.9"), port: 80), service: key)
            }
            let weights = try client.table().destinations(of: key).map(\.weight)
            #expect(weights.filter { $0 == 2 }.count == 9_999)
        }
    }

    @Test("one client shared by concurrent tasks: calls are serialised, nothing is lost")
    func concurrentCallers() async throws {
        let namespace = try LabNamespace()
        defer { namespace.remove() }
        let client = try namespace.client()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    let key = tcp("10.0.\(task).1", 80)
                    try client.apply([.addService(IPVSService(key: key, scheduler: sched("rr")))])
                    for index in 0..<50 {
                        try client.apply([
                            .addDestination(
                                IPVSDestination(
                                    address: v4("10.1.\(task).\(index + 1)"), port: 80, forwarding: .gate, weight: 1),
                                service: key)
                        ])
                        _ = try client.snapshot()
                    }
                }
            }
            try await group.waitForAll()
        }
        let table = try client.table()
        #expect(table.serviceCount == 8)
        #expect(table.destinationCount == 400)
    }

    @Test("a missing namespace is a clear error, not a crash")
    func missingNamespace() {
        #expect(throws: IPVSError.self) { try NetlinkIPVSClient(networkNamespace: "no-such-namespace-here") }
    }
}

extension LabNamespace {
    /// `ipvsadm -Ln` lines under the titles, runs of spaces squeezed and ends trimmed.
    func squeezedListing(_ options: String...) throws -> [String] {
        let text = try ipvsadmOK(["-Ln"] + options)
        return text.split(separator: "\n").dropFirst(3).map {
            $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        }
    }
}
