import DirectordCore
import Testing

/// `slowstart`, `draintimeout`, `httpstatus`, `httpheader`: directord's own directives, read,
/// checked and printed back.
@Suite("Slow start, drain timeout and HTTP check directives")
struct PolicyDirectiveTests {
    @Test("slowstart and draintimeout: global defaults a block overrides, printed back")
    func slowStartAndDrainTimeout() throws {
        let outcome = testParser.parse(
            [
                "slowstart=30", "draintimeout=120",
                "virtual=10.0.0.10:80", "\treal=10.0.0.11:80 gate", "\tscheduler=wlc",
                "virtual=10.0.0.10:443", "\treal=10.0.0.11:443 gate", "\tslowstart=5", "\tdraintimeout=10",
            ].joined(separator: "\n"), file: "t.cf")
        #expect(outcome.errors.isEmpty)
        let services = try #require(outcome.configuration).virtualServices
        #expect(services.map(\.slowStart) == [30, 5])
        #expect(services.map(\.drainTimeout) == [120, 10])
        #expect(outcome.warnings.filter { $0.ldirectord == .unknownDirective }.map(\.line) == [1, 2, 8, 9])
        try RoundTripTests.assertRoundTrip(ConfigPrinter.print(try #require(outcome.configuration)), name: "p.cf")
    }

    @Test("repairinterval: read, refused at 0 with line and expectation, printed back; by default by table size")
    func repairInterval() throws {
        let outcome = testParser.parse(
            ["checkinterval=2", "repairinterval=30", "virtual=10.0.0.10:80", "\treal=10.0.0.11:80 gate"]
                .joined(separator: "\n"), file: "t.cf")
        #expect(outcome.errors.isEmpty)
        let globals = try #require(outcome.configuration).globals
        #expect(globals.repairInterval == 30)
        #expect(outcome.warnings.filter { $0.ldirectord == .unknownDirective }.map(\.line) == [2])
        try RoundTripTests.assertRoundTrip(ConfigPrinter.print(try #require(outcome.configuration)), name: "p.cf")

        let zero = testParser.parse("repairinterval=0\nvirtual=10.0.0.10:80\n\treal=10.0.0.11:80 gate\n", file: "z.cf")
        let error = try #require(zero.errors.first)
        #expect(error.line == 1)
        #expect(error.description.contains("z.cf:1: error"))
        #expect(error.description.contains("invalid repair interval value"))
        #expect(error.description.contains("a whole number of seconds above 0"))

        // Unset: every checkinterval up to 500 real servers a second, then by size.
        var defaults = GlobalSettings()
        defaults.checkInterval = 1
        #expect(defaults.defaultRepairInterval(realServers: 40) == 1)
        #expect(defaults.defaultRepairInterval(realServers: 500) == 1)
        #expect(defaults.defaultRepairInterval(realServers: 1_000) == 2)
        #expect(defaults.defaultRepairInterval(realServers: 10_000) == 20)
        defaults.checkInterval = 10
        #expect(defaults.defaultRepairInterval(realServers: 1_000) == 10)
        #expect(defaults.defaultRepairInterval(realServers: 0) == 10)
    }

    @Test("agentport and agentinterval: global defaults a block overrides; an interval without a port is warned about")
    func agent() throws {
        let outcome = testParser.parse(
            [
                "agentinterval=4", "virtual=10.0.0.10:80", "\treal=10.0.0.11:80 gate", "\tagentport=5555",
                "virtual=10.0.0.10:443", "\treal=10.0.0.11:443 gate", "\tagentinterval=2",
            ].joined(separator: "\n"), file: "t.cf")
        #expect(outcome.errors.isEmpty)
        let services = try #require(outcome.configuration).virtualServices
        #expect(services.map(\.agentPort) == [5555, nil])
        #expect(services.map(\.agentInterval) == [4, 2])
        #expect(outcome.warnings.contains { $0.line == 5 && $0.message.contains("agentinterval has no effect") })
        #expect(!outcome.warnings.contains { $0.line == 2 && $0.message.contains("has no effect") })
        try RoundTripTests.assertRoundTrip(ConfigPrinter.print(try #require(outcome.configuration)), name: "p.cf")
    }

    @Test(
        "checkpath: a global default a block overrides either way, printed back; what cannot take the path is warned about"
    )
    func checkPath() throws {
        let outcome = testParser.parse(
            [
                "checkpath=forwarding", "virtual=10.0.0.10:80", "\treal=10.0.0.11:80 gate", "\treal=10.0.0.12:80 masq",
                "\tservice=http", "virtual=10.0.0.10:443", "\treal=10.0.0.11:443 gate", "\tcheckpath=direct",
                "virtual=10.0.0.10:3306", "\treal=10.0.0.11:3306 ipip", "\tservice=mysql",
            ].joined(separator: "\n"), file: "t.cf")
        #expect(outcome.errors.isEmpty)
        let services = try #require(outcome.configuration).virtualServices
        #expect(services.map(\.checkThroughForwarding) == [true, false, true])
        #expect(services[0].realServers.map(services[0].checksThroughForwarding) == [true, false])
        #expect(!services[2].checksThroughForwarding(services[2].realServers[0]))
        #expect(outcome.warnings.contains { $0.line == 4 && $0.message.contains("10.0.0.12 is checked directly") })
        #expect(outcome.warnings.contains { $0.line == 9 && $0.message.contains("service=mysql checks are not sent") })
        try RoundTripTests.assertRoundTrip(ConfigPrinter.print(try #require(outcome.configuration)), name: "p.cf")
    }

    @Test("without them nothing ramps or waits, and the printed file has neither")
    func absent() throws {
        let outcome = testParser.parse("virtual=10.0.0.10:80\n\treal=10.0.0.11:80 gate", file: "t.cf")
        let configuration = try #require(outcome.configuration)
        #expect(configuration.virtualServices[0].slowStart == nil)
        #expect(configuration.virtualServices[0].drainTimeout == nil)
        #expect(
            configuration.virtualServices[0].healthCheck(for: configuration.virtualServices[0].realServers[0])
                .acceptedStatus == .success)
        let printed = ConfigPrinter.print(configuration)
        #expect(!printed.contains("slowstart") && !printed.contains("draintimeout") && !printed.contains("httpstatus"))
    }

    @Test(
        "a hashing scheduler is warned about: its servers are not ramped",
        arguments: ["sh", "dh", "mh"])
    func hashingScheduler(_ scheduler: String) throws {
        let outcome = testParser.parse(
            "slowstart=20\nvirtual=10.0.0.10:80\n\treal=10.0.0.11:80 gate\n\tscheduler=\(scheduler)", file: "t.cf")
        #expect(outcome.errors.isEmpty)
        #expect(outcome.warnings.contains { $0.line == 2 && $0.message.contains("scheduler=\(scheduler)") })
    }

    @Test(
        "values out of range or malformed are errors naming the line",
        arguments: [
            "slowstart=0", "slowstart=86401", "slowstart=1m", "draintimeout=0", "draintimeout=-1",
            "agentport=0", "agentport=65536", "agentport=http", "agentinterval=0", "checkpath=nat", "checkpath=",
            "httpstatus=", "httpstatus=2xx", "httpstatus=99", "httpstatus=600", "httpstatus=299-200",
            "httpstatus=200,,204", "httpstatus=200-", "httpheader=", "httpheader=no colon",
            "httpheader=: value", "httpheader=Bad Name: x", "httpheader=Host: example.org",
            "httpheader=content-length: 0", "httpheader=Connection: keep-alive",
        ])
    func refused(_ line: String) {
        let outcome = testParser.parse(
            "virtual=10.0.0.10:80\n\treal=10.0.0.11:80 gate\n\tservice=http\n\t\(line)", file: "t.cf")
        #expect(outcome.configuration == nil)
        #expect(outcome.errors.map(\.line) == [4])
    }

    @Test("httpstatus takes codes and ranges, httpheader repeats, both reach the check")
    func httpDirectives() throws {
        let outcome = testParser.parse(
            [
                "virtual=10.0.0.10:80", "\treal=10.0.0.11:80 gate", "\tservice=http",
                "\thttpstatus=200-299, 301,503", "\thttpheader=X-Check: directord",
                "\thttpheader=\"Authorization:Bearer abc#1\"",
            ].joined(separator: "\n"), file: "t.cf")
        #expect(outcome.errors.isEmpty)
        let service = try #require(outcome.configuration?.virtualServices.first)
        let check = service.healthCheck(for: service.realServers[0])
        #expect(check.acceptedStatus.description == "200-299,301,503")
        #expect([200, 250, 299, 301, 503].allSatisfy(check.acceptedStatus.contains))
        #expect(![199, 300, 302, 500, 504].contains(where: check.acceptedStatus.contains))
        #expect(check.headers == ["X-Check: directord", "Authorization: Bearer abc#1"])
        #expect(!outcome.warnings.contains { $0.message.contains("set again") })
        try RoundTripTests.assertRoundTrip(ConfigPrinter.print(try #require(outcome.configuration)), name: "p.cf")
    }

    @Test("httpstatus and httpheader on checks that are not HTTP are warned about")
    func notHTTP() throws {
        let outcome = testParser.parse(
            "virtual=10.0.0.10:80\n\treal=10.0.0.11:80 gate\n\tchecktype=connect\n\thttpstatus=200", file: "t.cf")
        #expect(outcome.errors.isEmpty)
        #expect(outcome.warnings.contains { $0.line == 1 && $0.message.contains("no effect") })
    }
}
