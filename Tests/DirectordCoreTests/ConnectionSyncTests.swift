import DirectordCore
import Testing

/// `syncdaemon=` and its companions: the kernel's connection-sync daemons from the file.
@Suite("Connection-sync directives")
struct ConnectionSyncDirectiveTests {
    static let service = ["virtual=10.0.0.10:80", "\treal=10.0.0.11:80 gate"]

    static func configuration(_ lines: [String], sourceLocation: SourceLocation = #_sourceLocation) throws
        -> Configuration
    {
        let outcome = testParser.parse(lines.joined(separator: "\n"), file: "test.cf")
        #expect(outcome.errors.isEmpty, "unexpected errors: \(outcome.errors)", sourceLocation: sourceLocation)
        return try #require(outcome.configuration, sourceLocation: sourceLocation)
    }

    @Test("every directive is read into the daemons the file asks for")
    func everyDirective() throws {
        let lines =
            [
                "syncdaemon=both", "syncinterface=eth1", "syncid=51", "syncgroup=239.1.2.3", "syncport=8850",
                "syncttl=2", "syncmaxlen=1400",
            ] + Self.service
        let outcome = testParser.parse(lines.joined(separator: "\n"), file: "test.cf")
        #expect(outcome.errors.isEmpty)
        let sync = try #require(outcome.configuration).globals.connectionSync
        let expected: [IPVSSyncDaemon] = [.master, .backup].map {
            IPVSSyncDaemon(
                role: $0, interface: "eth1", syncID: 51, maxLength: 1400, group: IPAddress("239.1.2.3"), port: 8850,
                ttl: 2)
        }
        #expect(sync.daemons == expected)
        // ldirectord knows none of them: --strict names each.
        #expect(outcome.warnings.count == 7)
        #expect(outcome.warnings.allSatisfy { $0.ldirectord == .unknownDirective })
    }

    @Test("one role, the kernel's defaults for what is not written, an IPv6 group")
    func defaults() throws {
        let master = try Self.configuration(["syncdaemon=master", "syncinterface=eth0"] + Self.service)
        #expect(master.globals.connectionSync.daemons == [IPVSSyncDaemon(role: .master, interface: "eth0", syncID: 0)])
        let backup = try Self.configuration(
            ["syncdaemon=backup", "syncinterface=eth0", "syncgroup=ff02::81"] + Self.service)
        #expect(backup.globals.connectionSync.daemons.map(\.role) == [.backup])
        #expect(backup.globals.connectionSync.group == IPAddress("ff02::81"))
        #expect(try Self.configuration(Self.service).globals.connectionSync.daemons.isEmpty)
    }

    @Test("a daemon without an interface is an error naming the line and what is missing")
    func interfaceNeeded() {
        let outcome = testParser.parse((["syncdaemon=both"] + Self.service).joined(separator: "\n"), file: "t.cf")
        #expect(outcome.configuration == nil)
        #expect(outcome.errors.map(\.line) == [1])
        #expect(outcome.errors.first?.description.contains("syncinterface=IFNAME") == true)
    }

    @Test(
        "values the kernel would refuse are errors when the file is read",
        arguments: [
            "syncdaemon=primary", "syncid=256", "syncid=-1", "syncid=5s", "syncport=0", "syncport=65536",
            "syncttl=0", "syncttl=300", "syncgroup=10.0.0.1", "syncgroup=224.0.0.300", "syncgroup=2001:db8::1",
            "syncmaxlen=99", "syncmaxlen=70000", "syncinterface=averyveryverylongname", "syncinterface=\"eth 0\"",
            "syncinterface=\"\"",
        ])
    func refused(_ line: String) {
        let text = (["syncdaemon=master", "syncinterface=eth0", line] + Self.service).joined(separator: "\n")
        let outcome = testParser.parse(text, file: "t.cf")
        #expect(outcome.configuration == nil, "\(line) was accepted")
        #expect(outcome.errors.map(\.line) == [3])
    }

    @Test("the companions without syncdaemon are warned about: they do nothing")
    func companionsAlone() throws {
        let outcome = testParser.parse(
            (["syncinterface=eth0", "syncid=3"] + Self.service).joined(separator: "\n"), file: "t.cf")
        let configuration = try #require(outcome.configuration)
        #expect(configuration.globals.connectionSync.daemons.isEmpty)
        #expect(
            outcome.warnings.filter { $0.message.contains("no effect without syncdaemon") }.map(\.line) == [1, 2])
    }

    @Test("check-config prints them back to a file that reads the same")
    func printedBack() throws {
        let first = try Self.configuration(
            ["syncdaemon=both", "syncinterface=bond0.12", "syncid=0", "syncgroup=ff02::81", "syncttl=1"]
                + Self.service)
        let printed = ConfigPrinter.print(first)
        #expect(printed.contains("syncdaemon=both\nsyncinterface=bond0.12\nsyncid=0\nsyncgroup=ff02::81\nsyncttl=1\n"))
        try RoundTripTests.assertRoundTrip(printed, name: "printed.cf")
    }
}

/// What directord does with the kernel's sync daemons, decided without I/O.
@Suite("SyncDaemonPlan")
struct SyncDaemonPlanTests {
    static let master = IPVSSyncDaemon(role: .master, interface: "eth0", syncID: 5)
    static let backup = IPVSSyncDaemon(role: .backup, interface: "eth0", syncID: 5)
    /// As the kernel reports a daemon started from `daemon`: every default filled in.
    static func running(_ daemon: IPVSSyncDaemon) -> IPVSSyncDaemon {
        var running = daemon
        running.maxLength = daemon.maxLength ?? 1472
        running.group = daemon.group ?? IPAddress("224.0.0.81")
        running.port = daemon.port ?? 8848
        running.ttl = daemon.ttl ?? 1
        return running
    }

