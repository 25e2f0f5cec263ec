import ArgumentParser
import DirectordCore
import DirectordIPVS
import DirectordTestSupport
import Glibc

/// How fast a dead real server is taken out, what checking costs, and whether it holds at
/// thousands of real servers: directord, ldirectord and keepalived side by side, in one run,
/// on the same generated configuration, the same fleet and the same faults. Needs root and the
/// kernel's IPVS; run it in the lab with bench/failover.
///
/// For each N and each tool: start the tool, wait until every real server is in the table and
/// has been checked (start-up), measure the steady cost over a window with all servers up
/// (CPU of the tool's process tree, checks counted by the fleet, the longest time a server
/// went unchecked, memory, threads), count the netlink messages of a quiet window, then inject
/// faults of each kind (refused, hanging, HTTP 500), staggered over one check interval on
/// servers spread evenly over the configuration, and time from each injection to the moment
/// the kernel's table shows it (a dump of that server's virtual service every few
/// milliseconds); then restore them and time their return.
struct FailoverBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "failover",
        abstract: "Detection, recovery and steady cost of directord, ldirectord and keepalived on N real servers.",
        discussion: """
            Prints one table: for each N, a column per tool and the ratios of ldirectord's and \
            keepalived's figures to directord's (above 1: directord is faster, smaller or cheaper). \
            Times come from CLOCK_MONOTONIC, shared by the fleet (which stamps each injection) and the \
            watcher (which stamps the dump that first shows the change). See docs/benchmark-results.md.
            """)

    @Option(help: "Numbers of real servers, comma-separated.")
    var reals = "100,1000,10000"

    @Option(help: "Tools, comma-separated, in the order they run at each N.")
    var tools = "directord,ldirectord,keepalived"

    @Option(
        help: """
            checkinterval (keepalived: delay_loop), seconds: one value, one per --reals value, or auto: N / 100 \
            (at least 1), so that the emulated machine is offered 100 checks a second at every N.
            """)
    var interval = "auto"

    @Option(help: "checktimeout and negotiatetimeout (keepalived: connect_timeout), seconds.")
    var timeout = 2

    @Option(help: "Fault kinds, comma-separated: refuse, hang, 500.")
    var kinds = "refuse,hang,500"

    @Option(help: "Faults of each kind per run (at most N / number of kinds).")
    var faults = 20

    @Option(help: "Real servers per virtual service.")
    var realsPerService = 100

    @Option(help: "Seconds of the steady window (CPU, checks, memory).")
    var steady = 60.0

    @Option(
        help: """
            Extra steady windows per tool at each N after the full runs, each after a start of its own; the \
            tools take turns in ABBA order (the full runs in the order of --tools, then reversed, then forward \
            again, ...), so that a drift of the machine's speed during the run (the emulated one moved by over \
            10 % between windows) weighs on every tool alike. The table adds each tool's mean CPU per check \
            over all its windows, and their spread.
            """)
    var steadyRounds = 0

    @Option(help: "Seconds of the quiet window counting netlink messages without changes.")
    var quiet = 20.0

    @Option(help: "Milliseconds between two dumps of a watched virtual service.")
    var pollMilliseconds = 10

    @Option(help: "Seconds a tool may take to start (every server in the table and checked once).")
    var startTimeout = 2400.0

    @Option(help: "Seconds after which a start projected to take over twice --start-timeout is given up.")
    var startPatience = 300.0

    @Option(help: "Seconds a fault phase may last at least (longer when the tool's check cycle is longer).")
    var phaseTimeout = 60.0

    @Option(
        help: """
            Seconds one tool may take at one N, start-up included; past it the remaining phases are skipped \
            (the default keeps a whole run near an hour in the lab; ldirectord at N = 1,000 needs about 2,400).
            """)
    var budget = 1200.0

    @Option(help: "Tools started on a table already holding every real server, comma-separated.")
    var prefill = "ldirectord"

    @Option(help: "The directord executable (default: next to this one).")
    var directord: String?

    @Option(
        parsing: .unconditional,
        help: "directord's arguments, space-separated; CONFIG stands for the configuration file.")
    var directordArguments = "CONFIG start"

    @Option(help: "The ldirectord executable.")
    var ldirectord = "/usr/sbin/ldirectord"

    @Option(help: "The keepalived executable.")
    var keepalived = "/usr/sbin/keepalived"

    @Option(
        help: ArgumentHelp(
            "Real servers whose weight each reload changes, comma-separated: one reload each, after the faults "
                + "(none: no reloads); at most N."))
    var reloads = "1,1000"

    @Option(help: "First port of the fleet.")
    var basePort = 20000

    @Option(help: "Directory for the generated configurations and the tools' logs.")
    var work = "/tmp/directord-bench-failover"

    @Option(help: "Append each run's figures to this file as JSON lines.")
    var results: String?

    @Flag(
        help: """
            Without the kernel's IPVS (e.g. on a development host): the steady cost only, directord with \
            --dry-run and ldirectord (whose ipvsadm calls fail; none are made once every server is up); no \
            faults, no table, no keepalived.
            """)
    var noKernel = false

    func validate() throws {
        guard try parsedIntervals().allSatisfy({ $0 >= 1 }), timeout >= 1, faults >= 1, realsPerService >= 1,
            pollMilliseconds >= 1
        else {
            throw ValidationError(
                "--interval, --timeout, --faults, --reals-per-service, --poll-milliseconds must be positive")
        }
        guard try parsedIntervals().count == 1 || parsedIntervals().count == parsedReals().count else {
            throw ValidationError("--interval: one value, or as many as --reals has")
        }
        _ = try parsedReals()
        _ = try parsedTools()
        _ = try parsedKinds()
    }

    func parsedReals() throws -> [Int] {
        let values = reals.split(separator: ",").map { Int($0.filter { $0 != " " && $0 != "_" }) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 3 && ($0 ?? 0) <= 100_000 }) else {
            throw ValidationError(
                "--reals: numbers from 3 to 100000 (from 127.0.0.1 on, as many loopback addresses as the ports need)")
        }
        return values.compactMap { $0 }
    }

    func parsedIntervals() throws -> [Int] {
        if interval == "auto" { return try parsedReals().map { max(1, $0 / 100) } }
        return try interval.split(separator: ",").map {
            guard let value = Int($0.filter { $0 != " " }) else { throw ValidationError("--interval: numbers") }
            return value
        }
    }

    /// The checks' settings at each N.
    func parsedSettings() throws -> [Int: CheckSettings] {
        let counts = try parsedReals()
        let intervals = try parsedIntervals()
        var settings: [Int: CheckSettings] = [:]
        for (index, count) in counts.enumerated() {
            settings[count] = CheckSettings(
                interval: intervals.count == 1 ? intervals[0] : intervals[index], timeout: timeout)
        }
        return settings
    }

    func parsedTools() throws -> [FailoverTool] {
        try tools.split(separator: ",").map {
            guard let tool = FailoverTool(rawValue: String($0)) else { throw ValidationError("unknown tool \($0)") }
            return tool
        }
    }

    func parsedKinds() throws -> [FleetMode] {
        try kinds.split(separator: ",").map {
            guard let kind = FleetMode(rawValue: String($0)), kind != .ok else {
                throw ValidationError("unknown fault kind \($0) (refuse, hang, 500)")
            }
            return kind
        }
    }

    func run() throws {
        raiseFileLimit()
        signal(SIGPIPE, SIG_IGN)
        mkdir(work, 0o755)
        let counts = try parsedReals()
        let toolList = try parsedTools()
        let kindList = try parsedKinds()
        let prefilled = Set(prefill.split(separator: ",").compactMap { FailoverTool(rawValue: String($0)) })
        let executable = try readLink("/proc/self/exe")
        var commands = ToolCommands(
            directord: directord
                ?? (executable.split(separator: "/", omittingEmptySubsequences: false).dropLast()
                    .joined(separator: "/") + "/directord"),
            directordArguments: directordArguments.split(separator: " ").map(String.init),
            ldirectord: ldirectord, keepalived: keepalived)
        if noKernel { commands.directordArguments.insert("--dry-run", at: 0) }
        for tool in toolList where access(commands.executable(for: tool), X_OK) != 0 {
            throw ValidationError(
                "\(tool.rawValue): \(commands.executable(for: tool)) is not there (or not executable)")
        }

        var kernel: KernelAccess?
        if !noKernel {
            let watcher = try IPVSWatcher()
            var tap: NetlinkTap?
            do {
                tap = try NetlinkTap(ignoringPort: watcher.portID, family: watcher.family)
            } catch {
                log("no netlink counts: \(error)")
            }
            kernel = KernelAccess(watcher: watcher, client: try NetlinkIPVSClient(), tap: tap)
        }
        let machine = MachineDescription.current()
        let settings = try parsedSettings()
        var report = FailoverReport(
            machine: machine, settings: settings, kinds: kindList, tools: toolList, faults: faults,
            realsPerService: realsPerService, steady: steady, pollMilliseconds: pollMilliseconds)
        log("machine: \(machine.summary)")

        var stoppedAt: [FailoverTool: String] = [:]
        for count in counts {
            let layout = FleetLayout(reals: count, perService: realsPerService, basePort: basePort)
            let fleet = try FleetProcess(executable: executable, basePort: basePort, count: count)
            defer { fleet.stop() }
            func runner(_ tool: FailoverTool) -> FailoverRun {
                FailoverRun(
                    bench: self, tool: tool, layout: layout, settings: settings[count]!, kinds: kindList,
                    prefilled: prefilled.contains(tool) && kernel != nil, commands: commands, fleet: fleet,
                    kernel: kernel)
            }
            var runs: [RunResult] = []
            for tool in toolList {
                if let reason = stoppedAt[tool] {
                    runs.append(RunResult(tool: tool, reals: count, skipped: reason))
                    continue
                }
                if noKernel && tool == .keepalived {
                    runs.append(
                        RunResult(tool: tool, reals: count, skipped: "not run: keepalived needs the kernel's IPVS"))
                    continue
                }
                var run = runner(tool)
                let result = run.run()
                runs.append(result)
                // A tool that never got ready is not tried on more servers; one that ran out of
                // its budget later (in the fault phases) still is, to see where it stops.
                if !result.completed && result.readySeconds == nil {
                    stoppedAt[tool] = "not run: \(tool.rawValue) did not get ready at N = \(grouped(Double(count)))"
                }
            }
            // The extra steady windows in ABBA order: reversed in the first round, forward in the
            // second, ... Only tools whose full run got through its steady window take part.
            let taking = runs.indices.filter { runs[$0].steady != nil }
            for round in 0..<(taking.isEmpty ? 0 : steadyRounds) {
                for index in round.isMultiple(of: 2) ? taking.reversed() : taking {
                    var run = runner(runs[index].tool)
                    runs[index].roundCPUPerThousand.append(run.steadyRound())
                }
            }
            for result in runs {
                report.add(result)
                if let results { appendLine(results, result.json) }
            }
        }
        report.machineAfter = MachineDescription.loadAverage()
        let text = Array(report.render().utf8)
        var written = 0
        while written < text.count {
            let count = text[written...].withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            written += count
        }
    }
}

