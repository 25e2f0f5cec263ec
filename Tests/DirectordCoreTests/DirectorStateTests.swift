import DirectordCore
import Testing

/// The director's decisions as a specification: configuration, health and the kernel's table
/// in; operations, log lines and fallback commands out.
@Suite("Director state")
struct DirectorStateTests {
    static let vip = ServiceKey.inet(.tcp, IPAddress("10.0.0.10")!, port: 80)
    static func dest(_ address: String, _ port: UInt16 = 80) -> IPVSDestination.Key {
        IPVSDestination.Key(address: IPAddress(address)!, port: port)
    }
    static func ref(_ address: String, _ service: ServiceKey = vip) -> RealServerRef {
        RealServerRef(service: service, destination: dest(address))
    }

    static let up = CheckResult.up("HTTP 200", latency: .milliseconds(1))
    static let down = CheckResult.down("HTTP 503", latency: .milliseconds(1))

    static func config(_ lines: String...) throws -> Configuration {
        try testParser.configuration(from: lines.joined(separator: "\n"), file: "d.cf").0
    }

    /// Applies a reconciliation to `table` and commits it, as the daemon does.
    static func settle(_ state: inout DirectorState, _ table: inout IPVSTable, phase: DirectorEvent.Phase = .repair)
        throws -> [String]
    {
        let plan = state.reconcile(observed: table, phase: phase)
        table = try table.applying(plan.operations)
        state.commit(plan)
        #expect(state.reconcile(observed: table, phase: phase).operations.isEmpty, "not settled")
        return plan.events.map(\.loggedWithReason)
    }

    static let web = [
        "fallback=127.0.0.1:80", "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate", "\treal=10.0.0.2:80 gate 3",
        "\tservice=http",
    ]

