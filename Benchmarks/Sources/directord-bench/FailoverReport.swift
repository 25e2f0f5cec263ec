import Glibc

/// Figures of the steady window: every real server up, no changes.
struct SteadyFigures {
    var window: Double
    /// CPU seconds of the tool's process tree over the window.
    var cpu: Double
    /// Checks the fleet received (accepted connections), all servers together.
    var checks: Int
    var fewestPerServer: Int
    var mostPerServer: Int
    /// The longest time any server went unchecked within the window.
    var longestGap: Double
    var serversOverGap: Int
    var neverChecked: Int
    var fleetCPU: Double
    var forks: Int
    /// Servers missing from the table (or with weight 0) at the end of the window.
    var serversDown: Int

    var cpuPerMinute: Double { cpu / window * 60 }
    var cpuPerThousandChecks: Double? { checks > 0 ? cpu / Double(checks) * 1000 : nil }
    var checksPerSecond: Double { Double(checks) / window }
}

/// Netlink traffic per table change during the fault phases. The changing requests and their
/// acknowledgements are counted as they are; reads and the whole traffic are net of the rate
/// measured in the quiet window (what the tool exchanges without any change, e.g. periodic
/// table reads), so they are noisy when that rate is high.
struct NetlinkPerChange {
    var changeRequests: Double
    /// Changing requests and their acknowledgements.
    var changeMessages: Double
    var readRequests: Double
    var messages: Double
}

/// The faults of one kind: seconds from each injection to the table showing it (nil: missed).
struct FaultOutcome {
    var kind: FleetMode
    var targets: Int
    var detection: [Double?] = []
    var recovery: [Double?] = []
}

/// Everything measured for one tool at one N.
/// One reload of the file with `changed` real servers' weights changed.
struct ReloadFigures {
    var changed: Int
    /// From the signal until the table showed every change (without the kernel: until directord
    /// logged the reload done); nil when not within the phase's time.
    var seconds: Double?
    /// Table operations the tool made for it (netlink changing requests; without the kernel,
    /// directord's own count).
    var operations: Double?
    /// Real servers in the table before the reload and out of it after.
    var serversLost = 0
}

struct RunResult {
    var tool: FailoverTool
    var reals: Int
    var services = 0
    var completed = false
    var skipped: String?
    var incomplete: String?
    var startedOn = ""
    /// checkinterval, seconds.
    var interval: Int?
    var log: String?
    var forksAtStart = 0
    var readySeconds: Double?
    var forksToReady: Int?
    var steady: SteadyFigures?
    /// CPU seconds per 1,000 checks in each of `--steady-rounds`' extra windows, in the order
    /// they ran (nil: that window did not get through).
    var roundCPUPerThousand: [Double?] = []
    /// The steady window's CPU per check and every extra window's.
    var cpuPerThousandWindows: [Double] {
        ([steady?.cpuPerThousandChecks] + roundCPUPerThousand).compactMap { $0 }
    }
    var quietMessagesPerMinute: Double?
    var quietDropped = 0
    var faults: [FaultOutcome] = []
    var netlink: NetlinkPerChange?
    var forksPerChange: Double?
    var faultDropped = 0
    var serversDownAfterFaults: Int?
    var reloads: [ReloadFigures] = []
    var peakResidentMB: Double?
    var peakThreads: Int?
    var peakProcesses: Int?
    var stopSeconds: Double?
    var totalSeconds: Double?

    init(tool: FailoverTool, reals: Int) {
        self.tool = tool
        self.reals = reals
    }

    init(tool: FailoverTool, reals: Int, skipped: String) {
        self.init(tool: tool, reals: reals)
        self.skipped = skipped
    }

    func fault(_ kind: FleetMode) -> FaultOutcome? { faults.first { $0.kind == kind } }