/// One tool at one N.
struct FailoverRun {
    let bench: FailoverBench
    let tool: FailoverTool
    let layout: FleetLayout
    let settings: CheckSettings
    let kinds: [FleetMode]
    let prefilled: Bool
    let commands: ToolCommands
    let fleet: FleetProcess
    let kernel: KernelAccess?

    private var result: RunResult!
    private var figures = ToolFigures()
    private var process: ToolProcess!
    private var started: UInt64 = 0
    private var quiet: (counts: NetlinkTap.Counts, window: Double)?
    private var configurationPath = ""
    private var quietForkRate: Double?

    init(
        bench: FailoverBench, tool: FailoverTool, layout: FleetLayout, settings: CheckSettings, kinds: [FleetMode],
        prefilled: Bool, commands: ToolCommands, fleet: FleetProcess, kernel: KernelAccess?
    ) {
        self.bench = bench
        self.tool = tool
        self.layout = layout
        self.settings = settings
        self.kinds = kinds
        self.prefilled = prefilled
        self.commands = commands
        self.fleet = fleet
        self.kernel = kernel
    }

    private var name: String { "\(tool.rawValue) N=\(layout.reals)" }
    private var tap: NetlinkTap? { kernel?.tap }
    private var elapsed: Double { seconds(since: started) }

