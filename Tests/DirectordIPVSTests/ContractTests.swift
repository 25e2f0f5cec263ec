import DirectordCore
import DirectordIPVS
import Testing

/// One rule of the kernel's IPVS table: a table set up, a batch applied, and exactly which
/// operations fail and why. The same cases run against ``InMemoryIPVSTable`` on the host and
/// against the kernel in the lab, which is what makes the fake trustworthy.
struct ContractCase: Sendable, CustomTestStringConvertible {
    var name: String
    var setup: [TableOperation] = []
    var batch: [TableOperation]
    /// The failures, by position in the batch; every other operation must succeed.
    var failures: [Int: IPVSError] = [:]

    var testDescription: String { name }

    /// The table the kernel must hold afterwards: the setup plus every batch operation that
    /// did not fail, taken exactly as asked (the kernel normalises nothing we send).
    func expectedTable() throws -> IPVSTable {
        var table = try IPVSTable().applying(setup)
        for (index, operation) in batch.enumerated() where failures[index] == nil {
            try table.apply(operation)
        }
        return table
    }

    func check(against control: some IPVSControl) throws {
        if !setup.isEmpty { try control.apply(setup) }
        do {
            try control.apply(batch)
            #expect(failures.isEmpty, "expected failures \(failures), the batch succeeded")
        } catch {
            let expected = IPVSError.operationsFailed(
                failures.sorted { $0.key < $1.key }.map {
                    IPVSOperationFailure(index: $0.key, operation: batch[$0.key], error: $0.value)
                },
                attempted: batch.count)
            #expect(error == expected)
        }
        #expect(try control.table() == expectedTable())
    }
}

// MARK: The cases

private let web = ServiceKey.inet(.tcp, IPAddress("10.0.0.1")!, port: 80)
private let web6 = ServiceKey.inet(.tcp, IPAddress("2001:db8::1")!, port: 80)
private let other = ServiceKey.inet(.udp, IPAddress("10.0.0.2")!, port: 53)

private func service(_ key: ServiceKey, _ scheduler: String = "wrr") -> IPVSService {
    IPVSService(key: key, scheduler: Scheduler(uncheckedName: scheduler))
}

private func real(
    _ address: String, _ port: UInt16 = 80, _ forwarding: ForwardingMethod = .gate, weight: Int32 = 1,
    upper: UInt32 = 0, lower: UInt32 = 0
) -> IPVSDestination {
    IPVSDestination(
        address: IPAddress(address)!, port: port, forwarding: forwarding, weight: weight, upperThreshold: upper,
        lowerThreshold: lower)
}