    var json: String {
        var fields: [(String, String)] = [
            ("tool", quoted(tool.rawValue)), ("reals", "\(reals)"), ("services", "\(services)"),
            ("completed", "\(completed)"), ("startedOn", quoted(startedOn)),
        ]
        if let interval { fields.append(("checkinterval", "\(interval)")) }
        if let skipped { fields.append(("skipped", quoted(skipped))) }
        if let incomplete { fields.append(("incomplete", quoted(incomplete))) }
        func number(_ name: String, _ value: Double?) {
            if let value, value.isFinite { fields.append((name, fixed(value, 4))) }
        }
        number("readySeconds", readySeconds)
        if let forksToReady { fields.append(("processesToReady", "\(forksToReady)")) }
        if let steady {
            fields.append(
                (
                    "steady",
                    "{\"window\": \(fixed(steady.window, 3)), \"cpuSeconds\": \(fixed(steady.cpu, 3)), "
                        + "\"checks\": \(steady.checks), \"fewestPerServer\": \(steady.fewestPerServer), "
                        + "\"mostPerServer\": \(steady.mostPerServer), \"longestGap\": \(fixed(steady.longestGap, 3)), "
                        + "\"serversOverGap\": \(steady.serversOverGap), \"neverChecked\": \(steady.neverChecked), "
                        + "\"fleetCpuSeconds\": \(fixed(steady.fleetCPU, 3)), \"processesStarted\": \(steady.forks), "
                        + "\"serversDown\": \(steady.serversDown)}"
                ))
        }
        func list(_ values: [Double?]) -> String {
            "[" + values.map { $0.map { fixed($0, 4) } ?? "null" }.joined(separator: ", ") + "]"
        }
        if !roundCPUPerThousand.isEmpty {
            fields.append(("roundCpuSecondsPerThousandChecks", list(roundCPUPerThousand)))
        }
        number("quietMessagesPerMinute", quietMessagesPerMinute)
        if !faults.isEmpty {
            fields.append(
                (
                    "faults",
                    "{"
                        + faults.map {
                            "\(quoted($0.kind.rawValue)): {\"detection\": \(list($0.detection)), \"recovery\": \(list($0.recovery))}"
                        }.joined(separator: ", ") + "}"
                ))
        }
        if let netlink {
            fields.append(
                (
                    "netlinkPerChange",
                    "{\"changeRequests\": \(fixed(netlink.changeRequests, 3)), "
                        + "\"changeMessages\": \(fixed(netlink.changeMessages, 3)), "
                        + "\"readRequests\": \(fixed(netlink.readRequests, 3)), \"messages\": \(fixed(netlink.messages, 3))}"
                ))
        }
        number("processesPerChange", forksPerChange)
        if quietDropped + faultDropped > 0 { fields.append(("tapDropped", "\(quietDropped + faultDropped)")) }
        if let serversDownAfterFaults { fields.append(("serversDownAfterFaults", "\(serversDownAfterFaults)")) }
        if !reloads.isEmpty {
            let items = reloads.map { reload in
                var item = ["\"changed\": \(reload.changed)", "\"serversLost\": \(reload.serversLost)"]
                if let seconds = reload.seconds { item.append("\"seconds\": \(fixed(seconds, 4))") }
                if let operations = reload.operations { item.append("\"operations\": \(fixed(operations, 0))") }
                return "{" + item.joined(separator: ", ") + "}"
            }
            fields.append(("reloads", "[" + items.joined(separator: ", ") + "]"))
        }
        number("peakResidentMB", peakResidentMB)
        if let peakThreads { fields.append(("peakThreads", "\(peakThreads)")) }
        if let peakProcesses { fields.append(("peakProcesses", "\(peakProcesses)")) }
        number("stopSeconds", stopSeconds)
        number("totalSeconds", totalSeconds)
        return "{" + fields.map { "\(quoted($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
    }
}

func quoted(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\t": result += "\\t"
        default:
            if scalar.value < 0x20 {
                result +=
                    "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
    }
    return result + "\""
}

/// Where the run happened.
struct MachineDescription {
    var cpuModel: String
    var cpus: Int
    var kernel: String
    var memoryMB: Int
    var loadBefore: String
    /// What bench/failover says about the host (CPU, cores, load), passed in the environment.
    var host: String?