    struct Stop: Error {
        var reason: String
    }

    mutating func run() -> RunResult {
        result = RunResult(tool: tool, reals: layout.reals)
        result.services = layout.services
        result.interval = settings.interval
        result.startedOn = kernel == nil ? "no kernel" : prefilled ? "pre-filled table" : "empty table"
        do {
            try prepare()
            try startUp()
            try steadyWindow()
            if kernel != nil {
                try quietWindow()
                try faultPhases()
            }
            try reloadPhases()
            result.completed = true
        } catch let stop as Stop {
            result.incomplete = stop.reason
            log("\(name): \(stop.reason)")
        } catch {
            result.incomplete = "\(error)"
            log("\(name): \(error)")
        }
        finish()
        return result
    }

    /// One of `--steady-rounds`' extra windows: a start, then the steady window only.
    /// - Returns: CPU seconds per 1,000 checks in the window; nil when it did not get that far.
    mutating func steadyRound() -> Double? {
        result = RunResult(tool: tool, reals: layout.reals)
        do {
            try prepare()
            try startUp()
            try steadyWindow()
        } catch let stop as Stop {
            log("\(name): extra steady window: \(stop.reason)")
        } catch {
            log("\(name): extra steady window: \(error)")
        }
        finish()
        return result.steady?.cpuPerThousandChecks
    }

