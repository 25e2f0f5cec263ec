import DirectordCore
import Testing

/// Files ldirectord runs are never refused: where ldirectord misreads part of one, directord
/// reads it (as ldirectord does, or better, said so), keeps out of the table what the kernel
/// would refuse, and warns; `check-config --strict` learns from each warning how ldirectord
/// reads that part. The cases come from a sweep of 4,785 files through Debian's ldirectord.
@Suite("What ldirectord runs")
struct LdirectordReadingTests {
    /// A file ldirectord accepts: its one virtual service (the last), and the warnings.
    static func read(_ lines: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> (
        VirtualService, [ConfigWarning]
    ) {
        let outcome = testParser.parse(lines.joined(separator: "\n") + "\n", file: "test.cf")
        #expect(outcome.errors.isEmpty, "refused: \(outcome.errors)", sourceLocation: sourceLocation)
        let configuration = try #require(outcome.configuration, sourceLocation: sourceLocation)
        return (try #require(configuration.virtualServices.last, sourceLocation: sourceLocation), outcome.warnings)
    }

    static func block(_ directives: String..., virtual: String = "virtual=10.0.0.10:80") -> [String] {
        [virtual, "\treal=10.0.0.1:80 masq"] + directives.map { "\t" + $0 }
    }

    @Test("a value the kernel would refuse keeps that one service out, said loudly; the others run")
    func refusedServices() throws {
        let cases: [([String], String)] = [
            (Self.block("scheduler=roundrobin"), "the kernel has no scheduler \"roundrobin\""),
            (Self.block("scheduler=Rr"), "the kernel has no scheduler \"r\""),
            (Self.block("persistent=0"), "ipvsadm refuses persistent=0"),
            (Self.block("persistent=3000000"), "ipvsadm refuses persistent=3000000"),
            (Self.block("schedflags=sh-fallback,bogus"), "ipvsadm refuses the sched-flag \"bogus\""),
            (Self.block("persistent=60", "netmask=255.255.255.256"), "ipvsadm refuses netmask=255.255.255.256"),
            (Self.block(virtual: "virtual=10.0.0.10:0"), "ipvsadm refuses port 0 (every port) without persistent="),
            (Self.block(virtual: "virtual=0"), "ipvsadm refuses firewall mark 0"),
            (Self.block(virtual: "virtual=4294967296"), "ipvsadm refuses firewall mark 4294967296"),
        ]
        for (lines, why) in cases {
            let file = ["virtual=10.0.0.20:80", "\treal=10.0.0.2:80 masq"] + lines
            let outcome = testParser.parse(file.joined(separator: "\n"), file: "test.cf")
            let configuration = try #require(outcome.configuration, "\(lines): \(outcome.errors)")
            #expect(configuration.virtualServices.count == 2)
            #expect(configuration.virtualServices[0].refusal == nil, "the other service runs")
            let refused = configuration.virtualServices[1]
            #expect(refused.refusal?.hasPrefix(why) == true, "\(lines): \(refused.refusal ?? "runs")")
            let warning = try #require(outcome.warnings.first { $0.message.hasPrefix(why) }, "\(outcome.warnings)")
            #expect(warning.isSevere)
            #expect(warning.ldirectord == .same, "ldirectord reads it the same; the kernel refuses it")
        }
    }

    @Test("a real server the kernel would refuse stays out; the rest of its service runs")
    func refusedReals() throws {
        let cases: [(String, String)] = [
            ("real=10.0.0.3:80 masq 2147483648", "the kernel refuses weight 2147483648"),
            ("real=10.0.0.3:80 masq l:10", "the kernel refuses l:10 above u:0"),
            ("real=10.0.0.3:80 masq 1 l:10 u:5", "the kernel refuses l:10 above u:5"),
            // ldirectord loses a u: written before l:, and then l: is above "no limit".
            ("real=10.0.0.3:80 masq u:100 l:10", "the kernel refuses l:10 above u:0"),
            ("real=10.0.0.3:80 masq u:2147483648", "the kernel refuses a threshold above 2147483647"),
        ]
        for (line, why) in cases {
            let (service, warnings) = try Self.read(Self.block(line))
            #expect(service.refusal == nil)
            #expect(service.realServers.map(\.refusal) == [nil, service.realServers[1].refusal])
            #expect(service.realServers[1].refusal?.hasPrefix(why) == true, "\(line): \(service.realServers)")
            #expect(warnings.contains { $0.isSevere && $0.message.hasPrefix(why) }, "\(warnings)")
        }
    }

    static let realReadings: [(String, String, ConfigWarning.LdirectordReading)] = [
        // ldirectord's own sample: it reads the host "5060" (0.0.19.196) and port 0.
        ("real=192.168.6.2::5060 gate", "192.168.6.2:5060 gate", .differs),
        ("real=10.0.0.3:80 gate -w 5", "10.0.0.3:80 gate 5", .same),
        ("real=10.0.0.3:80 masq junk 5", "10.0.0.3:80 masq 5", .same),
        ("real=10.0.0.3:80 -gate", "10.0.0.3:80 gate", .same),
        ("real=@10.0.0.3:80 gate", "10.0.0.3:80 gate", .same),
        ("real=\"10.0.0.3:80 masq 10", "10.0.0.3:80 masq 10", .same),
        ("real=10.0.0.3:80 masq junk l:1 u:5", "10.0.0.3:80 masq l:1 u:5", .same),
        ("real=10.0.0.3:80 masq u:10 l:5 u:11", "10.0.0.3:80 masq l:5 u:11", .same),
    ]

    @Test(
        "a real= line is read as ldirectord reads it, skipping what it skips, with a warning", arguments: realReadings)
    func realLines(line: String, reading: String, ldirectord: ConfigWarning.LdirectordReading) throws {
        let (service, warnings) = try Self.read(Self.block(line))
        let warning = try #require(warnings.first { $0.message.hasPrefix("read as \(reading)") }, "\(warnings)")
        #expect(warning.ldirectord == ldirectord)
        let real = try #require(service.realServers.last)
        #expect(real.address == .v4(String(reading.prefix { $0 != ":" })))
    }

    @Test("a weight above 65535 is the kernel's to take, as it takes it from ldirectord")
    func largeWeight() throws {
        let (service, _) = try Self.read(Self.block("real=10.0.0.3:80 masq 70000"))
        #expect(service.realServers.last?.weight == 70000)
        #expect(service.realServers.last?.refusal == nil)
    }

    @Test("the sample line ::5060 is the real server 192.168.6.2:5060 (a check on that port)")
    func samplePort() throws {
        let (service, _) = try Self.read(Self.block("real=192.168.6.2::5060 masq", virtual: "virtual=10.0.0.10:5060"))
        #expect(service.realServers.last?.endpoint == "192.168.6.2:5060")
    }

    @Test("the same kernel entry twice: the last line's definition, as ldirectord's last edit leaves it")
    func duplicateReals() throws {
        let (service, warnings) = try Self.read(Self.block("real=10.0.0.1:80 masq 7"))
        #expect(service.realServers.map(\.weight) == [7])
        #expect(warnings.contains { $0.isSevere && $0.message.contains("is the kernel entry of line 2 too") })
        let (range, _) = try Self.read(Self.block("real=10.0.0.0->10.0.0.3:80 masq 2"))
        #expect(range.realServers.map(\.endpoint) == ["10.0.0.0:80", "10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"])
        #expect(range.realServers.map(\.weight) == [2, 2, 2, 2])
    }

    @Test("a large range written twice: one warning for the line, the second line's definitions, in one pass")
    func duplicateRanges() throws {
        // Found by the fuzzer: each of the 51,220 duplicates was removed from the list one by
        // one, which took minutes.
        let text = Self.block(
            "real=10.60.0.10->10.60.200.29:8443 masq 2", "real=10.60.0.10->10.60.200.29:8443 masq 3")
        let (service, warnings) = try Self.read(text)
        // The block's own real server, then the range as its second line defines it.
        #expect(service.realServers.count == 1 + 51_220)
        #expect(service.realServers.dropFirst().allSatisfy { $0.weight == 3 && $0.line == 4 })
        let duplicates = warnings.filter { $0.message.contains("kernel entries of line 3 too") }
        #expect(duplicates.count == 1)
        #expect(duplicates.first?.message.hasPrefix("51220 real servers (10.60.0.10:8443 the first)") == true)
    }

    @Test("numbers: \"00\" and huge values, which ldirectord reads")
    func numbers() throws {
        let (service, warnings) = try Self.read(
            Self.block(
                "checktimeout=00", "negotiatetimeout=0000000000007", "failurecount=00", "checktype=9999999999999"))
        #expect(service.checkTimeout == 7, "0 is not set: it falls back to negotiatetimeout")
        #expect(service.negotiateTimeout == 7)
        #expect(service.failureCount == 1)
        #expect(service.checkType == .combined(negotiateEvery: Int(Int32.max)))
        #expect(
            warnings.contains { $0.message.contains("checktimeout=00 is read as not set") && $0.ldirectord == .differs }
        )
        let globals = try configuration(
            "checkinterval=00", "emailalertfreq=4294967296", "virtual=10.0.0.10:80", "\treal=10.0.0.1 gate")
        #expect(globals.globals.checkInterval == 1)
        #expect(globals.virtualServices[0].checkInterval == 1)
    }

    @Test("virtual= lines read as ldirectord's patterns read them")
    func virtualLines() throws {
        #expect(
            try Self.read(Self.block(virtual: "virtual=10.0.0.10:80/tcp")).0.key
                == .inet(.tcp, .v4("10.0.0.10"), port: 80))
        #expect(try Self.read(Self.block(virtual: "virtual=10.0.0.10:")).0.key == .firewallMark(10, .ipv4))
        let (zero, warnings) = try Self.read(Self.block(virtual: "virtual=10.0.0.10:080"))
        #expect(zero.key == .inet(.tcp, .v4("10.0.0.10"), port: 80))
        #expect(zero.service == .http)
        #expect(warnings.contains { $0.ldirectord == .differs && $0.message.contains("implies service=none") })
        // ldirectord tells `:80` from `:080` as text: two blocks, one kernel service.
        let outcome = parse(
            "virtual=10.0.0.10:80", "\treal=10.0.0.1 gate", "virtual=10.0.0.10:080", "\treal=10.0.0.2 gate")
        #expect(outcome.errors.isEmpty)
        #expect(outcome.configuration?.virtualServices.map { $0.refusal == nil } == [true, false])
    }

