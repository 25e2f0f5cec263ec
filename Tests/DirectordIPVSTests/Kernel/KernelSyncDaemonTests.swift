import DirectordCore
import DirectordIPVS
import Testing

/// The connection-sync daemons (what two directors use to keep connections across a failover),
/// started, read and stopped through netlink, judged by `ipvsadm -L --daemon`.
@Suite("Kernel: connection-sync daemons", .tags(.kernel), .enabled(if: Lab.isGuest, Lab.skipReason))
struct KernelSyncDaemonTests {
    /// A namespace with a dummy interface `sync0` that is up and has an address: a master
    /// needs an interface it can send multicast from.
    func withSyncInterface<T>(_ body: (LabNamespace) throws -> T) throws -> T {
        try withNamespace { namespace in
            for command in [
                ["ip", "link", "add", "sync0", "type", "dummy"], ["ip", "link", "set", "sync0", "up"],
                ["ip", "addr", "add", "192.0.2.1/24", "dev", "sync0"],
            ] {
                let result = try namespace.exec(command)
                guard result.status == 0 else { throw LabError("\(command.joined(separator: " ")): \(result)") }
            }
            return try body(namespace)
        }
    }

    @Test("start a master and a backup, read them as ipvsadm does, stop them")
    func startReadStop() throws {
        try withSyncInterface { namespace in
            let client = try namespace.client()
            #expect(try client.syncDaemons().isEmpty)
            try client.startSyncDaemon(IPVSSyncDaemon(role: .master, interface: "sync0", syncID: 7))
            try client.startSyncDaemon(
                IPVSSyncDaemon(
                    role: .backup, interface: "sync0", syncID: 7, maxLength: 1400, group: v4("239.1.1.1"), port: 9000,
                    ttl: 2))
            let daemons = try client.syncDaemons()
            #expect(
                daemons == [
                    IPVSSyncDaemon(
                        role: .master, interface: "sync0", syncID: 7, maxLength: 1472, group: v4("224.0.0.81"),
                        port: 8848, ttl: 1),
                    IPVSSyncDaemon(
                        role: .backup, interface: "sync0", syncID: 7, maxLength: 1400, group: v4("239.1.1.1"),
                        port: 9000, ttl: 2),
                ])
            let listing = try namespace.ipvsadmOK("-L", "--daemon")
            #expect(listing == daemons.map { $0.ipvsadmLine + "\n" }.joined())
            try client.stopSyncDaemon(.master)
            #expect(try client.syncDaemons().map(\.role) == [.backup])
            try client.stopSyncDaemon(.backup)
            #expect(try client.syncDaemons().isEmpty)
            #expect(try namespace.ipvsadmOK("-L", "--daemon").isEmpty)
        }
    }

    @Test("a daemon started by ipvsadm reads back; an IPv6 group too")
    func readBack() throws {
        try withSyncInterface { namespace in
            try namespace.ipvsadmOK(
                "--start-daemon", "backup", "--mcast-interface", "sync0", "--syncid", "12", "--mcast-group", "ff02::81")
            #expect(
                try namespace.client().syncDaemons() == [
                    IPVSSyncDaemon(
                        role: .backup, interface: "sync0", syncID: 12, maxLength: 1452, group: v6("ff02::81"),
                        port: 8848, ttl: 1)
                ])
        }
    }

    @Test("errors: already running, not running, no such interface")
    func errors() throws {
        try withSyncInterface { namespace in
            let client = try namespace.client()
            #expect(throws: IPVSError.syncDaemonNotRunning(.master)) { try client.stopSyncDaemon(.master) }
            #expect(throws: IPVSError.interfaceNotFound("nosuch0")) {
                try client.startSyncDaemon(IPVSSyncDaemon(role: .backup, interface: "nosuch0", syncID: 1))
            }
            try client.startSyncDaemon(IPVSSyncDaemon(role: .backup, interface: "sync0", syncID: 1))
            #expect(throws: IPVSError.syncDaemonRunning(.backup)) {
                try client.startSyncDaemon(IPVSSyncDaemon(role: .backup, interface: "sync0", syncID: 2))
            }
        }
    }

    /// Stopping a daemon whose kernel thread has not run yet makes kthread_stop() return -EINTR,
    /// and the kernel then sends no acknowledgement (netlink_rcv_skb skips it for -EINTR). The
    /// client must neither hang nor report a failure: the daemon is stopped.
    @Test("starting and stopping at once, over and over, never hangs")
    func startStopRace() throws {
        try withSyncInterface { namespace in
            let client = try NetlinkIPVSClient(networkNamespace: namespace.name, receiveTimeout: .seconds(20))
            for round in 0..<40 {
                let role: IPVSSyncDaemon.Role = round % 2 == 0 ? .backup : .master
                try client.startSyncDaemon(IPVSSyncDaemon(role: role, interface: "sync0", syncID: UInt8(round)))
                try client.stopSyncDaemon(role)
            }
            #expect(try client.syncDaemons().isEmpty)
        }
    }

    @Test("the in-memory fake fills in what the kernel fills in")
    func fakeAgrees() throws {
        try withSyncInterface { namespace in
            let client = try namespace.client()
            let fake = InMemoryIPVSTable(interfaces: ["sync0": 1500])
            for daemon in [
                IPVSSyncDaemon(role: .master, interface: "sync0", syncID: 1),
                IPVSSyncDaemon(role: .backup, interface: "sync0", syncID: 2, maxLength: 100),
            ] {
                try client.startSyncDaemon(daemon)
                try fake.startSyncDaemon(daemon)
            }
            #expect(try client.syncDaemons() == fake.syncDaemons())
        }
    }
}