    // MARK: Phases

    private mutating func prepare() throws {
        try kernel?.client.flush()
        try fleet.reset()
        let directory = "\(bench.work)/\(tool.rawValue)-\(layout.reals)"
        mkdir(directory, 0o755)
        let configuration = "\(directory)/\(tool == .keepalived ? "keepalived.conf" : "bench.cf")"
        configurationPath = configuration
        try writeConfiguration(weights: [:])
        if prefilled, let kernel {
            try kernel.client.apply(TableDiff.diff(from: IPVSTable(), to: layout.fullTable))
        }
        try fleet.startWindow()
        result.forksAtStart = ProcessTable.forks()
        let arguments = commands.arguments(for: tool, configuration: configuration, directory: directory)
        log("\(name): starting \(arguments.joined(separator: " "))")
        started = monotonicNanoseconds()
        process = try ToolProcess(
            arguments, log: "\(directory)/output.log", environment: ["DIRECTORD_RUN_DIR": directory])
        result.log = "\(directory)/output.log"
    }

    /// Until every real server is in the table with a weight and has been checked at least once.
    ///
    /// A start that is plainly going to take far longer than `--start-timeout` is given up
    /// after `--start-patience` seconds, with the projection: progress is the larger of the
    /// share of servers checked and, for ldirectord on a pre-filled table, the share of the
    /// 2 N `ipvsadm -L -n` runs its start makes (two table reads per real server already in the
    /// table, before its first check).
    private mutating func startUp() throws {
        var inTable = 0
        var stats = try fleet.stats(gapThreshold: 1e9)
        var projected: Double?
        var flapping = false
        while elapsed < bench.startTimeout {
            try ensureRunning()
            figures.sample(process.pid)
            stats = try fleet.stats(gapThreshold: 1e9)
            if stats.neverChecked == 0 {
                inTable = try serversUp()
                if inTable == layout.reals { break }
            }
            if elapsed > bench.startPatience {
                // Every server checked, yet not all in the table at once: the tool cannot keep up
                // with its checks (they time out, servers flap); waiting longer changes nothing.
                if stats.neverChecked == 0 {
                    flapping = true
                    break
                }
                var progress = Double(layout.reals - stats.neverChecked) / Double(layout.reals)
                if tool == .ldirectord && prefilled {
                    let reads = ProcessTable.forks() - result.forksAtStart
                    progress = max(progress, min(1, Double(reads) / Double(2 * layout.reals)))
                }
                if progress > 0, elapsed / progress > 2 * bench.startTimeout {
                    projected = elapsed / progress
                    break
                }
            }
            usleep(500_000)
        }
        guard stats.neverChecked == 0, inTable == layout.reals else {
            if stats.neverChecked != 0 { inTable = try serversUp() }
            let forks = ProcessTable.forks() - result.forksAtStart
            var reason =
                "not ready after \(fixed(elapsed, 0)) s: \(inTable) of \(layout.reals) real servers in the table, "
                + "\(stats.neverChecked) never checked; \(forks) processes started meanwhile"
            if flapping {
                reason +=
                    "; every server was checked, but they drop out again faster than they come back (checks "
                    + "failing under load?)"
            }
            if let projected {
                reason +=
                    "; at that pace it would take about \(fixed(projected / 60, 0)) minutes (given up, "
                    + "the start timeout being \(fixed(bench.startTimeout, 0)) s)"
            }
            throw Stop(reason: reason)
        }
        result.readySeconds = elapsed
        result.forksToReady = ProcessTable.forks() - result.forksAtStart
        log("\(name): ready after \(fixed(elapsed, 1)) s (\(result.forksToReady!) processes started)")
        // Let start-up work (first checks still in flight, logs) die down.
        sleepSeconds(Double(settings.interval + settings.timeout))
    }

