import DirectordCore
import FoundationEssentials
import Testing

private let web = ServiceKey.inet(.tcp, IPAddress("10.0.0.1")!, port: 80)

@Suite("IPVSTable, snapshots and operations as values")
struct IPVSTableTests {
    @Test("counters are not part of the table: a dumped snapshot compares equal to a desired table")
    func snapshotTable() {
        let service = IPVSService(key: web, scheduler: Scheduler(uncheckedName: "wrr"))
        let destination = IPVSDestination(address: IPAddress("10.0.1.1")!, port: 80, forwarding: .gate, weight: 1)
        let snapshot = IPVSSnapshot(
            info: IPVSInfo(version: 0x010201, connectionTableSize: 4096),
            services: [
                IPVSSnapshot.Service(
                    service, statistics: IPVSStatistics(connections: 99, incomingBytes: 1 << 40),
                    destinations: [
                        IPVSSnapshot.Destination(
                            destination, connections: IPVSConnectionCounts(active: 5, inactive: 7, persistent: 2))
                    ])
            ])
        var desired = IPVSTable()
        desired.upsert(service)
        desired.upsert(destination, in: web)
        #expect(snapshot.table == desired)
        #expect(Set([snapshot.table, desired]).count == 1)
    }

    @Test("upsert, remove and lookups")
    func building() {
        var table = IPVSTable()
        #expect(table.isEmpty)
        let orphan = table.upsert(
            IPVSDestination(address: IPAddress("10.0.1.1")!, port: 80, forwarding: .gate, weight: 1), in: web)
        #expect(!orphan)
        table.upsert(IPVSService(key: web, scheduler: Scheduler(uncheckedName: "rr")))
        let first = table.upsert(
            IPVSDestination(address: IPAddress("10.0.1.2")!, port: 80, forwarding: .gate, weight: 1), in: web)
        let second = table.upsert(
            IPVSDestination(address: IPAddress("10.0.1.1")!, port: 80, forwarding: .gate, weight: 1), in: web)
        #expect(first && second)
        // Replacing the service's attributes keeps its destinations.
        table.upsert(IPVSService(key: web, scheduler: Scheduler(uncheckedName: "wlc")))
        #expect(table[web]?.service.scheduler.rawValue == "wlc")
        #expect(table.destinations(of: web).map(\.address) == [IPAddress("10.0.1.1")!, IPAddress("10.0.1.2")!])
        #expect(table.serviceCount == 1 && table.destinationCount == 2)
        let removed = table.removeDestination(IPVSDestination.Key(address: IPAddress("10.0.1.1")!, port: 80), from: web)
        let again = table.removeDestination(IPVSDestination.Key(address: IPAddress("10.0.1.1")!, port: 80), from: web)
        #expect(removed != nil && again == nil)
        let entry = table.removeService(web)
        #expect(entry?.destinationCount == 1)
        #expect(table.isEmpty)
    }