    @Test("at start, the daemons asked for are started and become directord's")
    func startsWhatIsAsked() {
        let plan = SyncDaemonPlan.plan(wanted: [Self.master, Self.backup], running: [], started: [])
        #expect(plan.actions == [.start(Self.master), .start(Self.backup)])
        #expect(plan.started == [.master, .backup])
    }

    @Test("a daemon already running as asked (the kernel's defaults filled in) is adopted, not restarted")
    func adoptsAMatchingDaemon() {
        let plan = SyncDaemonPlan.plan(wanted: [Self.master], running: [Self.running(Self.master)], started: [])
        #expect(plan.actions.isEmpty)
        #expect(plan.started.isEmpty)
        // ... and so it is not stopped at stop.
        #expect(SyncDaemonPlan.shutdown(running: [Self.running(Self.master)], started: plan.started).isEmpty)
    }

    @Test("a daemon of the role with other settings is replaced: stopped, then started as asked")
    func replacesAMismatch() {
        var other = Self.running(Self.master)
        other.syncID = 9
        let plan = SyncDaemonPlan.plan(wanted: [Self.master], running: [other], started: [])
        #expect(plan.actions == [.stop(other, replacing: true), .start(Self.master)])
        #expect(plan.started == [.master])
    }

    @Test("a daemon stopped behind directord's back is started again (the repair)")
    func restartsAStoppedDaemon() {
        let plan = SyncDaemonPlan.plan(
            wanted: [Self.master, Self.backup], running: [Self.running(Self.backup)], started: [.master, .backup])
        #expect(plan.actions == [.start(Self.master)])
        #expect(plan.started == [.master, .backup])
    }

    @Test("a reload that drops a role stops directord's daemon, and never someone else's")
    func reloadDropsARole() {
        let running = [Self.running(Self.master), Self.running(Self.backup)]
        let ours = SyncDaemonPlan.plan(wanted: [Self.backup], running: running, started: [.master, .backup])
        #expect(ours.actions == [.stop(running[0], replacing: false)])
        #expect(ours.started == [.backup])
        let theirs = SyncDaemonPlan.plan(wanted: [], running: running, started: [])
        #expect(theirs.actions.isEmpty)
    }

    @Test("a changed syncmaxlen replaces directord's daemon although the kernel reports its own rounding")
    func changedMaxLength() {
        var before = Self.master
        before.maxLength = 1400
        var after = Self.master
        after.maxLength = 1200
        let running = Self.running(before)
        #expect(
            SyncDaemonPlan.plan(wanted: [before], running: [running], started: [.master], previous: [before])
                .actions.isEmpty)
        #expect(
            SyncDaemonPlan.plan(wanted: [after], running: [running], started: [.master], previous: [before]).actions
                == [.stop(running, replacing: true), .start(after)])
    }

    @Test("at stop, only the daemons directord started are stopped")
    func shutdownStopsOnlyOwn() {
        let running = [Self.running(Self.master), Self.running(Self.backup)]
        #expect(SyncDaemonPlan.shutdown(running: running, started: [.backup]) == [.stop(running[1], replacing: false)])
    }
}

/// `risecount`, `downinterval`, `maxejection`: directord's health policy, global or per block.
@Suite("Health policy directives")
struct HealthPolicyDirectiveTests {
    @Test("global values are every block's default, and a block overrides them")
    func globalAndBlock() throws {
        let outcome = testParser.parse(
            [
                "risecount=3", "downinterval=30", "maxejection=50%",
                "virtual=10.0.0.10:80", "\treal=10.0.0.11:80 gate",
                "virtual=10.0.0.10:443", "\treal=10.0.0.11:443 gate", "\trisecount=1", "\tmaxejection=25",
            ].joined(separator: "\n"), file: "t.cf")
        #expect(outcome.errors.isEmpty)
        let services = try #require(outcome.configuration).virtualServices
        #expect(services.map(\.riseCount) == [3, 1])
        #expect(services.map(\.downInterval) == [30, 30])
        #expect(services.map(\.maxEjection) == [50, 25])
        #expect(outcome.warnings.filter { $0.ldirectord == .unknownDirective }.count == 5)
        try RoundTripTests.assertRoundTrip(ConfigPrinter.print(try #require(outcome.configuration)), name: "p.cf")
    }

    @Test("without them, ldirectord's behaviour: one pass, the check interval, no limit")
    func defaults() throws {
        let outcome = testParser.parse("virtual=10.0.0.10:80\n\treal=10.0.0.11:80 gate", file: "t.cf")
        let service = try #require(outcome.configuration?.virtualServices.first)
        #expect(service.riseCount == 1)
        #expect(service.downInterval == nil)
        #expect(service.maxEjection == nil)
        #expect(!ConfigPrinter.print(try #require(outcome.configuration)).contains("risecount"))
    }

    @Test(
        "values out of range are errors naming the line",
        arguments: [
            "risecount=0", "risecount=1001", "downinterval=0", "maxejection=101", "maxejection=-5", "maxejection=half",
        ])
    func refused(_ line: String) {
        let outcome = testParser.parse(
            "virtual=10.0.0.10:80\n\treal=10.0.0.11:80 gate\n\t\(line)", file: "t.cf")
        #expect(outcome.configuration == nil)
        #expect(outcome.errors.map(\.line) == [3])
    }
}