    private mutating func steadyWindow() throws {
        try checkBudget()
        try fleet.startWindow()
        let cpuStart = ToolFigures.cpuSeconds(figures.sample(process.pid))
        let fleetStart = fleet.ownTicks
        let forksStart = ProcessTable.forks()
        let windowStart = monotonicNanoseconds()
        while seconds(since: windowStart) < bench.steady {
            try ensureRunning()
            sleepSeconds(min(1, bench.steady - seconds(since: windowStart)))
            figures.sample(process.pid)
        }
        let window = seconds(since: windowStart)
        let cpu = ToolFigures.cpuSeconds(figures.sample(process.pid)) - cpuStart
        let stats = try fleet.stats(gapThreshold: 1.5 * Double(settings.interval))
        let fleetCPU =
            Double(fleet.ownTicks - fleetStart) / ProcessTable.ticksPerSecond
        let up = try serversUp()
        result.steady = SteadyFigures(
            window: window, cpu: cpu, checks: stats.total, fewestPerServer: stats.fewest, mostPerServer: stats.most,
            longestGap: stats.longestGap, serversOverGap: stats.portsOverGap, neverChecked: stats.neverChecked,
            fleetCPU: fleetCPU, forks: ProcessTable.forks() - forksStart, serversDown: layout.reals - up)
        log(
            "\(name): steady \(fixed(window, 0)) s: \(fixed(cpu, 2)) CPU s, \(stats.total) checks, longest gap "
                + "\(fixed(stats.longestGap, 2)) s, fleet \(fixed(fleetCPU, 2)) CPU s")
    }

    private mutating func quietWindow() throws {
        try checkBudget()
        guard let tap else { return }
        try tap.setUp(true)
        defer { try? tap.setUp(false) }
        let before = tap.counts
        let forks = ProcessTable.forks()
        let start = monotonicNanoseconds()
        sleepSeconds(bench.quiet)
        try ensureRunning()
        let window = seconds(since: start)
        let counted = tap.counts - before
        quiet = (counted, window)
        quietForkRate = Double(ProcessTable.forks() - forks) / window
        result.quietMessagesPerMinute = Double(counted.messages) / window * 60
        result.quietDropped = counted.dropped
    }

