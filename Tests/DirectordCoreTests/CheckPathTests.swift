import DirectordCore
import Testing

/// `checkpath=forwarding` as a specification: the private services the table holds for the
/// checks, and the checks that use them.
@Suite("Checks through the forwarding path")
struct CheckPathTests {
    static let vip = HealthPolicyTests.vip
    static let base = DirectorState.checkPathMarkBase

    static func state(_ lines: [String]) throws -> DirectorState {
        let configuration = try testParser.configuration(from: lines.joined(separator: "\n"), file: "c.cf").0
        return DirectorState(configuration: configuration, observed: IPVSTable())
    }

    static let file = [
        "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate 5", "\treal=10.0.0.2:80 ipip 7", "\treal=10.0.0.3:80 masq",
        "\tservice=http", "\tcheckpath=forwarding", "virtual=\(base)", "\treal=10.0.0.1:80 gate", "\tservice=http",
    ]

    @Test("each gate and ipip real server gets a private firewall-mark service of its own, always in the table")
    func privateServices() throws {
        let state = try Self.state(Self.file)
        // The file's own mark is skipped.
        #expect(state.checkPaths == [HealthPolicyTests.ref(1): Self.base + 1, HealthPolicyTests.ref(2): Self.base + 2])
        let table = state.desiredTable()
        let first = try #require(table[.firewallMark(Self.base + 1, .ipv4)])
        #expect(first.service.scheduler.rawValue == "rr")
        #expect(
            first.destinations.map { "\($0.address):\($0.port) \($0.forwarding) \($0.weight)" } == [
                "10.0.0.1:80 gate 1"
            ])
        #expect(table[.firewallMark(Self.base + 2, .ipv4)]?.destinations.map(\.forwarding) == [.ipip])
        // No real server has passed a check yet: the paths are there all the same.
        #expect(table[Self.vip]?.destinations.isEmpty == true)
        let plan = state.reconcile(phase: .start)
        #expect(
            plan.events.map(\.message).contains(
                "Check path \(Self.base + 1): added for real server 10.0.0.1:80 (10.0.0.10:80)"))
    }

    @Test("their checks connect to the virtual address with the mark; others go directly")
    func checksCarryThePath() throws {
        let checks = try Self.state(Self.file).scheduledChecks
        let paths = checks.map { ($0.realServers.map(\.destination.address.description), $0.check.forwardingPath) }
        #expect(
            paths.first { $0.0 == ["10.0.0.1"] && $0.1 != nil }?.1
                == ForwardingPath(virtualAddress: IPAddress("10.0.0.10")!, mark: Self.base + 1))
        #expect(paths.first { $0.0 == ["10.0.0.3"] }?.1 == nil)
        // The same real server in the mark service is checked directly, apart.
        #expect(
            checks.filter { $0.realServers.contains { $0.service == .firewallMark(Self.base, .ipv4) } }.allSatisfy {
                $0.check.forwardingPath == nil
            })
    }

    @Test("a reload that drops the real server drops its path; a stop removes every path whatever cleanstop")
    func reloadAndStop() throws {
        var state = try Self.state(Self.file + ["cleanstop=no"])
        state.commit(state.takeReconciliation(phase: .start))
        #expect(state.observed[.firewallMark(Self.base + 2, .ipv4)] != nil)
        let without = Self.file.filter { !$0.contains("10.0.0.2") }
        state.reload(
            try testParser.configuration(from: (without + ["cleanstop=no"]).joined(separator: "\n"), file: "c.cf").0)
        state.commit(state.takeReconciliation(phase: .start))
        #expect(state.observed[.firewallMark(Self.base + 2, .ipv4)] == nil)
        #expect(state.observed[.firewallMark(Self.base + 1, .ipv4)] != nil)
        let stop = state.shutdown()
        #expect(
            stop.operations == [
                .deleteService(
                    IPVSService(key: .firewallMark(Self.base + 1, .ipv4), scheduler: Scheduler(uncheckedName: "rr")))
            ])
    }
}