    @Test("empty and odd values ldirectord takes")
    func oddValues() throws {
        let file = try configuration(
            "fallbackcommand=\"\"", "emailalertstatus=starting,", "execute=", "logfile=\"LOCAL0\"", "fallback=",
            "virtual=10.0.0.10:80", "\treal=10.0.0.1 gate", "\tfallback=sorry 127.0.0.1:81 masq")
        #expect(file.globals.defaults.fallbackCommand == nil)
        #expect(file.globals.defaults.emailAlertStatus == .starting)
        #expect(file.globals.execute.isEmpty)
        #expect(file.globals.logTarget == .syslog(facility: "local0"))
        #expect(file.globals.defaults.fallback == nil)
        #expect(file.virtualServices[0].fallback?.port == 81)
        #expect(file.virtualServices[0].fallback?.forwarding == .masq)
        #expect(
            try configuration("logfile=\"relative.log\"", "virtual=10.0.0.10:80", "\treal=10.0.0.1 gate").globals
                .logTarget
                == .syslog(facility: "daemon"))
    }

    static let refusedByLdirectord: [[String]] = [
        ["quiescent=yes # a comment", "virtual=10.0.0.10:80", "\treal=10.0.0.1 gate"],
        ["virtual=10.0.0.10:80", "\treal=10.0.0.1 gate", "", "\trequest=\"/x\""],
        ["virtual=10.0.0.10:80", "\treal=10.0.0.1 gate", "\trequest=/health"],
        ["virtual=10.0.0.10:80", "\treal=10.0.0.1 gate", "\treceive=\"a#b\""],
        ["virtual=10.0.0.10:80", "  real=10.0.0.1 gate"],
        ["virtual=10.0.0.10:80", "\treal=10.0.0.1 gate", "\tcafile=/etc/ssl/ca.pem"],
        ["supervised yes", "virtual=10.0.0.10:80", "\treal=10.0.0.1 gate"],
        ["smtp=\"mail.example.com\"", "virtual=10.0.0.10:80", "\treal=10.0.0.1 gate"],
        ["emailalertfreq=\"60\"", "virtual=10.0.0.10:80", "\treal=10.0.0.1 gate"],
        ["fallback=127.0.0.1 gate # sorry server", "virtual=10.0.0.10:80", "\treal=10.0.0.1 gate"],
        ["virtual=10.0.0.10:80\r", "\treal=10.0.0.1 gate\r", "\tquiescent=no\r"],
        ["virtual=10.0.0.10:80", "\treal=10.0.0.1 gate", "virtual=10.0.0.11:80"],
        ["virtual=10.0.0.10:80", "\treal=10.0.0.1 masq \"x\", \"HTTP 200\""],
    ]

    @Test("what ldirectord refuses, directord takes; --strict knows it", arguments: refusedByLdirectord)
    func relaxations(lines: [String]) {
        let outcome = testParser.parse(lines.joined(separator: "\n"), file: "test.cf")
        #expect(outcome.errors.isEmpty, "\(outcome.errors)")
        #expect(
            outcome.warnings.contains { $0.ldirectord == .refuses || $0.ldirectord == .unknownDirective },
            "\(outcome.warnings)")
    }

    @Test("a file ldirectord reads the same way gives --strict nothing to refuse")
    func sameReading() {
        let outcome = parse(
            "checktimeout=3", "quiescent=no", "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 masq 2",
            "\treal=10.0.0.2:80 gate",
            "\tservice=http", "\trequest=\"/health\"", "\treceive=\"OK\"", "\tscheduler=wlc", "\tpersistent=300")
        #expect(outcome.errors.isEmpty)
        #expect(outcome.warnings.allSatisfy { $0.ldirectord == .same }, "\(outcome.warnings)")
    }
}
