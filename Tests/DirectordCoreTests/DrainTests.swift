import DirectordCore
import Foundation
import Testing

/// The operator's own weight edits, as a specification: `ipvsadm -e ... -w 0` on a managed real
/// server is kept as a drain, not repaired; the rules of DirectorState+Drains.
@Suite("Drains")
struct DrainTests {
    typealias S = DirectorStateTests
    static let lines = [
        "fallback=127.0.0.1:80", "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate 5", "\treal=10.0.0.2:80 gate 3",
        "\tservice=http",
    ]

    /// Both real servers up and in the kernel at their weights.
    static func running(_ extra: [String] = []) throws -> (DirectorState, IPVSTable) {
        let configuration = try testParser.configuration(from: (extra + lines).joined(separator: "\n"), file: "d").0
        var table = IPVSTable()
        var state = DirectorState(configuration: configuration, observed: table)
        _ = try S.settle(&state, &table, phase: .start)
        _ = state.record(S.up, for: [S.ref("10.0.0.1"), S.ref("10.0.0.2")])
        _ = try S.settle(&state, &table)
        return (state, table)
    }

    static func weight(_ table: IPVSTable, _ address: String) -> Int32? {
        table[S.vip]?[destination: S.dest(address)]?.weight
    }

    static func setWeight(_ table: inout IPVSTable, _ address: String, _ weight: Int32) {
        table.upsert(
            IPVSDestination(address: IPAddress(address)!, port: 80, forwarding: .gate, weight: weight), in: S.vip)
    }