    @Test("a fresh start adds the service, no real server before it passes a check, no early fallback")
    func freshStart() throws {
        let configuration = try testParser.configuration(from: Self.web.joined(separator: "\n"), file: "w").0
        var table = IPVSTable()
        var state = DirectorState(configuration: configuration, observed: table)
        #expect(try Self.settle(&state, &table, phase: .start) == ["Added virtual server: 10.0.0.10:80"])
        #expect(table.destinations(of: Self.vip).isEmpty)

        #expect(state.record(Self.up, for: [Self.ref("10.0.0.1")]) == [])
        #expect(
            try Self.settle(&state, &table) == [
                "Added real server: 10.0.0.1:80 (10.0.0.10:80) (Weight set to 1) (HTTP 200)"
            ])
        _ = state.record(Self.down, for: [Self.ref("10.0.0.2")])
        #expect(try Self.settle(&state, &table) == [])
        #expect(table.destinations(of: Self.vip).map(\.key) == [Self.dest("10.0.0.1")])
    }

    @Test("all down installs the fallback; one back removes it, make before break")
    func fallback() throws {
        let configuration = try testParser.configuration(from: Self.web.joined(separator: "\n"), file: "w").0
        var table = IPVSTable()
        var state = DirectorState(configuration: configuration, observed: table)
        _ = try Self.settle(&state, &table, phase: .start)
        _ = state.record(Self.down, for: [Self.ref("10.0.0.1"), Self.ref("10.0.0.2")])
        #expect(
            try Self.settle(&state, &table) == ["Added fallback server: 127.0.0.1:80 (10.0.0.10:80) (Weight set to 1)"])
        #expect(
            table.destinations(of: Self.vip) == [
                IPVSDestination(address: IPAddress("127.0.0.1")!, port: 80, forwarding: .gate, weight: 1)
            ])

        _ = state.record(Self.up, for: [Self.ref("10.0.0.2")])
        let plan = state.reconcile(observed: table, phase: .repair)
        #expect(
            plan.operations.map(\.description) == [
                "add destination 10.0.0.2:80 (Route, weight 3) to TCP 10.0.0.10:80",
                "delete destination 127.0.0.1:80 from TCP 10.0.0.10:80",
            ])
        #expect(
            plan.events.map(\.loggedWithReason) == [
                "Added real server: 10.0.0.2:80 (10.0.0.10:80) (Weight set to 3) (HTTP 200)",
                "Deleted fallback server: 127.0.0.1:80 (10.0.0.10:80)",
            ])
    }

    @Test("quiescent keeps a failed real server with weight 0; restored when it passes again")
    func quiescent() throws {
        let configuration = try Self.config(
            "quiescent=yes", "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 masq 4 l:2 u:9")
        var table = IPVSTable()
        var state = DirectorState(configuration: configuration, observed: table)
        _ = try Self.settle(&state, &table, phase: .start)
        _ = state.record(Self.up, for: [Self.ref("10.0.0.1")])
        _ = try Self.settle(&state, &table)
        _ = state.record(Self.down, for: [Self.ref("10.0.0.1")])
        #expect(
            try Self.settle(&state, &table) == [
                "Quiescent real server: 10.0.0.1:80 (10.0.0.10:80) (Weight set to 0) (HTTP 503)"
            ])
        #expect(
            table[Self.vip]?[destination: Self.dest("10.0.0.1")]
                == IPVSDestination(
                    address: IPAddress("10.0.0.1")!, port: 80, forwarding: .masq, weight: 0, upperThreshold: 9,
                    lowerThreshold: 2))
        _ = state.record(Self.up, for: [Self.ref("10.0.0.1")])
        #expect(
            try Self.settle(&state, &table) == [
                "Restored real server: 10.0.0.1:80 (10.0.0.10:80) (Weight set to 4) (HTTP 200)"
            ])
    }

    @Test("a service the kernel would refuse is not run; a reload making a running one so keeps it running")
    func refusedServices() throws {
        let refused = try Self.config(
            "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate", "\tchecktype=on", "\tscheduler=roundrobin",
            "virtual=10.0.0.20:80", "\treal=10.0.0.2:80 gate", "\tchecktype=on")
        var table = IPVSTable()
        var state = DirectorState(configuration: refused, observed: table)
        _ = try Self.settle(&state, &table, phase: .start)
        #expect(table.entries.map(\.service.key) == [.inet(.tcp, .v4("10.0.0.20"), port: 80)])
        #expect(state.scheduledChecks.isEmpty)

        let good = try Self.config(
            "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate", "\tchecktype=on", "\tscheduler=rr")
        state = DirectorState(configuration: good, observed: IPVSTable())
        table = IPVSTable()
        _ = try Self.settle(&state, &table, phase: .start)
        let typo = try Self.config(
            "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate 5", "\tchecktype=on", "\tscheduler=rrr")
        let kept = state.reload(typo, observed: table)
        #expect(kept.map(\.id) == ["tcp:10.0.0.10:80"])
        #expect(try Self.settle(&state, &table, phase: .start) == [])
        #expect(table[Self.vip]?.service.scheduler.rawValue == "rr")
        #expect(table[Self.vip]?.destinations.map(\.weight) == [1])
    }

    @Test("a quiescent server failing its first check goes in at weight 0, as in ldirectord's settled table")
    func quiescentFirstVerdict() throws {
        let configuration = try Self.config("quiescent=yes", "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate 5")
        var table = IPVSTable()
        var state = DirectorState(configuration: configuration, observed: table)
        _ = try Self.settle(&state, &table, phase: .start)
        #expect(table[Self.vip]?.destinations.isEmpty == true, "no entry before the first verdict")
        _ = state.record(Self.down, for: [Self.ref("10.0.0.1")])
        #expect(
            try Self.settle(&state, &table) == [
                "Quiescent real server: 10.0.0.1:80 (10.0.0.10:80) (Weight set to 0) (HTTP 503)"
            ])
        #expect(table[Self.vip]?.destinations.map(\.weight) == [0])
        // Still failing: nothing more to do.
        _ = state.record(Self.down, for: [Self.ref("10.0.0.1")])
        #expect(try Self.settle(&state, &table) == [])
    }

    @Test("a quiescent server missing from the kernel is re-added with weight 0 only with readdquiescent")
    func readdQuiescent() throws {
        for readd in [false, true] {
            let configuration = try Self.config(
                "quiescent=yes", "readdquiescent=\(readd ? "yes" : "no")", "virtual=10.0.0.10:80",
                "\treal=10.0.0.1:80 gate")
            var table = IPVSTable()
            var state = DirectorState(configuration: configuration, observed: table)
            _ = try Self.settle(&state, &table, phase: .start)
            _ = state.record(Self.down, for: [Self.ref("10.0.0.1")])
            _ = try Self.settle(&state, &table)
            // Deleted by hand while failing.
            table = try table.applying([
                .deleteDestination(try #require(table[Self.vip]?.destinations.first), service: Self.vip)
            ])
            _ = state.record(Self.down, for: [Self.ref("10.0.0.1")])
            state.requestReconcile()
            let events = try Self.settle(&state, &table)
            #expect(
                events
                    == (readd
                        ? ["Readd Quiescent real server: 10.0.0.1:80 (10.0.0.10:80) (Weight set to 0) (HTTP 503)"] : [])
            )
        }
    }

    @Test("a restart with unchanged health changes nothing: servers in the kernel are trusted")
    func restartAdopts() throws {
        let configuration = try testParser.configuration(
            from: (Self.web + ["virtual=10.0.0.11:80", "\treal=10.0.0.3:80 masq", "\tquiescent=yes", "\tservice=http"])
                .joined(separator: "\n"), file: "w"
        ).0
        // The table a previous run left: 10.0.0.1 up, 10.0.0.2 down (absent), 10.0.0.3 quiesced.
        var table = IPVSTable()
        var first = DirectorState(configuration: configuration, observed: table)
        _ = try Self.settle(&first, &table, phase: .start)
        _ = first.record(Self.up, for: [Self.ref("10.0.0.1")])
        _ = first.record(Self.down, for: [Self.ref("10.0.0.2")])
        let other = ServiceKey.inet(.tcp, IPAddress("10.0.0.11")!, port: 80)
        _ = first.record(Self.up, for: [Self.ref("10.0.0.3", other)])
        _ = try Self.settle(&first, &table)
        _ = first.record(Self.down, for: [Self.ref("10.0.0.3", other)])
        _ = try Self.settle(&first, &table)
        let before = table

        // kill -9, start again: nothing to do before or after the same results.
        var second = DirectorState(configuration: configuration, observed: table)
        #expect(second.reconcile(observed: table, phase: .start).isEmpty)
        _ = second.record(Self.up, for: [Self.ref("10.0.0.1")])
        _ = second.record(Self.down, for: [Self.ref("10.0.0.2")])
        _ = second.record(Self.down, for: [Self.ref("10.0.0.3", other)])
        #expect(second.reconcile(observed: table, phase: .repair).operations.isEmpty)
        #expect(table == before)
    }

    @Test("a restart keeps a fallback in place while the real servers await their first check")
    func restartKeepsFallback() throws {
        let configuration = try testParser.configuration(from: Self.web.joined(separator: "\n"), file: "w").0
        var table = IPVSTable()
        var first = DirectorState(configuration: configuration, observed: table)
        _ = try Self.settle(&first, &table, phase: .start)
        _ = first.record(Self.down, for: [Self.ref("10.0.0.1"), Self.ref("10.0.0.2")])
        _ = try Self.settle(&first, &table)
        var second = DirectorState(configuration: configuration, observed: table)
        #expect(second.reconcile(observed: table, phase: .start).isEmpty)
        _ = second.record(Self.down, for: [Self.ref("10.0.0.1")])
        #expect(second.reconcile(observed: table, phase: .repair).isEmpty)
        _ = second.record(Self.up, for: [Self.ref("10.0.0.2")])
        #expect(
            second.reconcile(observed: table, phase: .repair).events.map(\.loggedWithReason) == [
                "Added real server: 10.0.0.2:80 (10.0.0.10:80) (Weight set to 3) (HTTP 200)",
                "Deleted fallback server: 127.0.0.1:80 (10.0.0.10:80)",
            ])
    }

    @Test("entries of a managed service the file does not list are purged; other services are left alone")
    func purge() throws {
        let configuration = try Self.config("virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate", "\tscheduler=rr")
        let foreign = ServiceKey.inet(.udp, IPAddress("10.9.9.9")!, port: 53)
        var table = IPVSTable([
            .init(
                service: IPVSService(key: Self.vip, scheduler: Scheduler(uncheckedName: "wlc")),
                destinations: [
                    IPVSDestination(address: IPAddress("10.0.0.1")!, port: 80, forwarding: .gate, weight: 1),
                    IPVSDestination(address: IPAddress("10.0.0.99")!, port: 80, forwarding: .gate, weight: 1),
                ]),
            .init(
                service: IPVSService(key: foreign, scheduler: Scheduler(uncheckedName: "rr")),
                destinations: [IPVSDestination(address: IPAddress("10.9.9.1")!, port: 53, forwarding: .masq, weight: 1)]
            ),
        ])
        var state = DirectorState(configuration: configuration, observed: table)
        #expect(
            try Self.settle(&state, &table, phase: .start) == [
                "Changed virtual server: 10.0.0.10:80",
                "Purged real server (start): 10.0.0.99:80 (10.0.0.10:80)",
            ])
        #expect(table[foreign]?.destinationCount == 1)
        #expect(table.destinations(of: Self.vip).map(\.key) == [Self.dest("10.0.0.1")])
    }

    @Test("entries changed or deleted behind directord's back are repaired")
    func repair() throws {
        let configuration = try Self.config(
            "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate 5", "\treal=10.0.0.2:80 gate")
        var table = IPVSTable()
        var state = DirectorState(configuration: configuration, observed: table)
        _ = try Self.settle(&state, &table, phase: .start)
        _ = state.record(Self.up, for: [Self.ref("10.0.0.1"), Self.ref("10.0.0.2")])
        _ = try Self.settle(&state, &table)
        table.removeDestination(Self.dest("10.0.0.2"), from: Self.vip)
        table.upsert(
            IPVSDestination(address: IPAddress("10.0.0.1")!, port: 80, forwarding: .gate, weight: 1), in: Self.vip)
        #expect(
            try Self.settle(&state, &table) == [
                "Added real server: 10.0.0.2:80 (10.0.0.10:80) (Weight set to 1) (HTTP 200)",
                "Restored real server: 10.0.0.1:80 (10.0.0.10:80) (Weight set to 5) (HTTP 200)",
            ])
        table.removeService(Self.vip)
        #expect(try Self.settle(&state, &table).first == "Added virtual server: 10.0.0.10:80")
        #expect(table.destinationCount == 2)
    }

    @Test("a reload edits a changed weight in place, keeps health, adds, and purges what the file dropped")
    func reload() throws {
        let old = try Self.config(
            "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate 1", "\treal=10.0.0.2:80 gate", "virtual=10.0.0.20:80",
            "\treal=10.0.0.1:80 gate")
        var table = IPVSTable()
        var state = DirectorState(configuration: old, observed: table)
        _ = try Self.settle(&state, &table, phase: .start)
        _ = state.record(Self.up, for: [Self.ref("10.0.0.1"), Self.ref("10.0.0.2")])
        _ = state.record(Self.up, for: [Self.ref("10.0.0.1", .inet(.tcp, IPAddress("10.0.0.20")!, port: 80))])
        _ = try Self.settle(&state, &table)

        let new = try Self.config(
            "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate 7", "\treal=10.0.0.2:80 gate", "\treal=10.0.0.3:80 gate")
        state.reload(new, observed: table)
        let plan = state.reconcile(observed: table, phase: .start)
        #expect(
            plan.operations.map(\.description) == [
                "edit destination 10.0.0.1:80 (Route, weight 7) in TCP 10.0.0.10:80",
                "delete service TCP 10.0.0.20:80",
            ])
        #expect(
            plan.events.map(\.loggedWithReason) == [
                "Restored real server: 10.0.0.1:80 (10.0.0.10:80) (Weight set to 7) (HTTP 200)",
                "Purged virtual server (start): 10.0.0.20:80",
            ])
        table = try table.applying(plan.operations)
        state.commit(plan)
        #expect(!state.managedServices.contains(.inet(.tcp, IPAddress("10.0.0.20")!, port: 80)))
        #expect(state.health(of: Self.ref("10.0.0.2"))?.state == .up)
        #expect(state.health(of: Self.ref("10.0.0.3"))?.isPending == true)
    }

    @Test("clean stop deletes the services with cleanstop=yes and logs each purge")
    func shutdown() throws {
        let configuration = try Self.config(
            "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate", "virtual=10.0.0.20:80", "\treal=10.0.0.1:80 gate",
            "\tcleanstop=no")
        var table = IPVSTable()
        var state = DirectorState(configuration: configuration, observed: table)
        _ = try Self.settle(&state, &table, phase: .start)
        _ = state.record(Self.up, for: [Self.ref("10.0.0.1")])
        _ = try Self.settle(&state, &table)
        let plan = state.shutdown(observed: table)
        #expect(plan.operations.map(\.description) == ["delete service TCP 10.0.0.10:80"])
        #expect(
            plan.events.map(\.loggedWithReason) == [
                "Purged real server (stop): 10.0.0.1:80 (10.0.0.10:80)", "Purged virtual server (stop): 10.0.0.10:80",
            ])
    }

    @Test("fallbackcommand runs start when a service loses every server, stop when one is back, once each")
    func fallbackCommand() throws {
        let configuration = try Self.config(
            "fallbackcommand=/usr/local/bin/sorry", "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate")
        var table = IPVSTable()
        var state = DirectorState(configuration: configuration, observed: table)
        var plan = state.reconcile(observed: table, phase: .start)
        #expect(plan.fallbackCommands.isEmpty)
        table = try table.applying(plan.operations)
        state.commit(plan)
        _ = state.record(Self.down, for: [Self.ref("10.0.0.1")])
        plan = state.reconcile(observed: table, phase: .repair)
        #expect(plan.fallbackCommands.map(\.commandLine) == ["/usr/local/bin/sorry start 10.0.0.10:80 tcp"])
        state.commit(plan)
        #expect(state.reconcile(observed: table, phase: .repair).fallbackCommands.isEmpty)
        #expect(
            state.shutdown(observed: table).fallbackCommands.map(\.commandLine) == [
                "/usr/local/bin/sorry stop 10.0.0.10:80 tcp"
            ])
        _ = state.record(Self.up, for: [Self.ref("10.0.0.1")])
        plan = state.reconcile(observed: table, phase: .repair)
        #expect(plan.fallbackCommands.map(\.commandLine) == ["/usr/local/bin/sorry stop 10.0.0.10:80 tcp"])
        state.commit(plan)
        #expect(state.shutdown(observed: table).fallbackCommands.isEmpty)
    }

    @Test("a real server shared by two services counts its failures once per service (ldirectord counts twice)")
    func sharedRealServer() throws {
        let configuration = try Self.config(
            "failurecount=2", "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate", "\tservice=http",
            "virtual=10.0.0.20:80", "\treal=10.0.0.1:80 gate", "\tservice=http")
        var state = DirectorState(configuration: configuration, observed: IPVSTable())
        let checks = state.scheduledChecks
        #expect(checks.count == 1)
        let refs = try #require(checks.first?.realServers)
        #expect(refs.count == 2)
        _ = state.record(Self.up, for: refs)
        #expect(
            state.record(Self.down, for: refs).map(\.loggedWithReason) == [
                "Soft failure real server: 10.0.0.1:80 (tcp:10.0.0.10:80) failure 1/2 (HTTP 503)",
                "Soft failure real server: 10.0.0.1:80 (tcp:10.0.0.20:80) failure 1/2 (HTTP 503)",
            ])
        #expect(refs.allSatisfy { state.health(of: $0)?.state == .up })
        _ = state.record(Self.down, for: refs)
        #expect(refs.allSatisfy { state.health(of: $0)?.state == .down })
    }

    @Test("different checks of one real server are scheduled apart")
    func distinctChecks() throws {
        let configuration = try Self.config(
            "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate", "\trequest=\"/a\"", "virtual=10.0.0.20:80",
            "\treal=10.0.0.1:80 gate", "\trequest=\"/b\"", "virtual=10.0.0.30:80", "\treal=10.0.0.1:80 gate",
            "\tchecktype=on")
        let checks = DirectorState(configuration: configuration, observed: IPVSTable()).scheduledChecks
        #expect(checks.map(\.check.request) == ["/a", "/b"])
        #expect(checks.allSatisfy { $0.interval == .seconds(10) && $0.realServers.count == 1 })
    }

    @Test("a maintenance file takes a server down at once; it returns only after a check passes")
    func maintenance() throws {
        let configuration = try Self.config("failurecount=3", "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate")
        var table = IPVSTable()
        var state = DirectorState(configuration: configuration, observed: table)
        _ = try Self.settle(&state, &table, phase: .start)
        _ = state.record(Self.up, for: [Self.ref("10.0.0.1")])
        _ = try Self.settle(&state, &table)
        state.setMaintenance(true, for: Self.ref("10.0.0.1"))
        #expect(
            try Self.settle(&state, &table) == [
                "Deleted real server: 10.0.0.1:80 (10.0.0.10:80) (Server in maintenance)"
            ])
        _ = state.record(Self.up, for: [Self.ref("10.0.0.1")])
        #expect(try Self.settle(&state, &table) == [])
        state.setMaintenance(false, for: Self.ref("10.0.0.1"))
        #expect(try Self.settle(&state, &table) == [])
        _ = state.record(Self.up, for: [Self.ref("10.0.0.1")])
        #expect(try Self.settle(&state, &table).count == 1)
    }

    @Test("checktype=on adds at once, checktype=off never: its fallback is there from the start")
    func onAndOff() throws {
        let configuration = try Self.config(
            "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate", "\tchecktype=on", "virtual=10.0.0.20:80",
            "\treal=10.0.0.2:80 gate", "\tchecktype=off", "\tfallback=127.0.0.1:80")
        var table = IPVSTable()
        var state = DirectorState(configuration: configuration, observed: table)
        #expect(state.scheduledChecks.isEmpty)
        #expect(
            try Self.settle(&state, &table, phase: .start) == [
                "Added virtual server: 10.0.0.10:80",
                "Added real server: 10.0.0.1:80 (10.0.0.10:80) (Weight set to 1) (checktype=on)",
                "Added virtual server: 10.0.0.20:80",
                "Added fallback server: 127.0.0.1:80 (10.0.0.20:80) (Weight set to 1)",
            ])
    }

    @Test("gate and ipip fallbacks take the service's port, as real servers do")
    func fallbackPort() throws {
        let configuration = try Self.config(
            "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate", "\tchecktype=off", "\tfallback=127.0.0.1:8080 gate")
        var table = IPVSTable()
        var state = DirectorState(configuration: configuration, observed: table)
        _ = try Self.settle(&state, &table, phase: .start)
        #expect(table.destinations(of: Self.vip).map(\.key) == [Self.dest("127.0.0.1", 80)])
    }
}