let contractCases: [ContractCase] = [
    // Existence
    ContractCase(
        name: "adding a service twice: serviceExists", setup: [.addService(service(web))],
        batch: [.addService(service(web, "rr"))], failures: [0: .serviceExists(web)]),
    ContractCase(
        name: "editing a missing service: serviceNotFound", batch: [.editService(service(web))],
        failures: [0: .serviceNotFound(web)]),
    ContractCase(
        name: "deleting a missing service: serviceNotFound", batch: [.deleteService(service(web))],
        failures: [0: .serviceNotFound(web)]),
    ContractCase(
        name: "a destination of a missing service: serviceNotFound",
        batch: [
            .addDestination(real("10.0.1.1"), service: web), .editDestination(real("10.0.1.1"), service: web),
            .deleteDestination(real("10.0.1.1"), service: web),
        ],
        failures: [0: .serviceNotFound(web), 1: .serviceNotFound(web), 2: .serviceNotFound(web)]),
    ContractCase(
        name: "adding a destination twice: destinationExists",
        setup: [.addService(service(web)), .addDestination(real("10.0.1.1"), service: web)],
        batch: [.addDestination(real("10.0.1.1", weight: 3), service: web)],
        failures: [0: .destinationExists(real("10.0.1.1").key, service: web)]),
    ContractCase(
        name: "the same address on another port is another destination",
        setup: [.addService(service(web)), .addDestination(real("10.0.1.1"), service: web)],
        batch: [.addDestination(real("10.0.1.1", 8080, .masq), service: web)]),
    ContractCase(
        name: "editing or deleting a missing destination: destinationNotFound", setup: [.addService(service(web))],
        batch: [.editDestination(real("10.0.1.1"), service: web), .deleteDestination(real("10.0.1.1"), service: web)],
        failures: [
            0: .destinationNotFound(real("10.0.1.1").key, service: web),
            1: .destinationNotFound(real("10.0.1.1").key, service: web),
        ]),
    ContractCase(
        name: "deleting a service takes its destinations with it",
        setup: [
            .addService(service(web)), .addDestination(real("10.0.1.1"), service: web),
            .addDestination(real("10.0.1.2"), service: web),
        ],
        batch: [
            .deleteService(service(web)), .addService(service(web)), .addDestination(real("10.0.1.3"), service: web),
        ]),

    // Schedulers
    ContractCase(
        name: "an unknown scheduler: schedulerNotFound", batch: [.addService(service(web, "roundrobin"))],
        failures: [0: .schedulerNotFound("roundrobin", service: web)]),
    ContractCase(
        name: "editing to an unknown scheduler: schedulerNotFound, the service unchanged",
        setup: [.addService(service(web))],
        batch: [.editService(service(web, "nosuch"))], failures: [0: .schedulerNotFound("nosuch", service: web)]),
    ContractCase(
        name: "editing scheduler, flags, persistence and one-packet in place",
        setup: [.addService(service(web)), .addDestination(real("10.0.1.1"), service: web)],
        batch: [
            .editService(
                IPVSService(
                    key: web, scheduler: Scheduler(uncheckedName: "sh"), schedulerFlags: [.flag1, .flag2],
                    persistence: Persistence(timeout: 120, netmask: 0xffff_0000), onePacket: true))
        ]),
    ContractCase(
        name: "scheduler 'none': a service that schedules nothing", batch: [.addService(service(web, "none"))]),
    ContractCase(
        name: "an unknown persistence engine: persistenceEngineNotFound",
        batch: [
            .addService(
                IPVSService(
                    key: web, scheduler: Scheduler(uncheckedName: "rr"),
                    persistence: Persistence(timeout: 60, netmask: 0xffff_ffff), persistenceEngine: "nosuch"))
        ],
        failures: [0: .persistenceEngineNotFound("nosuch", service: web)]),
    ContractCase(
        name: "persistence timeouts from 1 second to ipvsadm's 31-day maximum",
        batch: [
            .addService(
                IPVSService(
                    key: web, scheduler: Scheduler(uncheckedName: "rr"),
                    persistence: Persistence(timeout: 1, netmask: 0xffff_ffff))),
            .addService(
                IPVSService(
                    key: other, scheduler: Scheduler(uncheckedName: "rr"),
                    persistence: Persistence(timeout: 2_678_400, netmask: 0xffff_ffff))),
        ]),
    ContractCase(
        name: "a persistence timeout the kernel would wrap is refused before it sees it",
        batch: [
            .addService(
                IPVSService(
                    key: web, scheduler: Scheduler(uncheckedName: "rr"),
                    persistence: Persistence(timeout: 2_678_401, netmask: 0xffff_ffff))),
            .addService(service(web)),
            .editService(
                IPVSService(
                    key: web, scheduler: Scheduler(uncheckedName: "rr"),
                    persistence: Persistence(timeout: 31_536_000, netmask: 0xffff_ffff))),
        ],
        failures: [
            0: .invalidService(
                IPVSService(
                    key: web, scheduler: Scheduler(uncheckedName: "rr"),
                    persistence: Persistence(timeout: 2_678_401, netmask: 0xffff_ffff)),
                reason: "persistence timeout 2678401 s is above 2678400 s (31 days); the kernel would wrap it"),
            2: .invalidService(
                IPVSService(
                    key: web, scheduler: Scheduler(uncheckedName: "rr"),
                    persistence: Persistence(timeout: 31_536_000, netmask: 0xffff_ffff)),
                reason: "persistence timeout 31536000 s is above 2678400 s (31 days); the kernel would wrap it"),
        ]),
    ContractCase(
        name: "scheduler flags are kept whatever the scheduler",
        batch: [.addService(IPVSService(key: web, scheduler: Scheduler(uncheckedName: "rr"), schedulerFlags: [.flag3]))]
    ),

    // Weights and thresholds
    ContractCase(
        name: "weights 0, 65535 and the largest int are accepted", setup: [.addService(service(web))],
        batch: [
            .addDestination(real("10.0.1.1", weight: 0), service: web),
            .addDestination(real("10.0.1.2", weight: 65535), service: web),
            .addDestination(real("10.0.1.3", weight: Int32.max), service: web),
        ]),
    ContractCase(
        name: "a negative weight: weightOutOfRange, adding or editing",
        setup: [.addService(service(web)), .addDestination(real("10.0.1.1"), service: web)],
        batch: [
            .addDestination(real("10.0.1.2", weight: -1), service: web),
            .editDestination(real("10.0.1.1", weight: -5), service: web),
        ],
        failures: [
            0: .weightOutOfRange(-1, destination: real("10.0.1.2").key, service: web),
            1: .weightOutOfRange(-5, destination: real("10.0.1.1").key, service: web),
        ]),
    ContractCase(
        name: "thresholds: lower above upper is refused, even with upper 0 (no limit)",
        setup: [.addService(service(web))],
        batch: [
            .addDestination(real("10.0.1.1", upper: 10, lower: 20), service: web),
            .addDestination(real("10.0.1.2", upper: 0, lower: 5), service: web),
            .addDestination(real("10.0.1.3", upper: 5, lower: 5), service: web),
            .addDestination(real("10.0.1.4", upper: 100, lower: 0), service: web),
            .addDestination(real("10.0.1.5", upper: UInt32(Int32.max), lower: 1), service: web),
        ],
        failures: [
            0: .thresholdsOutOfOrder(lower: 20, upper: 10, destination: real("10.0.1.1").key, service: web),
            1: .thresholdsOutOfOrder(lower: 5, upper: 0, destination: real("10.0.1.2").key, service: web),
        ]),
    ContractCase(
        name:
            "an upper threshold above 2^31-1 is refused before the order is checked; a lower one is only out of order",
        setup: [.addService(service(web)), .addDestination(real("10.0.1.9"), service: web)],
        batch: [
            .addDestination(real("10.0.1.1", upper: 3_000_000_000, lower: 5), service: web),
            .addDestination(real("10.0.1.2", upper: 5, lower: 3_000_000_000), service: web),
            .addDestination(real("10.0.1.3", upper: 0, lower: 2_147_483_648), service: web),
            .editDestination(real("10.0.1.9", upper: UInt32.max), service: web),
        ],
        failures: [
            0: .invalidDestination(
                real("10.0.1.1", upper: 3_000_000_000, lower: 5), service: web,
                reason: "upper threshold 3000000000 is above 2147483647"),
            1: .thresholdsOutOfOrder(lower: 3_000_000_000, upper: 5, destination: real("10.0.1.2").key, service: web),
            2: .thresholdsOutOfOrder(lower: 2_147_483_648, upper: 0, destination: real("10.0.1.3").key, service: web),
            3: .invalidDestination(
                real("10.0.1.9", upper: UInt32.max), service: web,
                reason: "upper threshold 4294967295 is above 2147483647"),
        ]),
    ContractCase(
        name: "editing forwarding, weight and thresholds in place",
        setup: [.addService(service(web)), .addDestination(real("10.0.1.1"), service: web)],
        batch: [.editDestination(real("10.0.1.1", 80, .masq, weight: 9, upper: 50, lower: 10), service: web)]),

    // Addresses and families
    ContractCase(
        name: "IPv6 persistence prefix lengths outside 1...128 are refused",
        batch: [
            .addService(
                IPVSService(
                    key: web6, scheduler: Scheduler(uncheckedName: "rr"),
                    persistence: Persistence(timeout: 60, netmask: 0))),
            .addService(
                IPVSService(
                    key: web6, scheduler: Scheduler(uncheckedName: "rr"),
                    persistence: Persistence(timeout: 60, netmask: 129))),
            .addService(
                IPVSService(
                    key: web6, scheduler: Scheduler(uncheckedName: "rr"),
                    persistence: Persistence(timeout: 60, netmask: 1))),
            .editService(
                IPVSService(
                    key: web6, scheduler: Scheduler(uncheckedName: "rr"),
                    persistence: Persistence(timeout: 60, netmask: 128))),
        ],
        failures: [
            0: .invalidService(
                IPVSService(
                    key: web6, scheduler: Scheduler(uncheckedName: "rr"),
                    persistence: Persistence(timeout: 60, netmask: 0)),
                reason: "IPv6 persistence prefix length 0 is outside 1 to 128"),
            1: .invalidService(
                IPVSService(
                    key: web6, scheduler: Scheduler(uncheckedName: "rr"),
                    persistence: Persistence(timeout: 60, netmask: 129)),
                reason: "IPv6 persistence prefix length 129 is outside 1 to 128"),
        ]),
    ContractCase(
        name: "an IPv4 persistence netmask is not checked",
        batch: [
            .addService(
                IPVSService(
                    key: web, scheduler: Scheduler(uncheckedName: "rr"),
                    persistence: Persistence(timeout: 1, netmask: 0x00ff_00ff)))
        ]),
    ContractCase(
        name: "addresses that are not unicast are refused as destinations",
        setup: [.addService(service(web)), .addService(service(web6))],
        batch: [
            .addDestination(real("224.0.0.1"), service: web), .addDestination(real("0.0.0.0"), service: web),
            .addDestination(real("255.255.255.255"), service: web), .addDestination(real("ff02::1"), service: web6),
            .addDestination(real("::"), service: web6), .addDestination(real("fe80::1"), service: web6),
            .addDestination(real("127.0.0.1"), service: web), .addDestination(real("::1"), service: web6),
            .addDestination(real("2001:db8::2"), service: web6),
        ],
        failures: [
            0: .invalidDestination(
                real("224.0.0.1"), service: web,
                reason: "224.0.0.1 is not a unicast address (multicast, broadcast, unspecified or link-local)"),
            1: .invalidDestination(
                real("0.0.0.0"), service: web,
                reason: "0.0.0.0 is not a unicast address (multicast, broadcast, unspecified or link-local)"),
            2: .invalidDestination(
                real("255.255.255.255"), service: web,
                reason: "255.255.255.255 is not a unicast address (multicast, broadcast, unspecified or link-local)"),
            3: .invalidDestination(
                real("ff02::1"), service: web6,
                reason: "ff02::1 is not a unicast address (multicast, broadcast, unspecified or link-local)"),
            4: .invalidDestination(
                real("::"), service: web6,
                reason: ":: is not a unicast address (multicast, broadcast, unspecified or link-local)"),
            5: .invalidDestination(
                real("fe80::1"), service: web6,
                reason: "fe80::1 is not a unicast address (multicast, broadcast, unspecified or link-local)"),
        ]),
    ContractCase(
        name: "a destination of the other family only by tunnelling",
        setup: [.addService(service(web)), .addService(service(web6))],
        batch: [
            .addDestination(real("2001:db8::2", 80, .masq), service: web),
            .addDestination(real("2001:db8::2", 80, .ipip), service: web),
            .addDestination(real("10.0.1.1", 80, .gate), service: web6),
            .addDestination(real("10.0.1.1", 80, .ipip), service: web6),
        ],
        failures: [
            0: .invalidDestination(
                real("2001:db8::2", 80, .masq), service: web,
                reason: "an IPv6 destination in an IPv4 service needs tunnelling (ipip)"),
            2: .invalidDestination(
                real("10.0.1.1", 80, .gate), service: web6,
                reason: "an IPv4 destination in an IPv6 service needs tunnelling (ipip)"),
        ]),

    // Ports and flags only ipvsadm refuses
    ContractCase(
        name: "port 0 without persistence is accepted (only ipvsadm refuses it)",
        batch: [
            .addService(service(.inet(.tcp, IPAddress("10.0.0.5")!, port: 0), "rr")),
            .addDestination(real("10.0.1.1", 0), service: .inet(.tcp, IPAddress("10.0.0.5")!, port: 0)),
        ]),
    ContractCase(
        name: "port 0 with persistence: one service for every port, destinations on any port",
        batch: [
            .addService(
                IPVSService(
                    key: .inet(.tcp, IPAddress("10.0.0.5")!, port: 0), scheduler: Scheduler(uncheckedName: "wlc"),
                    persistence: Persistence(timeout: 360, netmask: 0xffff_ffff))),
            .addDestination(real("10.0.1.1", 0, .gate), service: .inet(.tcp, IPAddress("10.0.0.5")!, port: 0)),
            .addDestination(real("10.0.1.2", 8080, .masq), service: .inet(.tcp, IPAddress("10.0.0.5")!, port: 0)),
        ]),
    ContractCase(
        name: "direct routing to a port other than the service's is stored as asked (only ipvsadm rewrites it)",
        setup: [.addService(service(web))],
        batch: [
            .addDestination(real("10.0.1.1", 8080, .gate), service: web),
            .addDestination(real("10.0.1.2", 9090, .ipip), service: web),
        ]),
    ContractCase(
        name: "one-packet scheduling on TCP is accepted (only ipvsadm refuses it)",
        batch: [.addService(IPVSService(key: web, scheduler: Scheduler(uncheckedName: "rr"), onePacket: true))]),
    ContractCase(
        name: "firewall-mark services of both families, SCTP, and a huge mark",
        batch: [
            .addService(service(.firewallMark(1, .ipv4))), .addService(service(.firewallMark(1, .ipv6))),
            .addService(service(.firewallMark(4_000_000_000, .ipv4))),
            .addService(service(.inet(.sctp, IPAddress("10.0.0.9")!, port: 3868))),
            .addDestination(real("2001:db8::5", 0, .masq), service: .firewallMark(1, .ipv6)),
            .addDestination(real("10.0.1.5", 3868, .masq), service: .inet(.sctp, IPAddress("10.0.0.9")!, port: 3868)),
        ]),

    ContractCase(
        name: "firewall mark 0 is refused before the kernel sees it",
        setup: [.addService(service(web))],
        batch: [
            .addService(service(.firewallMark(0, .ipv4))),
            .addDestination(real("10.0.1.1"), service: .firewallMark(0, .ipv6)),
            .addDestination(real("10.0.1.1"), service: web),
        ],
        failures: [
            0: .invalidService(
                service(.firewallMark(0, .ipv4)),
                reason: "firewall mark 0 is not a mark (the kernel would make the service TCP 0.0.0.0:0)"),
            1: .invalidDestination(
                real("10.0.1.1"), service: .firewallMark(0, .ipv6),
                reason: "firewall mark 0 is not a mark (the kernel would make the service TCP 0.0.0.0:0)"),
        ]),

    // Batches
    ContractCase(
        name: "a batch goes on after a failure and reports each failure by position",
        batch: [
            .addService(service(web)), .addService(service(web)), .addDestination(real("10.0.1.1"), service: web),
            .addDestination(real("10.0.1.2"), service: other), .addDestination(real("10.0.1.2"), service: web),
            .deleteDestination(real("10.0.1.9"), service: web),
        ],
        failures: [
            1: .serviceExists(web), 3: .serviceNotFound(other),
            5: .destinationNotFound(real("10.0.1.9").key, service: web),
        ]),
]

@Suite("Contract: the in-memory fake keeps the kernel's rules")
struct FakeContractTests {
    @Test(arguments: contractCases)
    func fake(_ contract: ContractCase) throws {
        try contract.check(against: InMemoryIPVSTable())
    }
}

@Suite("Kernel: the contract holds against the kernel", .tags(.kernel), .enabled(if: Lab.isGuest, Lab.skipReason))
struct KernelContractTests {
    @Test(arguments: contractCases)
    func kernel(_ contract: ContractCase) throws {
        try withNamespace { namespace in
            try contract.check(against: namespace.client())
        }
    }
}