    private mutating func faultPhases() throws {
        let perKind = min(bench.faults, layout.reals / kinds.count)
        let stride = layout.reals / perKind
        // Long enough for the tool's whole check cycle, as the steady window measured it, and
        // for every fault of a phase hanging a sequential checker for its timeout.
        var cycle = Double(settings.interval)
        if let steady = result.steady {
            cycle = max(steady.longestGap, Double(layout.reals) / max(steady.checksPerSecond, 0.01))
        }
        let bound = max(bench.phaseTimeout, 2 * cycle + Double(perKind * settings.timeout) + 10)
        var counted = NetlinkTap.Counts()
        var forks = 0
        var quietForks = 0.0
        var changes = 0
        var phasesDuration = 0.0
        for (kindIndex, kind) in kinds.enumerated() {
            let offset = kindIndex * stride / kinds.count
            let targets = (0..<perKind).map { $0 * stride + offset }
            var outcome = FaultOutcome(kind: kind, targets: targets.count)
            for restoring in [false, true] {
                try checkBudget()
                try tap?.setUp(true)
                let before = tap?.counts
                let forksBefore = ProcessTable.forks()
                let start = monotonicNanoseconds()
                let times = try phase(kind: kind, targets: targets, restoring: restoring, bound: bound)
                // The tool's last change of the phase may still be acknowledged: a moment more.
                sleepSeconds(0.2)
                let duration = seconds(since: start)
                if let tap, let before {
                    let phase = tap.counts - before
                    try tap.setUp(false)
                    counted = counted + phase
                    phasesDuration += duration
                }
                forks += ProcessTable.forks() - forksBefore
                quietForks += (quietForkRate ?? 0) * duration
                changes += times.compactMap { $0 }.count
                if restoring { outcome.recovery = times } else { outcome.detection = times }
                log(
                    "\(name): \(kind.rawValue) \(restoring ? "recovery" : "detection"): "
                        + "p50 \(milliseconds(percentile(times, 0.5))) p99 \(milliseconds(percentile(times, 0.99))) ms, "
                        + "\(times.filter { $0 == nil }.count) missed")
            }
            result.faults.append(outcome)
            figures.sample(process.pid)
        }
        result.serversDownAfterFaults = layout.reals - (try serversUp())
        if changes > 0 {
            if tap != nil, let quiet {
                // Net of what the tool exchanges anyway (periodic reads) in the same time.
                let scale = phasesDuration / quiet.window
                func net(_ value: Int, _ base: Int) -> Double {
                    max(0, Double(value) - Double(base) * scale) / Double(changes)
                }
                result.netlink = NetlinkPerChange(
                    changeRequests: net(counted.changeRequests, quiet.counts.changeRequests),
                    changeMessages: net(
                        counted.changeRequests + counted.changeAnswers,
                        quiet.counts.changeRequests + quiet.counts.changeAnswers),
                    readRequests: net(counted.readRequests, quiet.counts.readRequests),
                    messages: net(counted.messages, quiet.counts.messages))
                result.faultDropped = counted.dropped
            }
            result.forksPerChange = max(0, Double(forks) - quietForks) / Double(changes)
        }
    }

    /// Injects (or lifts) the fault on every target, staggered evenly over one check interval in
    /// a shuffled order, and returns for each the seconds until the table showed it (nil: not
    /// within `bound` seconds after the last injection).
    private mutating func phase(kind: FleetMode, targets: [Int], restoring: Bool, bound: Double) throws -> [Double?] {
        var random = SplitMix64(state: UInt64(layout.reals) &* 31 &+ UInt64(kind.rawValue.count) &+ (restoring ? 7 : 0))
        let order = Array(targets.indices).shuffled(using: &random)
        let stagger = UInt64(Double(settings.interval) * 1e9) / UInt64(targets.count)
        let first = monotonicNanoseconds() + 50_000_000
        var injected = [UInt64?](repeating: nil, count: targets.count)
        var seen = [UInt64?](repeating: nil, count: targets.count)
        var next = 0
        let poll = UInt64(bench.pollMilliseconds) * 1_000_000
        let deadline = first + stagger * UInt64(targets.count) + UInt64(bound * 1e9)
        var lastRunningCheck: UInt64 = 0
        while true {
            var now = monotonicNanoseconds()
            while next < order.count, now >= first + stagger * UInt64(next) {
                let target = order[next]
                injected[target] = try fleet.set(targets[target], restoring ? .ok : kind)
                next += 1
                now = monotonicNanoseconds()
            }
            // Dump each virtual service that holds a server being waited on.
            var waiting: [Int: [Int]] = [:]
            for (target, real) in targets.enumerated() where injected[target] != nil && seen[target] == nil {
                waiting[layout.service(of: real), default: []].append(target)
            }
            for (service, members) in waiting {
                let weights = try kernel!.watcher.destinations(address: layout.serviceAddress(service), port: 80)
                let at = monotonicNanoseconds()
                for target in members {
                    let weight = weights[layout.key(of: targets[target])] ?? 0
                    if restoring ? weight > 0 : weight == 0 { seen[target] = at }
                }
            }
            now = monotonicNanoseconds()
            if next == order.count && !seen.contains(where: { $0 == nil }) { break }
            if now > deadline { break }
            if now - lastRunningCheck > 1_000_000_000 {
                try ensureRunning()
                lastRunningCheck = now
            }
            var wake = now + poll
            if next < order.count { wake = min(wake, first + stagger * UInt64(next)) }
            if wake > now { usleep(UInt32((wake - now) / 1000)) }
        }
        return targets.indices.map { target in
            guard let at = seen[target], let from = injected[target] else { return nil }
            return at > from ? Double(at - from) / 1e9 : 0
        }
    }

