import DirectordCore
import DirectordTestSupport
import Testing

private func service(_ key: ServiceKey, _ scheduler: String = "wrr", persistence: Persistence? = nil) -> IPVSService {
    IPVSService(key: key, scheduler: Scheduler(uncheckedName: scheduler), persistence: persistence)
}

private func real(_ address: String, _ port: UInt16 = 80, weight: Int32 = 1, _ forwarding: ForwardingMethod = .gate)
    -> IPVSDestination
{
    IPVSDestination(address: IPAddress(address)!, port: port, forwarding: forwarding, weight: weight)
}

private let web = ServiceKey.inet(.tcp, IPAddress("10.0.0.1")!, port: 80)
private let dns = ServiceKey.inet(.udp, IPAddress("10.0.0.1")!, port: 53)
private let mark = ServiceKey.firewallMark(3, .ipv4)

private func table(_ entries: [(IPVSService, [IPVSDestination])]) -> IPVSTable {
    IPVSTable(entries.map { IPVSTable.Entry(service: $0.0, destinations: $0.1) })
}

@Suite("TableDiff: the operations between two tables")
struct TableDiffTests {
    @Test("equal tables need nothing, whatever order they were built in")
    func equal() {
        let a = table([(service(web), [real("10.0.1.1"), real("10.0.1.2")]), (service(dns), [])])
        let b = table([(service(dns), []), (service(web), [real("10.0.1.2"), real("10.0.1.1")])])
        #expect(a == b)
        #expect(TableDiff.diff(from: a, to: b).isEmpty)
    }