    @Test("a weight set to 0 with ipvsadm is kept, logged once, and shown in status")
    func operatorDrainKept() throws {
        var (state, table) = try Self.running()
        Self.setWeight(&table, "10.0.0.1", 0)
        #expect(
            state.observe(table).map(\.message) == [
                "Drained real server: 10.0.0.1:80 (10.0.0.10:80) (Weight set to 0 outside directord: kept until it gets a weight again)"
            ])
        #expect(state.reconcile(phase: .repair).operations.isEmpty)
        #expect(state.isDrained(S.ref("10.0.0.1")))
        // Later reads and passing checks change nothing, and say nothing again.
        #expect(state.observe(table).isEmpty)
        _ = state.record(S.up, for: [S.ref("10.0.0.1")])
        #expect(try S.settle(&state, &table).isEmpty)
        #expect(Self.weight(table, "10.0.0.1") == 0)
        let report = state.statusReport(pid: 1, configuration: "d", daemonStatus: "running")
        #expect(report.virtualServices[0].realServers[0].drained == "weight 0 set outside directord")
        #expect(report.text.contains("10.0.0.1:80  up (weight 0, drained: weight 0 set outside directord)"))
    }

    @Test("a weight given back with ipvsadm ends the drain; the configured weight returns")
    func operatorUndrain() throws {
        var (state, table) = try Self.running()
        Self.setWeight(&table, "10.0.0.1", 0)
        state.observe(table)
        Self.setWeight(&table, "10.0.0.1", 2)
        #expect(
            state.observe(table).map(\.message) == [
                "Undrained real server: 10.0.0.1:80 (10.0.0.10:80) (given a weight outside directord)"
            ])
        #expect(!state.isDrained(S.ref("10.0.0.1")))
        // Any other weight is repaired, as before: only 0 is taken as the operator's word.
        #expect(
            try S.settle(&state, &table) == [
                "Restored real server: 10.0.0.1:80 (10.0.0.10:80) (Weight set to 5) (HTTP 200)"
            ])
    }

    @Test("deleted entries are still repaired; a drained server that fails and passes comes back at 0")
    func deletedRepairedDrainKept() throws {
        var (state, table) = try Self.running()
        Self.setWeight(&table, "10.0.0.1", 0)
        state.observe(table)
        table.removeDestination(S.dest("10.0.0.2"), from: S.vip)
        #expect(
            try S.settle(&state, &table) == [
                "Added real server: 10.0.0.2:80 (10.0.0.10:80) (Weight set to 3) (HTTP 200)"
            ])
        _ = state.record(S.down, for: [S.ref("10.0.0.1")])
        #expect(try S.settle(&state, &table) == ["Deleted real server: 10.0.0.1:80 (10.0.0.10:80) (HTTP 503)"])
        _ = state.record(S.up, for: [S.ref("10.0.0.1")])
        #expect(
            try S.settle(&state, &table) == [
                "Added real server: 10.0.0.1:80 (10.0.0.10:80) (Weight set to 0) (HTTP 200)"
            ])
        #expect(state.isDrained(S.ref("10.0.0.1")))
    }

    @Test("every server drained or down: the fallback goes in, and fallbackcommand start runs")
    func allDrainedInstallsFallback() throws {
        var (state, table) = try Self.running(["fallbackcommand=/bin/true"])
        Self.setWeight(&table, "10.0.0.1", 0)
        Self.setWeight(&table, "10.0.0.2", 0)
        #expect(state.observe(table).count == 2)
        let plan = state.reconcile(phase: .repair)
        #expect(plan.events.map(\.message) == ["Added fallback server: 127.0.0.1:80 (10.0.0.10:80) (Weight set to 1)"])
        #expect(plan.fallbackCommands.map(\.commandLine) == ["/bin/true start 10.0.0.10:80 tcp"])
    }

    @Test("a reload that changes the server's line ends its drain; one that does not keeps it")
    func reloadEndsDrainOnChange() throws {
        var (state, table) = try Self.running()
        Self.setWeight(&table, "10.0.0.1", 0)
        state.observe(table)
        let same = try testParser.configuration(from: Self.lines.joined(separator: "\n"), file: "d").0
        state.reload(same, observed: table)
        #expect(state.isDrained(S.ref("10.0.0.1")))
        let changed = try testParser.configuration(
            from: Self.lines.joined(separator: "\n").replacingOccurrences(of: "gate 5", with: "gate 7"), file: "d"
        ).0
        state.reload(changed, observed: table)
        #expect(!state.isDrained(S.ref("10.0.0.1")))
        #expect(try S.settle(&state, &table).contains { $0.hasPrefix("Restored real server: 10.0.0.1:80") })
        #expect(Self.weight(table, "10.0.0.1") == 7)
    }

    @Test("drains saved before a restart are kept where the kernel still holds weight 0")
    func restoredAfterRestart() throws {
        var (state, table) = try Self.running()
        Self.setWeight(&table, "10.0.0.1", 0)
        Self.setWeight(&table, "10.0.0.2", 0)
        state.observe(table)
        let saved = state.savedDrains
        #expect(saved.count == 2)
        // While it was away, the operator gave 10.0.0.2 its weight back.
        Self.setWeight(&table, "10.0.0.2", 3)
        var restarted = DirectorState(configuration: state.configuration, observed: table)
        restarted.restoreDrains(saved)
        #expect(restarted.isDrained(S.ref("10.0.0.1")))
        #expect(!restarted.isDrained(S.ref("10.0.0.2")))
        _ = restarted.record(S.up, for: [S.ref("10.0.0.1"), S.ref("10.0.0.2")])
        #expect(try S.settle(&restarted, &table).isEmpty)
        #expect(Self.weight(table, "10.0.0.1") == 0)
    }

    @Test("quiescence is directord's own weight 0, never a drain; repair=no takes no drains")
    func notADrain() throws {
        var (state, table) = try Self.running(["quiescent=yes"])
        _ = state.record(S.down, for: [S.ref("10.0.0.1")])
        _ = try S.settle(&state, &table)
        #expect(Self.weight(table, "10.0.0.1") == 0)
        #expect(state.observe(table).isEmpty)
        #expect(state.drains.isEmpty)

        var (unrepaired, kernel) = try Self.running(["repair=no"])
        Self.setWeight(&kernel, "10.0.0.1", 0)
        #expect(unrepaired.observe(kernel).isEmpty)
        #expect(unrepaired.configuration.globals.repair == false)
    }

    @Test("repair=no is directord's own global directive: read, printed back, noted for --strict")
    func repairDirective() throws {
        let noted = warnings("repair=no", "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate")
        #expect(noted.map(\.message) == ["repair is directord's own directive; ldirectord does not know it"])
        #expect(noted.first?.ldirectord == .unknownDirective)
        let unrepaired = try configuration("repair=no", "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate")
        #expect(!unrepaired.globals.repair)
        #expect(ConfigPrinter.print(unrepaired).contains("\nrepair=no\n"))
        #expect(try configuration("virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate").globals.repair)
        #expect(!ConfigPrinter.print(try configuration("virtual=10.0.0.10:80")).contains("repair"))
        #expect(try onlyError("repair=maybe").description.contains("repair=maybe"))
    }

    static let names: [RealServerRef: [String]] = [
        S.ref("10.0.0.1"): ["10.0.0.1:80", "10.0.0.1", "web1.example.com:80", "web1.example.com", "web1:80", "web1"],
        S.ref("10.0.0.2"): ["10.0.0.2:80", "10.0.0.2"],
    ]

    @Test("drain names a real server as maintenancedir does, in one virtual service or all")
    func naming() throws {
        let (state, _) = try Self.running()
        #expect(state.refs(named: "web1", in: nil, names: Self.names) == [S.ref("10.0.0.1")])
        #expect(state.refs(named: "10.0.0.2:80", in: "10.0.0.10:80", names: Self.names) == [S.ref("10.0.0.2")])
        #expect(state.refs(named: "10.0.0.2", in: "tcp:10.0.0.10:80", names: Self.names) == [S.ref("10.0.0.2")])
        #expect(state.refs(named: "10.0.0.2", in: "10.0.0.11:80", names: Self.names).isEmpty)
        #expect(state.refs(named: "10.0.0.3", in: nil, names: Self.names).isEmpty)
    }

    @Test("drain: weight 0 at once, kept while checks pass; undrain: the configured weight again")
    func drainCommand() throws {
        var (state, table) = try Self.running()
        // Carried at a weight: its line comes with the edit to 0, once, in the reconciliation.
        #expect(state.drain([S.ref("10.0.0.1")], removeWhenIdle: false, deadline: nil).isEmpty)
        #expect(
            try S.settle(&state, &table) == [
                "Drained real server: 10.0.0.1:80 (10.0.0.10:80) (Weight set to 0 by directord drain: kept until undrain)"
            ])
        #expect(Self.weight(table, "10.0.0.1") == 0)
        // Not in the table (down): the drain says so at once, and it comes back at 0.
        _ = state.record(S.down, for: [S.ref("10.0.0.2")])
        _ = try S.settle(&state, &table)
        #expect(
            state.drain([S.ref("10.0.0.2")], removeWhenIdle: false, deadline: nil).map(\.message) == [
                "Drained real server: 10.0.0.2:80 (10.0.0.10:80) (Weight set to 0 by directord drain: kept until undrain)"
            ])
        _ = state.undrain([S.ref("10.0.0.2")])
        _ = state.record(S.up, for: [S.ref("10.0.0.2")])
        _ = try S.settle(&state, &table)
        _ = state.record(S.up, for: [S.ref("10.0.0.1")])
        #expect(try S.settle(&state, &table).isEmpty)
        #expect(Self.weight(table, "10.0.0.1") == 0)
        #expect(
            state.statusReport(pid: 1, configuration: "d", daemonStatus: "running").virtualServices[0].realServers[0]
                .drained == "directord drain")
        #expect(
            state.undrain([S.ref("10.0.0.1")]).map(\.message) == [
                "Undrained real server: 10.0.0.1:80 (10.0.0.10:80) (directord undrain)"
            ])
        #expect(
            try S.settle(&state, &table) == [
                "Restored real server: 10.0.0.1:80 (10.0.0.10:80) (Weight set to 5) (HTTP 200)"
            ])
        #expect(state.undrain([S.ref("10.0.0.1")]).isEmpty)
    }

    @Test("drain --remove-when-idle: the entry goes once the kernel shows no connection, or at the deadline")
    func removeWhenIdle() throws {
        var (state, table) = try Self.running()
        _ = state.drain([S.ref("10.0.0.1"), S.ref("10.0.0.2")], removeWhenIdle: true, deadline: 1000)
        _ = try S.settle(&state, &table)
        #expect(Set(state.drainsAwaitingIdle) == [S.ref("10.0.0.1"), S.ref("10.0.0.2")])
        state.removeIdleDrains(connections: [S.ref("10.0.0.1"): 0, S.ref("10.0.0.2"): 4], now: 500)
        #expect(
            try S.settle(&state, &table) == ["Deleted real server: 10.0.0.1:80 (10.0.0.10:80) (drained and idle)"])
        #expect(state.drainsAwaitingIdle == [S.ref("10.0.0.2")])
        // Still busy, but past the deadline.
        state.removeIdleDrains(connections: [S.ref("10.0.0.2"): 4], now: 1000)
        let last = try S.settle(&state, &table)
        #expect(last.contains("Deleted real server: 10.0.0.2:80 (10.0.0.10:80) (drained and idle)"), "\(last)")
        // With every server drained, the fallback is in.
        #expect(table.destinations(of: S.vip).map(\.key) == [S.dest("127.0.0.1")])
        // undrain brings it back.
        _ = state.undrain([S.ref("10.0.0.1")])
        #expect(try S.settle(&state, &table).contains { $0.hasPrefix("Added real server: 10.0.0.1:80") })
    }
}
