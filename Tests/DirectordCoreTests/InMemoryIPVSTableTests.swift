import DirectordCore
import Testing

/// The fake's own behaviour; its table rules are the kernel contract in DirectordIPVSTests,
/// which runs the same cases against the kernel in the lab.
@Suite("InMemoryIPVSTable")
struct InMemoryIPVSTableTests {
    let web = ServiceKey.inet(.tcp, IPAddress("10.0.0.1")!, port: 80)

    @Test("starts from a given table, lists services in the order they were added, counts batches")
    func basics() throws {
        var initial = IPVSTable()
        initial.upsert(IPVSService(key: web, scheduler: Scheduler(uncheckedName: "rr")))
        let fake = InMemoryIPVSTable(table: initial)
        let other = ServiceKey.inet(.tcp, IPAddress("1.1.1.1")!, port: 80)
        try fake.apply([.addService(IPVSService(key: other, scheduler: Scheduler(uncheckedName: "wlc")))])
        try fake.apply([])
        #expect(fake.appliedBatches == 1)
        #expect(try fake.snapshot().services.map(\.service.key) == [web, other])
        #expect(try fake.info().versionString == "1.2.1")
        try fake.flush()
        #expect(try fake.table().isEmpty)
    }

    @Test("a scheduler module that is not loaded is unknown")
    func schedulers() {
        let fake = InMemoryIPVSTable(schedulers: ["rr"])
        #expect(throws: IPVSError.self) {
            try fake.apply([.addService(IPVSService(key: web, scheduler: Scheduler(uncheckedName: "wlc")))])
        }
    }

    @Test(
        "sync daemons get the kernel's defaults: maxlen from the MTU (backup) or 1500 (master), clamped",
        arguments: [
            (IPVSSyncDaemon(role: .backup, interface: "lo", syncID: 1), UInt16(65507)),
            (IPVSSyncDaemon(role: .backup, interface: "eth0", syncID: 1), 1472),
            (IPVSSyncDaemon(role: .master, interface: "lo", syncID: 1), 1472),
            (IPVSSyncDaemon(role: .backup, interface: "eth0", syncID: 1, maxLength: 500), 1024),
            (IPVSSyncDaemon(role: .master, interface: "eth0", syncID: 1, maxLength: 500), 500),
            (IPVSSyncDaemon(role: .backup, interface: "eth0", syncID: 1, maxLength: 65535), 65507),
            (IPVSSyncDaemon(role: .backup, interface: "eth0", syncID: 1, group: IPAddress("ff02::81")!), 1452),
        ] as [(IPVSSyncDaemon, UInt16)])
    func daemonDefaults(_ daemon: IPVSSyncDaemon, _ maxLength: UInt16) throws {
        let fake = InMemoryIPVSTable()
        try fake.startSyncDaemon(daemon)
        let running = try #require(try fake.syncDaemons().first)
        #expect(running.maxLength == maxLength)
        #expect(running.port == 8848 && running.ttl == 1)
        #expect(running.group == (daemon.group ?? IPAddress("224.0.0.81")!))
    }

    @Test("sync daemon errors")
    func daemonErrors() throws {
        let fake = InMemoryIPVSTable()
        #expect(throws: IPVSError.interfaceNotFound("eth9")) {
            try fake.startSyncDaemon(IPVSSyncDaemon(role: .master, interface: "eth9", syncID: 1))
        }
        #expect(throws: IPVSError.syncDaemonNotRunning(.backup)) { try fake.stopSyncDaemon(.backup) }
        try fake.startSyncDaemon(IPVSSyncDaemon(role: .backup, interface: "eth0", syncID: 1))
        try fake.startSyncDaemon(IPVSSyncDaemon(role: .master, interface: "eth0", syncID: 1))
        #expect(throws: IPVSError.syncDaemonRunning(.master)) {
            try fake.startSyncDaemon(IPVSSyncDaemon(role: .master, interface: "eth0", syncID: 2))
        }
        #expect(try fake.syncDaemons().map(\.role) == [.master, .backup])
        #expect(
            try fake.syncDaemons()[0].ipvsadmLine
                == "master sync daemon (mcast=eth0, syncid=1, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)")
    }

    @Test("reconcile reaches the desired table through the protocol's default implementation")
    func reconcile() throws {
        let fake = InMemoryIPVSTable()
        var desired = IPVSTable()
        desired.upsert(IPVSService(key: web, scheduler: Scheduler(uncheckedName: "wrr")))
        desired.upsert(
            IPVSDestination(address: IPAddress("10.0.1.1")!, port: 80, forwarding: .gate, weight: 1), in: web)
        #expect(try fake.reconcile(to: desired).count == 2)
        #expect(try fake.reconcile(to: desired).isEmpty)
        #expect(fake.appliedBatches == 1)
    }

    @Test("safe to share between tasks")
    func concurrency() async throws {
        let fake = InMemoryIPVSTable()
        try fake.apply([.addService(IPVSService(key: web, scheduler: Scheduler(uncheckedName: "rr")))])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<10 {
                group.addTask {
                    for index in 0..<100 {
                        try fake.apply([
                            .addDestination(
                                IPVSDestination(
                                    address: .v4(0x0a00_0000 + UInt32(task * 1000 + index + 1)), port: 80,
                                    forwarding: .gate, weight: 1),
                                service: web)
                        ])
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try fake.table().destinationCount == 1000)
    }
}
