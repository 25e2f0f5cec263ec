import DirectordCore
import DirectordTestSupport
import Foundation
import Testing

@testable import directord_bench

/// The pure parts of `directord-bench failover`: percentiles, the report's formatting and
/// judgement, the generated configurations and the fleet layout. The benchmark itself runs in
/// the kernel lab (bench/failover), never under `swift test`.
@Suite("directord-bench failover, pure parts")
struct FailoverBenchTests {
    @Test func percentileIsNearestRankAndCountsMissedAsInfinitelyLate() {
        let values: [Double?] = (1...100).map { Double($0) }
        #expect(percentile(values, 0.5) == 50)
        #expect(percentile(values, 0.99) == 99)
        #expect(percentile(values, 1) == 100)
        #expect(percentile([3, 1, 2], 0.5) == 2)
        #expect(percentile([], 0.5) == nil)
        #expect(percentile([1, nil], 0.5) == 1)
        #expect(percentile([1, nil], 0.99) == .infinity)
        #expect(milliseconds(percentile([1, nil], 0.99)) == "missed")
        #expect(milliseconds(0.5064) == "506")
        #expect(milliseconds(nil) == "-")
    }

    @Test func groupedNumbers() {
        #expect(grouped(12345.6) == "12,346")
        #expect(grouped(1_000_000) == "1,000,000")
        #expect(grouped(999) == "999")
        #expect(grouped(1.5) == "1.5")
        #expect(grouped(-1234) == "-1,234")
        #expect(grouped(.infinity) == "-")
    }

    @Test func columnsAlignFirstLeftOthersRight() {
        let text = FailoverReport.align([["a", "1", "22"], ["bbb", "333", "4"]])
        #expect(text == "a      1  22\nbbb  333   4\n")
    }

    @Test func layoutSplitsRealsIntoServices() {
        let layout = FleetLayout(reals: 250, perService: 100, basePort: 20000)
        #expect(layout.services == 3)
        #expect(layout.reals(of: 2) == 200..<250)
        #expect(layout.service(of: 199) == 1)
        #expect(layout.port(of: 249) == 20249)
        #expect(layout.serviceText(0) == "10.1.0.1")
        #expect(FleetLayout(reals: 10000, perService: 25, basePort: 20000).serviceText(399) == "10.1.1.200")
        let table = layout.fullTable
        #expect(table.serviceCount == 3)
        #expect(table.destinationCount == 250)
    }

    @Test func layoutGoesOnToTheNextLoopbackAddressWhenPortsRunOut() throws {
        // 12,768 ports from 20000 on 127.0.0.1, below the ephemeral ports; then 127.0.0.2 from
        // 20000 again, and so on.
        let layout = FleetLayout(reals: 50000, perService: 100, basePort: 20000)
        #expect(layout.addressText(of: 12767) == "127.0.0.1")
        #expect(layout.port(of: 12767) == 32767)
        #expect(layout.addressText(of: 12768) == "127.0.0.2")
        #expect(layout.port(of: 12768) == 20000)
        #expect(layout.addressText(of: 49999) == "127.0.0.4")
        #expect(Set((0..<50000).map(layout.key(of:))).count == 50000)
        #expect(layout.fullTable.destinationCount == 50000)
        let text = CheckSettings(interval: 5, timeout: 2).ldirectordConfig(layout)
        #expect(text.contains("\treal=127.0.0.2:24463 masq 1\n"))
        let outcome = ConfigParser(resolver: StaticNameResolver()).parse(text, file: "bench.cf")
        #expect(outcome.errors.isEmpty)
        #expect(try #require(outcome.configuration).realServerCount == 50000)
    }