    static func current() -> MachineDescription {
        let cpuinfo = (try? readFile("/proc/cpuinfo")) ?? ""
        let model =
            cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .flatMap { $0.split(separator: ":", maxSplits: 1).last }
            .map { String($0.drop { $0 == " " }) } ?? "unknown"
        let memory =
            ((try? readFile("/proc/meminfo")) ?? "").split(separator: "\n").first { $0.hasPrefix("MemTotal:") }
            .flatMap { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first }
            .flatMap { Int($0) } ?? 0
        return MachineDescription(
            cpuModel: model, cpus: processorCount(), kernel: uname(), memoryMB: memory / 1024,
            loadBefore: loadAverage(),
            host: getenv("DIRECTORD_BENCH_HOST").map { String(cString: $0) })
    }

    static func loadAverage() -> String {
        ((try? readFile("/proc/loadavg")) ?? "").split(separator: " ").prefix(3).joined(separator: " ")
    }

    var summary: String {
        "\(cpus) CPUs (\(cpuModel)), \(memoryMB) MB, kernel \(kernel), load average \(loadBefore)"
    }
}

/// The printed comparison.
struct FailoverReport {
    var machine: MachineDescription
    /// The checks' interval and timeout at each N.
    var settings: [Int: CheckSettings]
    var kinds: [FleetMode]
    var tools: [FailoverTool]
    var faults: Int
    var realsPerService: Int
    var steady: Double
    var pollMilliseconds: Int
    var machineAfter: String?
    private(set) var results: [RunResult] = []

    init(
        machine: MachineDescription, settings: [Int: CheckSettings], kinds: [FleetMode], tools: [FailoverTool],
        faults: Int,
        realsPerService: Int, steady: Double, pollMilliseconds: Int
    ) {
        self.machine = machine
        self.settings = settings
        self.kinds = kinds
        self.tools = tools
        self.faults = faults
        self.realsPerService = realsPerService
        self.steady = steady
        self.pollMilliseconds = pollMilliseconds
    }

    mutating func add(_ result: RunResult) { results.append(result) }

    static func kindName(_ kind: FleetMode) -> String {
        switch kind {
        case .refuse: "refused"
        case .hang: "hanging"
        case .error500: "HTTP 500"
        case .ok: "ok"
        }
    }

    /// A row: its label, the numbers of a run (one, or p50 and p99), how to print them, and
    /// whether the ratio column applies (lower is better).
    private struct Metric {
        var label: String
        var values: (RunResult) -> [Double]?
        var format: ([Double]) -> String
        var ratio = true
        /// Decimals of the ratio below 10.
        var ratioDigits = 1
    }