@Suite("Status report")
struct StatusReportTests {
    @Test("every real server with its state, kernel weight and reason; the fallback when in use")
    func report() throws {
        let configuration = try testParser.configuration(
            from:
                "fallback=127.0.0.1:80\nvirtual=10.0.0.10:80\n\treal=10.0.0.1:80 gate 2\n\treal=10.0.0.2:80 gate\n\treal=10.0.0.3:80 gate\n\tfailurecount=3\n",
            file: "r.cf"
        ).0
        var table = IPVSTable()
        var state = DirectorState(configuration: configuration, observed: table)
        let vip = ServiceKey.inet(.tcp, IPAddress("10.0.0.10")!, port: 80)
        func ref(_ host: String) -> RealServerRef {
            RealServerRef(service: vip, destination: .init(address: IPAddress(host)!, port: 80))
        }
        _ = state.record(.up("HTTP 200", latency: .zero), for: [ref("10.0.0.1")])
        _ = state.record(.down("HTTP 500", latency: .zero), for: [ref("10.0.0.1")])
        let plan = state.reconcile(observed: table, phase: .start)
        table = try table.applying(plan.operations)
        let report = state.statusReport(
            observed: table, pid: 42, configuration: "/etc/ha.d/r.cf", daemonStatus: "running")
        #expect(
            report.text == """
                directord (pid 42) for /etc/ha.d/r.cf: running

                tcp:10.0.0.10:80
                  10.0.0.1:80  up (weight 2, 1 soft failures): HTTP 500
                  10.0.0.2:80  waiting (not in the table): not checked yet
                  10.0.0.3:80  waiting (not in the table): not checked yet

                """)
        _ = state.record(.down("HTTP 500", latency: .zero), for: [ref("10.0.0.1"), ref("10.0.0.2"), ref("10.0.0.3")])
        _ = state.record(.down("HTTP 500", latency: .zero), for: [ref("10.0.0.1")])
        table = try table.applying(state.reconcile(observed: table, phase: .repair).operations)
        let down = state.statusReport(observed: table, pid: 42, configuration: "r", daemonStatus: "running")
        #expect(down.virtualServices.first?.fallback == "127.0.0.1:80")
        #expect(down.virtualServices.first?.realServers.map(\.state) == ["down", "down", "down"])
    }
}