    @Test func ldirectordConfigurationIsValidForDirectord() throws {
        let layout = FleetLayout(reals: 150, perService: 100, basePort: 20000)
        let text = CheckSettings(interval: 1, timeout: 2).ldirectordConfig(layout)
        #expect(text.contains("checkinterval=1\n"))
        #expect(text.contains("negotiatetimeout=2\n"))
        #expect(text.contains("virtual=10.1.0.2:80\n"))
        #expect(text.components(separatedBy: "\treal=127.0.0.1:").count - 1 == 150)
        #expect(text.contains("\treal=127.0.0.1:20149 masq 1\n"))
        // directord's own parser reads it without an error or a warning (the services'
        // 10.1.x addresses and 127.0.0.1 need no name resolution).
        let outcome = ConfigParser(resolver: StaticNameResolver()).parse(text, file: "bench.cf")
        #expect(outcome.errors.isEmpty, "\(outcome.errors)")
        #expect(outcome.warnings.isEmpty, "\(outcome.warnings)")
        #expect(outcome.configuration?.virtualServices.count == 2)
    }

    @Test func keepalivedConfigurationHasTheSameChecks() {
        let layout = FleetLayout(reals: 150, perService: 100, basePort: 20000)
        let text = CheckSettings(interval: 1, timeout: 2).keepalivedConfig(layout)
        #expect(text.components(separatedBy: "virtual_server ").count - 1 == 2)
        #expect(text.components(separatedBy: "real_server 127.0.0.1 ").count - 1 == 150)
        #expect(text.contains("virtual_server 10.1.0.2 80 {\n    delay_loop 1\n"))
        #expect(text.contains("path /health"))
        #expect(text.contains("connect_timeout 2"))
        #expect(text.contains("retry 0"))
        // Balanced braces.
        #expect(text.filter { $0 == "{" }.count == text.filter { $0 == "}" }.count)
    }

    @Test func netlinkCountsAddAndSubtract() {
        let a = NetlinkTap.Counts(
            changeRequests: 3, readRequests: 5, answers: 7, changeAnswers: 2, packets: 9, dropped: 1)
        let b = NetlinkTap.Counts(
            changeRequests: 1, readRequests: 1, answers: 2, changeAnswers: 1, packets: 3, dropped: 0)
        #expect((a - b).messages == 2 + 4 + 5)
        #expect((a + b).changeAnswers == 3)
        #expect((a + b - b).messages == a.messages)
    }

    @Test func shuffleIsReproducible() {
        var first = SplitMix64(state: 42)
        var second = SplitMix64(state: 42)
        let order = Array(0..<20).shuffled(using: &first)
        #expect(order == Array(0..<20).shuffled(using: &second))
        #expect(order != Array(0..<20))
    }

    @Test func reloadLineIsReadFromWhatTheLogGained() throws {
        let path = "/tmp/directord-bench-test-\(getpid()).log"
        defer { unlink(path) }
        try writeFile(path, "[t] Reloaded /etc/x.cf: 3 table changes in 9 ms\n")
        let start = fileSize(path)
        #expect(FailoverRun.reloadLine(in: try readFile(path, from: start)) == nil, "the old reload is not this one")
        try writeFile(
            path,
            "[t] Reloaded /etc/x.cf: 3 table changes in 9 ms\n[t] Reloading Linux Director Daemon config on signal\n"
                + "[t] Reloaded /etc/x.cf: 1 table change in 308 ms\n")
        let line = try #require(FailoverRun.reloadLine(in: try readFile(path, from: start)))
        #expect(line.changes == 1 && line.milliseconds == 308)
        #expect(FailoverRun.reloadLine(in: "[t] Reloaded /etc/x.cf: 1000 table changes in 396 ms")?.changes == 1000)
        #expect(FailoverRun.reloadLine(in: "[t] Reloaded /etc/x.cf") == nil)
    }

    @Test func jsonQuotesAndLists() {
        #expect(quoted("a\"b\\c\n\u{1}") == "\"a\\\"b\\\\c\\n\\u0001\"")
        var result = RunResult(tool: .directord, reals: 100)
        result.completed = true
        result.faults = [FaultOutcome(kind: .hang, targets: 2, detection: [0.5, nil], recovery: [1, 2])]
        let json = result.json
        #expect(json.hasPrefix("{\"tool\": \"directord\", \"reals\": 100,"))
        #expect(json.contains("\"hang\": {\"detection\": [0.5000, null], \"recovery\": [1.0000, 2.0000]}"))
        #expect((try? JSONSerialization.jsonObject(with: Data(json.utf8))) != nil)
    }