    private func metrics(reals: Int) -> [Metric] {
        let interval = Double(settings(reals).interval)
        var rows: [Metric] = [
            Metric(
                label: "start-up: all in the table and checked (s)", values: { $0.readySeconds.map { [$0] } },
                format: { fixed($0[0], 1) }),
            Metric(
                label: "checks per second (offered \(grouped(Double(reals) / interval)))",
                values: { $0.steady.map { [$0.checksPerSecond] } }, format: { grouped($0[0]) }, ratio: false),
            Metric(
                label: "longest gap between checks of a server (s)", values: { $0.steady.map { [$0.longestGap] } },
                format: { fixed($0[0], 2) }),
            Metric(
                label: "servers unchecked for over \(fixed(1.5 * interval, 1)) s",
                values: { $0.steady.map { [Double($0.serversOverGap)] } }, format: { grouped($0[0]) }, ratio: false),
        ]
        for (phase, times) in [("detection", \FaultOutcome.detection), ("recovery", \FaultOutcome.recovery)] {
            for kind in kinds {
                rows.append(
                    Metric(
                        label: "\(phase), \(Self.kindName(kind)) (ms, p50 / p99)",
                        values: { result in
                            result.fault(kind).flatMap { outcome in
                                guard let p50 = percentile(outcome[keyPath: times], 0.5),
                                    let p99 = percentile(outcome[keyPath: times], 0.99)
                                else { return nil }
                                return [p50, p99]
                            }
                        }, format: { "\(milliseconds($0[0])) / \(milliseconds($0[1]))" }))
            }
        }
        rows += [
            Metric(
                label: "CPU s per minute", values: { $0.steady.map { [$0.cpuPerMinute] } },
                format: { fixed($0[0], 2) }),
            Metric(
                label: "CPU s per 1,000 checks", values: { $0.steady?.cpuPerThousandChecks.map { [$0] } },
                format: { fixed($0[0], 3) }),
        ]
        if results.contains(where: { $0.reals == reals && !$0.roundCPUPerThousand.isEmpty }) {
            // The windows taken in turn (--steady-rounds): the mean cancels a drift of the machine's
            // speed that is linear over the run; the spread says how much it moved.
            rows += [
                Metric(
                    label: "CPU s per 1,000 checks, mean of the windows taken in turn",
                    values: { result in
                        let windows = result.cpuPerThousandWindows
                        return windows.count > 1 ? [windows.reduce(0, +) / Double(windows.count)] : nil
                    }, format: { fixed($0[0], 3) }, ratioDigits: 2),
                Metric(
                    label: "  windows: count, lowest / highest",
                    values: { result in
                        let windows = result.cpuPerThousandWindows
                        guard windows.count > 1, let low = windows.min(), let high = windows.max() else { return nil }
                        return [Double(windows.count), low, high]
                    }, format: { "\(fixed($0[0], 0)), \(fixed($0[1], 3)) / \(fixed($0[2], 3))" }, ratio: false),
            ]
        }
        rows += [
            Metric(label: "peak RSS (MB)", values: { $0.peakResidentMB.map { [$0] } }, format: { fixed($0[0], 1) }),
            Metric(
                label: "peak RSS per 1,000 real servers (MB)",
                values: { result in result.peakResidentMB.map { [$0 / Double(reals) * 1000] } },
                format: { fixed($0[0], 2) }),
            Metric(
                label: "threads (peak)", values: { $0.peakThreads.map { [Double($0)] } }, format: { fixed($0[0], 0) }),
            Metric(
                label: "processes started per change", values: { $0.forksPerChange.map { [$0] } },
                format: { fixed($0[0], 1) }),
            Metric(
                label: "netlink per change: changing requests / + acks",
                values: { $0.netlink.map { [$0.changeRequests, $0.changeMessages] } },
                format: { "\(fixed($0[0], 2)) / \(fixed($0[1], 2))" }),
            Metric(
                label: "netlink per change, net: read requests / all msgs",
                values: { $0.netlink.map { [$0.readRequests, $0.messages] } },
                format: { "\(fixed($0[0], 1)) / \(fixed($0[1], 1))" }),
            Metric(
                label: "netlink messages per minute, no change", values: { $0.quietMessagesPerMinute.map { [$0] } },
                format: { fixed($0[0], 0) }),
        ]
        for changed in Set(results.filter { $0.reals == reals }.flatMap { $0.reloads.map(\.changed) }).sorted() {
            func reload(_ result: RunResult) -> ReloadFigures? { result.reloads.first { $0.changed == changed } }
            rows += [
                Metric(
                    label: "reload, \(grouped(Double(changed))) changed: signal to applied (ms)",
                    values: { reload($0)?.seconds.map { [$0] } }, format: { milliseconds($0[0]) }),
                Metric(
                    label: "reload, \(grouped(Double(changed))) changed: table operations",
                    values: { reload($0)?.operations.map { [$0] } }, format: { grouped($0[0]) }),
                Metric(
                    label: "reload, \(grouped(Double(changed))) changed: other servers lost",
                    values: { reload($0).map { [Double($0.serversLost)] } }, format: { grouped($0[0]) }, ratio: false),
            ]
        }
        rows += [
            Metric(
                label: "healthy servers out of the table",
                values: { result in
                    result.steady.map { [Double($0.serversDown + (result.serversDownAfterFaults ?? 0))] }
                }, format: { fixed($0[0], 0) }, ratio: false),
            Metric(
                label: "the fleet's CPU s per minute", values: { $0.steady.map { [$0.fleetCPU / $0.window * 60] } },
                format: { fixed($0[0], 2) }, ratio: false),
        ]
        return rows
    }