extension DirectorEvent {
    /// The event's line with the reason the state gave it, for these specifications: the
    /// daemon logs the reason as a line of its own (``DirectorEvent/reasonMessage``).
    var loggedWithReason: String {
        guard let line = reasonMessage, case .realServerAdded = self else {
            guard let line = reasonMessage, let index = line.firstRange(of: "): ") else { return message }
            return "\(message) (\(line[index.upperBound...]))"
        }
        guard let index = line.firstRange(of: "): ") else { return message }
        return "\(message) (\(line[index.upperBound...]))"
    }
}

/// As the daemon drives the state: what the kernel holds is observed, then the state decides.
extension DirectorState {
    mutating func reconcile(observed table: IPVSTable, phase: DirectorEvent.Phase) -> Reconciliation {
        observe(table)
        return reconcile(phase: phase)
    }

    @discardableResult
    mutating func reload(_ configuration: Configuration, observed table: IPVSTable) -> [VirtualService] {
        observe(table)
        return reload(configuration)
    }

    mutating func shutdown(observed table: IPVSTable) -> Reconciliation {
        observe(table)
        return shutdown()
    }
}

extension DirectorState {
    mutating func statusReport(observed table: IPVSTable, pid: Int32, configuration: String, daemonStatus: String)
        -> StatusReport
    {
        observe(table)
        return statusReport(pid: pid, configuration: configuration, daemonStatus: daemonStatus)
    }
}