    static func run(_ tool: FailoverTool, reals: Int, cpu: Double, detection: Double, rss: Double) -> RunResult {
        var result = RunResult(tool: tool, reals: reals)
        result.completed = true
        result.services = reals / 100
        result.steady = SteadyFigures(
            window: 60, cpu: cpu, checks: reals * 60, fewestPerServer: 59, mostPerServer: 61, longestGap: 1.2,
            serversOverGap: 0, neverChecked: 0, fleetCPU: 1, forks: 0, serversDown: 0)
        result.faults = [FaultOutcome(kind: .refuse, targets: 2, detection: [detection, detection], recovery: [1, 1])]
        result.peakResidentMB = rss
        return result
    }

    /// A report of N = 1,000 and 10,000 (checked every second) with refused servers as the fault.
    static func report(tools: [FailoverTool], intervalAt1000: Int) -> FailoverReport {
        FailoverReport(
            machine: MachineDescription(cpuModel: "test", cpus: 2, kernel: "6.1", memoryMB: 2048, loadBefore: "0 0 0"),
            settings: [
                1000: CheckSettings(interval: intervalAt1000, timeout: 2),
                10000: CheckSettings(interval: 1, timeout: 2),
            ],
            kinds: [.refuse], tools: tools, faults: 2, realsPerService: 100, steady: 60, pollMilliseconds: 10)
    }