    func settings(_ reals: Int) -> CheckSettings {
        settings[reals] ?? settings.values.first ?? CheckSettings(interval: 1, timeout: 1)
    }

    func render() -> String {
        var out = ""
        func line(_ text: String = "") { out += text + "\n" }
        line("directord-bench failover: detection, recovery and steady cost, side by side in one run")
        line("machine: \(machine.summary); load average after: \(machineAfter ?? "-")")
        if let host = machine.host { line("host: \(host)") }
        let counts = settings.keys.sorted()
        let intervals = Set(counts.map { settings($0).interval })
        let every =
            intervals.count == 1
            ? "\(intervals.first!) s"
            : counts.map { "\(settings($0).interval) s at N = \(grouped(Double($0)))" }.joined(separator: ", ")
        line(
            "checks: HTTP GET /health every \(every), answer 2xx with \"OK\" within \(settings(counts.first ?? 0).timeout) s, "
                + "one failure takes a server out (deleted), one success puts it back")
        line(
            "fleet: N ports below 32768 of 127.0.0.1 (then 127.0.0.2, ...; one process per \(grouped(Double(FleetProcess.perProcess)))), in virtual services of \(realsPerService); faults: refused = "
                + "listener closed, hanging = accepts and never answers, HTTP 500 = answers 500")
        line(
            "faults: up to \(faults) of each kind per run on servers spread over the configuration, injected "
                + "evenly over one check interval; the table is dumped "
                + "every \(pollMilliseconds) ms per watched virtual service; steady window \(fixed(steady, 0)) s")
        line("ratios: the other tool's figure divided by directord's (above 1: directord is faster, smaller, cheaper)")
        let others = tools.filter { $0 != .directord }
        let reals = results.map(\.reals).reduce(into: [Int]()) { if !$0.contains($1) { $0.append($1) } }
        for count in reals {
            line()
            let runs = Dictionary(results.filter { $0.reals == count }.map { ($0.tool, $0) }, uniquingKeysWith: { $1 })
            let services = runs.values.map(\.services).max() ?? 0
            var header = ["N = \(grouped(Double(count))) (\(services) virtual service\(services == 1 ? "" : "s"))"]
            header += tools.map(\.rawValue)
            if tools.contains(.directord) { header += others.map { "\($0.rawValue) / directord" } }
            var table = [header]
            var status = ["status"]
            for tool in tools {
                guard let run = runs[tool] else {
                    status.append("-")
                    continue
                }
                status.append(
                    run.completed ? "completed" : run.skipped != nil ? "not run" : "incomplete")
            }
            if tools.contains(.directord) { status += others.map { _ in "" } }
            table.append(status)
            var started = ["started on"]
            for tool in tools { started.append(runs[tool].map { $0.skipped == nil ? $0.startedOn : "-" } ?? "-") }
            if tools.contains(.directord) { started += others.map { _ in "" } }
            table.append(started)
            for metric in metrics(reals: count) {
                var row = [metric.label]
                for tool in tools { row.append(runs[tool].flatMap(metric.values).map(metric.format) ?? "-") }
                if tools.contains(.directord) {
                    for other in others {
                        guard metric.ratio, let ours = runs[.directord].flatMap(metric.values),
                            let theirs = runs[other].flatMap(metric.values)
                        else {
                            row.append("")
                            continue
                        }
                        row.append(
                            zip(theirs, ours).map { ratio($0, $1, digits: metric.ratioDigits) }.joined(separator: " / ")
                                + " x")
                    }
                }
                table.append(row)
            }
            out += Self.align(table)
            for tool in tools {
                guard let run = runs[tool] else { continue }
                if let reason = run.incomplete ?? run.skipped { line("  \(tool.rawValue): \(reason)") }
            }
        }
        line()
        out += aims()
        return out
    }