    @Test("applying follows the kernel's existence rules")
    func applying() throws {
        let service = IPVSService(key: web, scheduler: Scheduler(uncheckedName: "rr"))
        let destination = IPVSDestination(address: IPAddress("10.0.1.1")!, port: 80, forwarding: .gate, weight: 1)
        #expect(throws: IPVSError.serviceNotFound(web)) { try IPVSTable().applying([.editService(service)]) }
        #expect(throws: IPVSError.serviceNotFound(web)) {
            try IPVSTable().applying([.addDestination(destination, service: web)])
        }
        let table = try IPVSTable().applying([.addService(service), .addDestination(destination, service: web)])
        #expect(throws: IPVSError.serviceExists(web)) { try table.applying([.addService(service)]) }
        #expect(throws: IPVSError.destinationExists(destination.key, service: web)) {
            try table.applying([.addDestination(destination, service: web)])
        }
        #expect(
            throws: IPVSError.destinationNotFound(
                IPVSDestination.Key(address: IPAddress("10.0.1.9")!, port: 80), service: web)
        ) {
            try table.applying([
                .deleteDestination(
                    IPVSDestination(address: IPAddress("10.0.1.9")!, port: 80, forwarding: .gate, weight: 1),
                    service: web)
            ])
        }
        #expect(try table.applying([.deleteService(service)]).isEmpty)
    }

    @Test("JSON: a table and a snapshot round-trip, services in canonical order")
    func json() throws {
        var table = IPVSTable()
        let mark = ServiceKey.firewallMark(7, .ipv6)
        table.upsert(IPVSService(key: mark, scheduler: Scheduler(uncheckedName: "sh"), schedulerFlags: [.flag2]))
        table.upsert(
            IPVSService(
                key: web, scheduler: Scheduler(uncheckedName: "wrr"),
                persistence: Persistence(timeout: 300, netmask: 0xffff_ff00)))
        table.upsert(
            IPVSDestination(
                address: IPAddress("10.0.1.1")!, port: 80, forwarding: .masq, weight: 3, upperThreshold: 10,
                lowerThreshold: 2), in: web)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(table)
        #expect(try JSONDecoder().decode(IPVSTable.self, from: data) == table)
        let text = String(decoding: data, as: UTF8.self)
        #expect(
            text.hasPrefix(
                #"{"services":[{"destinations":[{"address":"10.0.1.1","forwarding":"masq","lowerThreshold":2,"port":80,"upperThreshold":10,"weight":3}],"service":{"key":{"address":"10.0.0.1","port":80,"protocol":"tcp"},"onePacket":false,"persistence":{"netmask":4294967040,"timeout":300}"#
            ))

        let snapshot = IPVSSnapshot(
            info: IPVSInfo(version: 0x010201, connectionTableSize: 4096),
            services: [IPVSSnapshot.Service(table.services[0], statistics: IPVSStatistics(connections: 5))])
        #expect(try JSONDecoder().decode(IPVSSnapshot.self, from: encoder.encode(snapshot)) == snapshot)

        let operations: [TableOperation] = [
            .addService(table.services[1]), .deleteDestination(table.destinations(of: web)[0], service: web),
        ]
        #expect(try JSONDecoder().decode([TableOperation].self, from: encoder.encode(operations)) == operations)
    }

    @Test("ServiceKey order is ipvsadm's: families, then protocols, then marks")
    func keyOrder() {
        let keys: [ServiceKey] = [
            .firewallMark(2, .ipv4), .firewallMark(1, .ipv6), .inet(.udp, IPAddress("2001:db8::1")!, port: 53),
            .inet(.tcp, IPAddress("2001:db8::1")!, port: 80), .inet(.sctp, IPAddress("10.0.0.1")!, port: 1),
            .inet(.udp, IPAddress("10.0.0.1")!, port: 53), .inet(.tcp, IPAddress("10.0.0.2")!, port: 80),
            .inet(.tcp, IPAddress("10.0.0.1")!, port: 443), .inet(.tcp, IPAddress("10.0.0.1")!, port: 80),
            .firewallMark(1, .ipv4),
        ]
        #expect(
            keys.sorted().map(\.listingName) == [
                "TCP 10.0.0.1:80", "TCP 10.0.0.1:443", "TCP 10.0.0.2:80", "UDP 10.0.0.1:53", "SCTP 10.0.0.1:1",
                "TCP [2001:db8::1]:80", "UDP [2001:db8::1]:53", "FWM 1", "FWM 1 IPv6", "FWM 2",
            ])
    }

    @Test("operations read as log lines")
    func descriptions() {
        let service = IPVSService(
            key: web, scheduler: Scheduler(uncheckedName: "sh"), schedulerFlags: [.flag1],
            persistence: Persistence(timeout: 300, netmask: 0xffff_ff00))
        let destination = IPVSDestination(
            address: IPAddress("2001:db8::2")!, port: 80, forwarding: .ipip, weight: 0, upperThreshold: 100,
            lowerThreshold: 10)
        #expect(
            TableOperation.addService(service).description
                == "add service TCP 10.0.0.1:80 sh (sh-fallback) persistent 300 mask 255.255.255.0")
        #expect(TableOperation.deleteService(service).description == "delete service TCP 10.0.0.1:80")
        #expect(
            TableOperation.addDestination(destination, service: web).description
                == "add destination [2001:db8::2]:80 (Tunnel, weight 0, thresholds 10-100) to TCP 10.0.0.1:80")
        #expect(
            TableOperation.deleteDestination(destination, service: .firewallMark(7, .ipv6)).description
                == "delete destination [2001:db8::2]:80 from FWM 7 IPv6")
    }

    @Test("errors say what went wrong in words")
    func errorMessages() {
        let destination = IPVSDestination.Key(address: IPAddress("10.0.0.1")!, port: 80)
        let service = ServiceKey.inet(.tcp, IPAddress("10.0.0.10")!, port: 80)
        #expect(
            IPVSError.familyMissing.description
                == "the IPVS generic netlink family is missing: load the ip_vs kernel module (modprobe ip_vs)")
        #expect(
            IPVSError.destinationExists(destination, service: service).description
                == "destination 10.0.0.1:80 already exists in TCP 10.0.0.10:80")
        #expect(IPVSError.serviceNotFound(service).description == "virtual service TCP 10.0.0.10:80 does not exist")
        #expect(
            IPVSError.schedulerNotFound("roundrobin", service: service).description
                == "virtual service TCP 10.0.0.10:80: the kernel has no scheduler 'roundrobin' (module ip_vs_roundrobin is not loaded or does not exist; try modprobe ip_vs_roundrobin)"
        )
        #expect(
            IPVSError.thresholdsOutOfOrder(lower: 5, upper: 0, destination: destination, service: service).description
                == "destination 10.0.0.1:80 in TCP 10.0.0.10:80: lower threshold 5 is above upper threshold 0")
        let batch = IPVSError.operationsFailed(
            [
                IPVSOperationFailure(
                    index: 2,
                    operation: .deleteService(IPVSService(key: service, scheduler: Scheduler(uncheckedName: "rr"))),
                    error: .serviceNotFound(service))
            ],
            attempted: 3)
        #expect(
            batch.description
                == "1 of 3 IPVS operations failed:\n  operation 3 (delete service TCP 10.0.0.10:80): virtual service TCP 10.0.0.10:80 does not exist"
        )
    }

    @Test("directord refuses what the kernel would silently mangle")
    func refusals() {
        let markZero = IPVSService(key: .firewallMark(0, .ipv4), scheduler: Scheduler(uncheckedName: "rr"))
        #expect(TableOperation.addService(markZero).refusal != nil)
        #expect(TableOperation.deleteService(markZero).refusal != nil)
        let long = IPVSService(
            key: web, scheduler: Scheduler(uncheckedName: "rr"),
            persistence: Persistence(timeout: 2_678_401, netmask: 0xffff_ffff))
        #expect(TableOperation.addService(long).refusal != nil)
        #expect(TableOperation.deleteService(long).refusal == nil)
        let month = IPVSService(
            key: web, scheduler: Scheduler(uncheckedName: "rr"),
            persistence: Persistence(timeout: 2_678_400, netmask: 0xffff_ffff))
        #expect(TableOperation.editService(month).refusal == nil)
    }
}