    private mutating func finish() {
        if process != nil {
            let tree = figures.sample(process.pid)
            result.peakResidentMB = Double(figures.peakResidentKB) / 1024
            result.peakThreads = figures.peakThreads
            result.peakProcesses = figures.peakProcesses
            _ = tree
            result.stopSeconds = process.stop(grace: 120)
        }
        result.totalSeconds = started == 0 ? nil : elapsed
        do {
            try kernel?.client.flush()
            try fleet.reset()
        } catch {
            log("\(name): cleaning up: \(error)")
        }
    }

    /// Reloads of the file with some real servers' weights changed, each to a weight none had
    /// before (2, 3, ...), servers spread over the file: how long from the signal (SIGHUP, for
    /// every tool) until the table shows every change, how many table operations the tool made
    /// for it, and whether any other server dropped out. Without the kernel only directord is
    /// measured, by the line its reload logs ("Reloaded FILE: K table changes in M ms").
    private mutating func reloadPhases() throws {
        let counts = bench.reloads.split(separator: ",").compactMap { Int($0) }.map { min($0, layout.reals) }
        guard !counts.isEmpty, kernel != nil || tool == .directord else { return }
        var weights: [Int: Int] = [:]
        for (index, count) in counts.enumerated() where count > 0 {
            try checkBudget()
            let weight = index + 2
            // Spread over the file, and never the same servers twice in a row.
            let stride = max(1, layout.reals / count)
            let targets = (0..<count).map { ($0 * stride + index * 7) % layout.reals }
            for target in targets { weights[target] = weight }
            let figures = try reload(weights: weights, targets: targets, weight: weight)
            result.reloads.append(figures)
            log(
                "\(name): reload changing \(count): \(figures.seconds.map { "\(milliseconds($0)) ms" } ?? "not seen"), "
                    + "\(figures.operations.map { fixed($0, 0) } ?? "?") operations, \(figures.serversLost) servers lost"
            )
        }
    }

    private func writeConfiguration(weights: [Int: Int]) throws {
        try writeFile(
            configurationPath,
            tool == .keepalived
                ? settings.keepalivedConfig(layout, weights: weights)
                : settings.ldirectordConfig(layout, weights: weights))
    }

    private mutating func reload(weights: [Int: Int], targets: [Int], weight: Int) throws -> ReloadFigures {
        let upBefore = try serversUp()
        try writeConfiguration(weights: weights)
        let logStart = fileSize(result.log ?? "")
        try tap?.setUp(true)
        defer { try? tap?.setUp(false) }
        let before = tap?.counts
        let start = monotonicNanoseconds()
        kill(process.pid, SIGHUP)
        let deadline = start + UInt64(max(bench.phaseTimeout, Double(layout.reals) / 100) * 1e9)
        var figures = ReloadFigures(changed: targets.count)
        var pending = Set(targets)
        while monotonicNanoseconds() < deadline {
            try ensureRunning()
            if let watcher = kernel?.watcher {
                for service in Set(pending.map { layout.service(of: $0) }) {
                    let seen = try watcher.destinations(address: layout.serviceAddress(service), port: 80)
                    for real in layout.reals(of: service) where pending.contains(real) {
                        if seen[layout.key(of: real)] == UInt32(weight) { pending.remove(real) }
                    }
                }
                if pending.isEmpty { break }
            } else if let line = Self.reloadLine(in: try readFile(result.log ?? "", from: logStart)) {
                figures.operations = line.changes
                pending = []
                break
            }
            usleep(UInt32(bench.pollMilliseconds) * 1000)
        }
        if pending.isEmpty { figures.seconds = seconds(since: start) }
        // The tool's last acknowledgements, then what it made of the reload.
        sleepSeconds(0.5)
        if let tap, let before {
            figures.operations = Double((tap.counts - before).changeRequests)
        }
        figures.serversLost = max(0, upBefore - (try serversUp()))
        return figures
    }