    @Test func reportPrintsRatiosAndJudgesTheAims() {
        var report = Self.report(tools: [.directord, .ldirectord], intervalAt1000: 1)
        report.add(Self.run(.directord, reals: 1000, cpu: 1, detection: 0.5, rss: 20))
        report.add(Self.run(.ldirectord, reals: 1000, cpu: 30, detection: 5, rss: 40))
        report.add(Self.run(.directord, reals: 10000, cpu: 30, detection: 3.2, rss: 150))
        report.add(
            RunResult(tool: .ldirectord, reals: 10000, skipped: "not run: ldirectord did not complete at N = 1,000"))
        let text = report.render()
        // Rows with their cells one space apart.
        let rows = text.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        #expect(rows.contains("CPU s per minute 1.00 30.00 30 x"), "\(text)")
        #expect(rows.contains("detection, refused (ms, p50 / p99) 500 / 500 5000 / 5000 10 / 10 x"), "\(text)")
        #expect(text.contains("ldirectord: not run: ldirectord did not complete at N = 1,000"))
        #expect(
            text.contains(
                "- N = 1,000: detection p99 within checkinterval + timeout + 100 ms = 3100 ms: met (worst 500 ms, refused)"
            ))
        #expect(
            text.contains(
                "- N = 10,000: detection p99 within checkinterval + timeout + 100 ms = 3100 ms: NOT met (worst 3200 ms")
        )
        #expect(text.contains("- N = 1,000: at least 10 times less CPU than ldirectord: met (30.0 x per minute"))
        #expect(text.contains("under 0.4 of a core NOT met (0.50 cores); under 60 MB RSS NOT met (150.0 MB)"))
    }

    @Test func reportJudgesFiftyThousandServersEveryFiveSeconds() {
        var report = FailoverReport(
            machine: MachineDescription(cpuModel: "test", cpus: 2, kernel: "6.1", memoryMB: 2048, loadBefore: "0 0 0"),
            settings: [50000: CheckSettings(interval: 5, timeout: 2)], kinds: [.refuse], tools: [.directord],
            faults: 2, realsPerService: 100, steady: 60, pollMilliseconds: 10)
        report.add(Self.run(.directord, reals: 50000, cpu: 40, detection: 1, rss: 300))
        let text = report.render()
        #expect(
            text.contains(
                "- N = 50,000, checkinterval = 5: every server checked every interval met (longest gap 1.20 s, 0 over 7.5 s"
            ), "\(text)")
        #expect(text.contains("under one core met (0.67 cores); under 250 MB RSS NOT met (300.0 MB)"), "\(text)")
        #expect(text.contains("- N = 10,000: not measured"))
    }

    @Test func reportAveragesTheWindowsTakenInTurn() throws {
        var report = Self.report(tools: [.directord, .keepalived], intervalAt1000: 10)
        // Steady windows of 1,000 checks a second for 60 s: 60 CPU s is 1 s per 1,000 checks.
        var ours = Self.run(.directord, reals: 1000, cpu: 60, detection: 0.5, rss: 20)
        ours.roundCPUPerThousand = [0.6, nil, 0.8]
        var theirs = Self.run(.keepalived, reals: 1000, cpu: 120, detection: 5, rss: 10)
        theirs.roundCPUPerThousand = [1.0, 1.2, 0.8]
        report.add(ours)
        report.add(theirs)
        let text = report.render()
        let rows = text.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        #expect(rows.contains("CPU s per 1,000 checks 1.000 2.000 2.0 x"), "\(text)")
        // Ours: (1 + 0.6 + 0.8) / 3 = 0.8 (the missed window left out); theirs (2 + 1 + 1.2 + 0.8) / 4 = 1.25.
        #expect(
            rows.contains("CPU s per 1,000 checks, mean of the windows taken in turn 0.800 1.250 1.56 x"), "\(text)")
        #expect(rows.contains("windows: count, lowest / highest 3, 0.600 / 1.000 4, 0.800 / 2.000"), "\(text)")
        #expect(
            text.contains(
                "- N = 1,000: CPU per check at most 0.8 times keepalived's: met (0.64 times: 0.800 against 1.250 CPU s per 1,000 checks, means of 3 and 4 windows)"
            ), "\(text)")
        #expect(ours.json.contains("\"roundCpuSecondsPerThousandChecks\": [0.6000, null, 0.8000]"))
        #expect((try JSONSerialization.jsonObject(with: Data(ours.json.utf8))) is [String: Any])
    }

    @Test func reportJudgesCostAgainstKeepalivedAndTheReload() {
        var report = Self.report(tools: [.directord, .keepalived], intervalAt1000: 10)
        var ours = Self.run(.directord, reals: 1000, cpu: 1, detection: 0.5, rss: 20)
        ours.reloads = [ReloadFigures(changed: 1, seconds: 0.02, operations: 1), ReloadFigures(changed: 1000)]
        report.add(ours)
        report.add(Self.run(.keepalived, reals: 1000, cpu: 2, detection: 5, rss: 10))
        var large = Self.run(.directord, reals: 10000, cpu: 12, detection: 1, rss: 40)
        large.reloads = [ReloadFigures(changed: 1, seconds: 0.25, operations: 3, serversLost: 0)]
        report.add(large)
        let text = report.render()
        let rows = text.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        #expect(rows.contains("reload, 1 changed: signal to applied (ms) 20 -"), "\(text)")
        #expect(rows.contains("reload, 1,000 changed: signal to applied (ms) - -"), "\(text)")
        #expect(rows.contains("peak RSS per 1,000 real servers (MB) 20.00 10.00 0.5 x"), "\(text)")
        #expect(
            text.contains(
                "- N = 1,000: CPU per check at most 0.8 times keepalived's: met (0.50 times: 0.017 against 0.033"))
        #expect(text.contains("under 0.4 of a core met (0.20 cores); under 60 MB RSS met (40.0 MB)"))
        #expect(
            text.contains(
                "a reload with one real server changed: applied within 100 ms of the signal NOT met (250 ms); one table operation NOT met (3); no other server lost met (0)"
            ))
        let json = large.json
        #expect(
            json.contains("\"reloads\": [{\"changed\": 1, \"serversLost\": 0, \"seconds\": 0.2500, \"operations\": 3}]")
        )
    }
}
