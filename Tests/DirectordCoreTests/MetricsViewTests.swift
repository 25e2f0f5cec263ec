import DirectordCore
import Testing

/// `metrics=` and what a scrape shows, as a specification: which real server counts as up,
/// drained, at which kernel weight; which labels each series has.
@Suite("Metrics")
struct MetricsViewTests {
    typealias S = DirectorStateTests
    /// DrainTests' director (10.0.0.1 at weight 5 and 10.0.0.2 at 3, both up, a fallback),
    /// with metrics.
    static let lines = ["metrics=127.0.0.1:9469"]

    static func snapshot(_ table: IPVSTable, statistics: IPVSStatistics = .zero) -> IPVSSnapshot {
        IPVSSnapshot(
            info: IPVSInfo(version: 0x010201, connectionTableSize: 4096),
            services: table.entries.map { entry in
                IPVSSnapshot.Service(
                    entry.service,
                    destinations: entry.destinations.map {
                        IPVSSnapshot.Destination(
                            $0, connections: IPVSConnectionCounts(active: 2, inactive: 1), statistics: statistics)
                    })
            })
    }

    @Test("metrics=IP:PORT and [IPv6]:PORT are read, printed back, and noted as directord's own")
    func directive() throws {
        let read = try configuration("metrics=0.0.0.0:9469", "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate")
        #expect(read.globals.metrics == ListenAddress(address: IPAddress("0.0.0.0")!, port: 9469))
        #expect(ConfigPrinter.print(read).contains("\nmetrics=0.0.0.0:9469\n"))
        let six = try configuration("metrics=[::1]:9100", "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate")
        #expect(six.globals.metrics?.description == "[::1]:9100")
        let noted = warnings("metrics=127.0.0.1:9469", "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate")
        #expect(noted.map(\.message) == ["metrics is directord's own directive; ldirectord does not know it"])
        let none = try configuration("virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate")
        #expect(none.globals.metrics == nil)
        #expect(!ConfigPrinter.print(none).contains("metrics"))
    }

    @Test(
        "a metrics address that is not IP:PORT is an error naming the line and what was expected",
        arguments: [
            "9469", "localhost:9469", "127.0.0.1:0", "127.0.0.1:65536", "::1:9100", "[10.0.0.1]:80", "1.2.3.4:",
        ]
    )
    func invalidDirective(value: String) throws {
        let error = try onlyError("metrics=\(value)", "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate")
        #expect(error.line == 1)
        #expect(error.description.contains("invalid metrics address \"\(value)\""))
        #expect(error.description.contains("IP:PORT or [IPv6]:PORT"))
    }

    @Test("up is the last verdict; waiting, failed and maintenance servers are 0; drains and kernel weights shown")
    func realServers() throws {
        var (state, table) = try DrainTests.running(Self.lines)
        var view = state.metricsView(kernel: Self.snapshot(table))
        #expect(view.realServers.map(\.up) == [true, true])
        #expect(view.realServers.map(\.kernelWeight) == [5, 3])
        #expect(view.realServers.map(\.drained) == [false, false])

        _ = state.record(S.down, for: [S.ref("10.0.0.2")])
        _ = try S.settle(&state, &table)
        _ = state.drain([S.ref("10.0.0.1")], removeWhenIdle: false, deadline: nil)
        _ = try S.settle(&state, &table)
        view = state.metricsView(kernel: Self.snapshot(table))
        #expect(view.realServers.map(\.up) == [true, false])
        #expect(view.realServers.map(\.drained) == [true, false])
        // The failed one has no entry: no weight (the series is then absent, not 0).
        #expect(view.realServers.map(\.kernelWeight) == [0, nil])

        state.setMaintenance(true, for: S.ref("10.0.0.1"))
        view = state.metricsView(kernel: Self.snapshot(table))
        #expect(view.realServers[0].up == false)

        // Before its first verdict a real server is not up.
        let fresh = DirectorState(configuration: state.configuration, observed: IPVSTable())
        #expect(fresh.metricsView(kernel: Self.snapshot(IPVSTable())).realServers.map(\.up) == [false, false])
    }

    @Test("the fallback is active only while it is in the kernel's table")
    func fallback() throws {
        var (state, table) = try DrainTests.running(Self.lines)
        #expect(state.metricsView(kernel: Self.snapshot(table)).services.map(\.fallbackActive) == [false])
        _ = state.record(S.down, for: [S.ref("10.0.0.1"), S.ref("10.0.0.2")])
        _ = try S.settle(&state, &table)
        let view = state.metricsView(kernel: Self.snapshot(table))
        #expect(view.services.map(\.fallbackActive) == [true])
        #expect(
            view.services[0].labels.servicePairs.map { "\($0)=\($1)" } == [
                "virtual_service=tcp:10.0.0.10:80", "local_address=10.0.0.10", "local_port=80", "proto=TCP",
            ])
    }

    @Test("every destination of the kernel's table has its counters, directord's or not, with node_exporter's labels")
    func destinations() throws {
        let (state, table) = try DrainTests.running(Self.lines)
        var kernel = table
        let other = IPVSService(key: .firewallMark(7, .ipv4), scheduler: Scheduler(rawValue: "wlc")!)
        kernel.upsert(other)
        _ = kernel.upsert(
            IPVSDestination(address: IPAddress("192.0.2.7")!, port: 0, forwarding: .gate, weight: 1), in: other.key)
        let counters = IPVSStatistics(
            connections: 10, incomingPackets: 20, outgoingPackets: 30, incomingBytes: 4000, outgoingBytes: 5000)
        let view = state.metricsView(kernel: Self.snapshot(kernel, statistics: counters))
        #expect(view.destinations.count == 3)
        #expect(view.destinations.allSatisfy { $0.statistics == counters && $0.connections.active == 2 })
        let labels = view.destinations.map { $0.labels.destinationPairs.map { "\($0)=\($1)" }.joined(separator: ",") }
        #expect(
            labels.contains(
                "virtual_service=tcp:10.0.0.10:80,local_address=10.0.0.10,local_port=80,proto=TCP,remote_address=10.0.0.1,remote_port=80"
            ))
        #expect(
            labels.contains(
                "virtual_service=fwm:7,local_address=,local_port=0,proto=FWM,remote_address=192.0.2.7,remote_port=0"))
        // Only configured real servers have health series.
        #expect(view.realServers.count == 2)
    }
}