    /// directord's "Reloaded FILE: K table changes in M ms" line in `log` (what its log gained
    /// since the signal), once it is there.
    static func reloadLine(in log: String) -> (changes: Double, milliseconds: Double)? {
        for line in log.split(separator: "\n") where line.contains("Reloaded ") {
            let words = line.split(separator: " ")
            // "...: K table change(s) in M ms"
            guard let changes = words.firstIndex(of: "table").flatMap({ $0 > 0 ? Double(words[$0 - 1]) : nil }),
                let took = words.firstIndex(of: "ms").flatMap({ Double(words[$0 - 1]) })
            else { continue }
            return (changes, took)
        }
        return nil
    }

    // MARK: Helpers

    /// Real servers in the table with a weight above 0, over every virtual service (without the
    /// kernel: all of them, as far as anyone can tell).
    private func serversUp() throws -> Int {
        guard let watcher = kernel?.watcher else { return layout.reals }
        var up = 0
        for service in 0..<layout.services {
            let weights = try watcher.destinations(address: layout.serviceAddress(service), port: 80)
            for real in layout.reals(of: service) where (weights[layout.key(of: real)] ?? 0) > 0 { up += 1 }
        }
        return up
    }

    private func ensureRunning() throws {
        guard process.isRunning else {
            let tail = (try? readFile(result.log ?? "")).map { String($0.suffix(600)) } ?? ""
            throw Stop(reason: "\(tool.rawValue) exited (status \(process.exitStatus ?? -1)); its output ends: \(tail)")
        }
    }

    private func checkBudget() throws {
        if elapsed > bench.budget {
            throw Stop(reason: "over its budget of \(fixed(bench.budget, 0)) s after \(fixed(elapsed, 0)) s")
        }
    }
}

/// The benchmark's own ways into the kernel.
struct KernelAccess {
    let watcher: IPVSWatcher
    /// To empty the table between runs and pre-fill it.
    let client: NetlinkIPVSClient
    let tap: NetlinkTap?
}

func seconds(since start: UInt64) -> Double { Double(monotonicNanoseconds() - start) / 1e9 }

func sleepSeconds(_ seconds: Double) {
    guard seconds > 0 else { return }
    let end = monotonicNanoseconds() + UInt64(seconds * 1e9)
    while true {
        let now = monotonicNanoseconds()
        guard now < end else { return }
        usleep(UInt32(min((end - now) / 1000, 500_000)))
    }
}

/// The nearest-rank percentile of the measured values; a missed fault counts as infinitely late.
func percentile(_ values: [Double?], _ p: Double) -> Double? {
    guard !values.isEmpty else { return nil }
    let sorted = values.map { $0 ?? .infinity }.sorted()
    let rank = max(1, Int((p * Double(sorted.count)).rounded(.up)))
    return sorted[min(sorted.count, rank) - 1]
}

func milliseconds(_ value: Double?) -> String {
    guard let value else { return "-" }
    return value.isFinite ? fixed(value * 1000, 0) : "missed"
}

func log(_ line: String) {
    let text = Array("[\(fixed(Double(monotonicNanoseconds()) / 1e9, 1))] \(line)\n".utf8)
    _ = text.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

func appendLine(_ path: String, _ line: String) {
    guard let file = fopen(path, "a") else { return }
    fputs(line + "\n", file)
    fclose(file)
}

func readLink(_ path: String) throws -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let count = readlink(path, &buffer, buffer.count - 1)
    guard count > 0 else { throw ValidationError("readlink \(path) failed") }
    return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