    @Test("from empty: each service in key order, followed by its destinations in address order")
    func fromEmpty() {
        let desired = table([
            (service(mark), [real("10.0.3.1", 0)]), (service(web), [real("10.0.1.2"), real("10.0.1.1")]),
            (service(dns), []),
        ])
        #expect(
            TableDiff.diff(from: IPVSTable(), to: desired) == [
                .addService(service(web)), .addDestination(real("10.0.1.1"), service: web),
                .addDestination(real("10.0.1.2"), service: web),
                .addService(service(dns)),
                .addService(service(mark)), .addDestination(real("10.0.3.1", 0), service: mark),
            ])
    }

    @Test("to empty: each service deleted once, its destinations with it")
    func toEmpty() {
        let observed = table([
            (service(web), [real("10.0.1.1"), real("10.0.1.2")]), (service(dns), [real("10.0.2.1", 53)]),
        ])
        #expect(
            TableDiff.diff(from: observed, to: IPVSTable()) == [
                .deleteService(service(web)), .deleteService(service(dns)),
            ])
    }

    @Test("a changed scheduler, persistence or flag edits the service in place; its destinations stay untouched")
    func editService() {
        let observed = table([(service(web), [real("10.0.1.1")])])
        for changed in [
            service(web, "rr"), service(web, persistence: Persistence(timeout: 300, netmask: 0xffff_ffff)),
            IPVSService(key: web, scheduler: Scheduler(uncheckedName: "wrr"), onePacket: true),
            IPVSService(key: web, scheduler: Scheduler(uncheckedName: "wrr"), schedulerFlags: [.flag1]),
        ] {
            #expect(
                TableDiff.diff(from: observed, to: table([(changed, [real("10.0.1.1")])])) == [.editService(changed)])
        }
    }

    @Test("a changed weight, forwarding or threshold edits the destination in place")
    func editDestination() {
        let observed = table([(service(web), [real("10.0.1.1")])])
        for changed in [
            real("10.0.1.1", weight: 0), real("10.0.1.1", 80, .masq),
            IPVSDestination(address: IPAddress("10.0.1.1")!, port: 80, forwarding: .gate, weight: 1, upperThreshold: 9),
        ] {
            #expect(
                TableDiff.diff(from: observed, to: table([(service(web), [changed])])) == [
                    .editDestination(changed, service: web)
                ])
        }
    }

    @Test("a destination on another port is another destination")
    func portIsIdentity() {
        let observed = table([(service(web), [real("10.0.1.1", 80)])])
        let desired = table([(service(web), [real("10.0.1.1", 8080)])])
        #expect(
            TableDiff.diff(from: observed, to: desired) == [
                .addDestination(real("10.0.1.1", 8080), service: web),
                .deleteDestination(real("10.0.1.1", 80), service: web),
            ])
    }

    @Test(
        "order: new services, then per kept service edit, adds, edits, deletes (make before break), then deleted services"
    )
    func order() {
        let gone = ServiceKey.inet(.tcp, IPAddress("10.0.0.9")!, port: 80)
        let observed = table([
            (service(web), [real("10.0.1.1"), real("10.0.1.2"), real("10.0.1.3")]),
            (service(gone), [real("10.0.9.1")]),
        ])
        let desired = table([
            (service(web, "wlc"), [real("10.0.1.1", weight: 5), real("10.0.1.4"), real("10.0.1.3")]),
            (service(dns), [real("10.0.2.1", 53)]),
        ])
        #expect(
            TableDiff.diff(from: observed, to: desired) == [
                .addService(service(dns)), .addDestination(real("10.0.2.1", 53), service: dns),
                .editService(service(web, "wlc")),
                .addDestination(real("10.0.1.4"), service: web),
                .editDestination(real("10.0.1.1", weight: 5), service: web),
                .deleteDestination(real("10.0.1.2"), service: web),
                .deleteService(service(gone)),
            ])
    }

    @Test("a service of the same address and port under another protocol or family is another service")
    func keys() {
        let tcp6 = ServiceKey.inet(.tcp, IPAddress("::ffff:10.0.0.1")!, port: 80)
        let observed = table([(service(web), [])])
        let desired = table([(service(.inet(.udp, IPAddress("10.0.0.1")!, port: 80)), []), (service(tcp6), [])])
        let operations = TableDiff.diff(from: observed, to: desired)
        #expect(operations.count == 3)
        #expect(operations.last == .deleteService(service(web)))
    }

    static func randomTable(_ generator: inout SplitMix64) -> IPVSTable {
        let keys: [ServiceKey] = [
            web, dns, mark, .firewallMark(3, .ipv6), .inet(.tcp, IPAddress("2001:db8::1")!, port: 443),
            .inet(.tcp, IPAddress("10.0.0.2")!, port: 0),
        ]
        var table = IPVSTable()
        for key in keys where Bool.random(using: &generator) {
            let scheduler = ["rr", "wrr", "sh"].randomElement(using: &generator)!
            let persistence: Persistence? =
                Bool.random(using: &generator)
                ? Persistence(
                    timeout: UInt32.random(in: 1...900, using: &generator),
                    netmask: key.family == .ipv4 ? 0xffff_ff00 : 64) : nil
            table.upsert(
                IPVSService(
                    key: key, scheduler: Scheduler(uncheckedName: scheduler), persistence: persistence,
                    onePacket: Bool.random(using: &generator)))
            for host in 1...6 where Bool.random(using: &generator) {
                let address: IPAddress =
                    key.family == .ipv4
                    ? .v4(0x0a01_0000 + UInt32(host)) : .v6(high: 0x2001_0db8_0000_0000, low: UInt64(host))
                table.upsert(
                    IPVSDestination(
                        address: address, port: [80, 8080].randomElement(using: &generator)!,
                        forwarding: [.gate, .masq, .ipip].randomElement(using: &generator)!,
                        weight: Int32.random(in: 0...3, using: &generator),
                        upperThreshold: UInt32.random(in: 0...1, using: &generator) * 100), in: key)
            }
        }
        return table
    }

    @Test(
        "for 500 random pairs: the diff, applied by the kernel's rules, gives the desired table, and is minimal",
        arguments: 0..<5)
    func randomPairs(seed: UInt64) throws {
        var generator = SplitMix64(state: seed)
        for _ in 0..<100 {
            let observed = Self.randomTable(&generator)
            let desired = Self.randomTable(&generator)
            let operations = TableDiff.diff(from: observed, to: desired)
            #expect(try observed.applying(operations) == desired)

            let fake = InMemoryIPVSTable(table: observed)
            try fake.apply(operations)
            #expect(try fake.table() == desired)

            // Minimal: one operation per service or destination that differs, none for the
            // destinations of a deleted service.
            var needed = 0
            for entry in desired.entries {
                guard let current = observed[entry.service.key] else {
                    needed += 1 + entry.destinationCount
                    continue
                }
                if current.service != entry.service { needed += 1 }
                let keys = Set(current.destinations.map(\.key)).union(entry.destinations.map(\.key))
                needed += keys.filter { current[destination: $0] != entry[destination: $0] }.count
            }
            needed += observed.entries.filter { desired[$0.service.key] == nil }.count
            #expect(operations.count == needed)
            #expect(TableDiff.diff(from: desired, to: desired).isEmpty)
        }
    }
}