    private func ratio(_ theirs: Double, _ ours: Double, digits: Int = 1) -> String {
        if !theirs.isFinite { return ours.isFinite ? "inf" : "-" }
        if !ours.isFinite { return "0" }
        if ours <= 0 { return theirs <= 0 ? "1" : "inf" }
        let value = theirs / ours
        return value >= 10 ? fixed(value, 0) : fixed(value, digits)
    }

    /// The issue's aims, judged on directord's figures.
    private func aims() -> String {
        var out = "aims (directord):\n"
        let ours = results.filter { $0.tool == .directord && $0.skipped == nil }
        var judged = false
        for run in ours {
            let settings = settings(run.reals)
            let bound = Double(settings.interval + settings.timeout) + 0.1
            var worst: (Double, FleetMode)?
            for outcome in run.faults {
                if let p99 = percentile(outcome.detection, 0.99), worst == nil || p99 > worst!.0 {
                    worst = (p99, outcome.kind)
                }
            }
            guard let worst else { continue }
            judged = true
            out +=
                "- N = \(grouped(Double(run.reals))): detection p99 within checkinterval + timeout + 100 ms = "
                + "\(fixed(bound * 1000, 0)) ms: \(worst.0 <= bound ? "met" : "NOT met") (worst \(milliseconds(worst.0)) ms, "
                + "\(Self.kindName(worst.1)))\n"
        }
        if !judged { out += "- detection p99 within checkinterval + timeout + 100 ms: not measured\n" }
        if let ours = results.first(where: { $0.tool == .directord && $0.reals == 1000 })?.steady,
            let theirs = results.first(where: { $0.tool == .ldirectord && $0.reals == 1000 })?.steady
        {
            let perMinute = theirs.cpuPerMinute / ours.cpuPerMinute
            let perCheck = (theirs.cpuPerThousandChecks ?? 0) / (ours.cpuPerThousandChecks ?? .infinity)
            out +=
                "- N = 1,000: at least 10 times less CPU than ldirectord: \(perMinute >= 10 && perCheck >= 10 ? "met" : "NOT met") "
                + "(\(fixed(perMinute, 1)) x per minute, \(fixed(perCheck, 1)) x per 1,000 checks)\n"
        } else {
            out += "- N = 1,000: 10 times less CPU than ldirectord: not measured (both must complete at N = 1,000)\n"
        }
        // Issue 18's aims (issue 6 asked for under 1 core and 100 MB at N = 10,000): N, the
        // interval they are for, cores, MB.
        for (reals, aimedInterval, cores, coresText, megabytes) in [
            (10000, 1, 0.4, "0.4 of a core", 60.0), (50000, 5, 1.0, "one core", 250.0),
        ] {
            let name = "N = \(grouped(Double(reals)))"
            guard let run = results.first(where: { $0.tool == .directord && $0.reals == reals }),
                let steady = run.steady
            else {
                if reals == 10000 { out += "- \(name): not measured\n" }
                continue
            }
            let interval = Double(settings(reals).interval)
            // No long gap is not enough: a saturated loop checks each server a little late every
            // time, so each must also have been checked once per interval of the window (one
            // fewer for where the window's edges fall).
            let everyInterval =
                steady.serversOverGap == 0 && steady.neverChecked == 0
                && steady.fewestPerServer >= Int(steady.window / interval) - 1
            let core = steady.cpuPerMinute < cores * 60
            let memory = (run.peakResidentMB ?? .infinity) < megabytes
            out +=
                "- \(name), checkinterval = \(settings(reals).interval)"
                + "\(Int(interval) == aimedInterval ? "" : " (the aim is for \(aimedInterval))"): "
                + "every server checked every interval "
                + "\(everyInterval ? "met" : "NOT met") (longest gap \(fixed(steady.longestGap, 2)) s, "
                + "\(steady.serversOverGap) over \(fixed(1.5 * interval, 1)) s, \(steady.fewestPerServer) to "
                + "\(steady.mostPerServer) checks per server in \(fixed(steady.window, 0)) s); under \(coresText) "
                + "\(core ? "met" : "NOT met") (\(fixed(steady.cpuPerMinute / 60, 2)) cores); under "
                + "\(Int(megabytes)) MB RSS \(memory ? "met" : "NOT met") (\(fixed(run.peakResidentMB ?? 0, 1)) MB)\n"
        }
        for ours in results where ours.tool == .directord {
            guard let other = results.first(where: { $0.tool == .keepalived && $0.reals == ours.reals }) else {
                continue
            }
            // With windows taken in turn (--steady-rounds), their means: one window of each tool
            // is at the mercy of the machine's drift between the two.
            let (mine, theirs) = (ours.cpuPerThousandWindows, other.cpuPerThousandWindows)
            guard !mine.isEmpty, !theirs.isEmpty else { continue }
            let (meanMine, meanTheirs) = (
                mine.reduce(0, +) / Double(mine.count), theirs.reduce(0, +) / Double(theirs.count)
            )
            let windows =
                mine.count > 1 || theirs.count > 1 ? ", means of \(mine.count) and \(theirs.count) windows" : ""
            out +=
                "- N = \(grouped(Double(ours.reals))): CPU per check at most 0.8 times keepalived's: "
                + "\(meanMine <= 0.8 * meanTheirs ? "met" : "NOT met") (\(fixed(meanMine / meanTheirs, 2)) times: "
                + "\(fixed(meanMine, 3)) against \(fixed(meanTheirs, 3)) CPU s per 1,000 checks\(windows))\n"
        }
        if let run = results.first(where: { $0.tool == .directord && $0.reals == 10000 }),
            let reload = run.reloads.first(where: { $0.changed == 1 })
        {
            let fast = (reload.seconds ?? .infinity) <= 0.1
            let one = reload.operations == 1
            out +=
                "- N = 10,000, a reload with one real server changed: applied within 100 ms of the signal "
                + "\(fast ? "met" : "NOT met") (\(reload.seconds.map { "\(milliseconds($0)) ms" } ?? "not seen")); one "
                + "table operation \(one ? "met" : "NOT met") (\(reload.operations.map { fixed($0, 0) } ?? "?")); no other "
                + "server lost \(reload.serversLost == 0 ? "met" : "NOT met") (\(reload.serversLost))\n"
        }
        return out
    }

    /// Columns padded to their widest cell: the first left-aligned, the others right-aligned.
    static func align(_ rows: [[String]]) -> String {
        let columns = rows.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columns)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        var out = ""
        for row in rows {
            var text = ""
            for (index, cell) in row.enumerated() {
                if index == 0 {
                    text += benchPad(cell, widths[0])
                } else {
                    text += "  " + benchPadLeft(cell, widths[index])
                }
            }
            while text.hasSuffix(" ") { text.removeLast() }
            out += text + "\n"
        }
        return out
    }
}

/// 12345.6 → "12,346".
func grouped(_ value: Double) -> String {
    guard value.isFinite else { return "-" }
    if abs(value) < 10 && value != value.rounded() { return fixed(value, 1) }
    var digits = String(Int(value.rounded()))
    var result = ""
    let negative = digits.hasPrefix("-")
    if negative { digits.removeFirst() }
    for (index, character) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { result += "," }
        result.append(character)
    }
    return (negative ? "-" : "") + result
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for the fleet, the watcher and the driver.
func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}
