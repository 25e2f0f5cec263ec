import ArgumentParser
import CSystemShims
import DirectordChecks
import DirectordCore
import DirectordTestSupport
import Dispatch
import Glibc
import Synchronization

/// Throughput, CPU cost, latency, threads and memory of the checkers, for N real servers that
/// are ports of one local HTTP server (a child process, so its CPU is not counted here), with
/// and without a share of them accepting and never answering.
///
/// Two ways to load the loop, both printed:
/// - paced: every real server is checked once per `--interval`, staggered evenly, as the
///   daemon does (a real server whose check is still running skips its turn). Offered load is
///   N / interval checks per second; the figures say what that costs.
/// - saturated: `--concurrency` checks of healthy real servers are always in flight, going
///   round them all, while every hanging one is re-checked as soon as it times out; this finds
///   the most checks per second the loop can do.
struct CheckBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checks",
        abstract:
            "Run HTTP (or connect) checks against N local real servers; print checks/s, CPU, latency, threads, RSS.")

    @Option(help: "Numbers of real servers, comma-separated.")
    var reals = "100,1000,10000"

    @Option(help: "Percent of the real servers that accept and never answer, in the second run of each N.")
    var hangPercent = 10

    @Option(help: "Seconds each run lasts; figures are taken over its second half.")
    var duration = 8.0

    @Option(help: "Seconds between two checks of one real server (paced runs).")
    var interval = 1.0

    @Option(help: "negotiatetimeout / checktimeout of the checks, seconds.")
    var timeout = 2

    @Option(
        help:
            "Check type: http (spoken directly, the default engine), http-libcurl (plain HTTP through libcurl, as HTTPS) or connect."
    )
    var type = "http"

    @Option(help: "Modes to run: paced, saturated or both.")
    var mode = "both"

    @Option(help: "Checks of healthy real servers in flight at once in saturated runs.")
    var concurrency = 500

    @Option(help: "First port of the benchmark's HTTP server.")
    var basePort = 20000

    func run() throws {
        raiseFileLimit()
        let counts = reals.split(separator: ",").compactMap { Int($0.filter { $0 != " " }) }
        guard !counts.isEmpty, ["http", "http-libcurl", "connect"].contains(type) else {
            throw ValidationError("--reals must be numbers and --type http, http-libcurl or connect")
        }
        let modes: [Mode] = mode == "both" ? [.paced, .saturated] : [Mode(rawValue: mode)].compactMap { $0 }
        print(
            "directord-bench checks: \(type) checks, timeout \(timeout) s, runs of \(format(duration)) s (figures over the second half)"
        )
        print("machine: \(sysconf(Int32(_SC_NPROCESSORS_ONLN))) CPUs; the server is a separate process")
        print("")
        print(Row.header)
        for count in counts {
            for hang in Set([0, hangPercent]).sorted() {
                let hangEvery = hang > 0 ? max(1, 100 / hang) : 0
                // The failover benchmark's fleet: every hangEvery-th server hangs.
                let server = try FleetProcess(executable: "/proc/self/exe", basePort: basePort, count: count)
                defer { server.stop() }
                let hanging = Set((0..<count).filter { hangEvery > 0 && $0 % hangEvery == hangEvery - 1 })
                for index in hanging.sorted() { _ = try server.set(index, .hang) }
                let checks = try makeChecks(ports: Array(basePort..<basePort + count))
                for mode in modes {
                    let row = try measure(checks: checks, hanging: hanging, mode: mode)
                    print(row.line(reals: count, hangPercent: hang, mode: mode))
                }
            }
        }
        print("")
        print(
            "aims: 10,000 HTTP checks/s on one core; healthy p50/p99 unchanged with hanging servers; threads independent of N"
        )
    }

    enum Mode: String {
        case paced
        case saturated
    }

    /// The checks, as the daemon gets them: parsed from a generated ldirectord.cf.
    func makeChecks(ports: [Int]) throws -> [HealthCheck] {
        var lines = ["virtual=10.1.0.1:80"]
        for port in ports { lines.append("\treal=127.0.0.1:\(port) masq") }
        lines += [
            "\tservice=http", "\trequest=\"/health\"", "\treceive=\"OK\"",
            "\tchecktype=\(type == "connect" ? "connect" : "negotiate")",
            "\tnegotiatetimeout=\(timeout)", "\tchecktimeout=\(timeout)",
        ]
        let parser = ConfigParser(resolver: StaticNameResolver(services: StaticNameResolver.commonServices))
        let outcome = parser.parse(lines.joined(separator: "\n"), file: "bench.cf")
        guard let service = outcome.configuration?.virtualServices.first else {
            throw ValidationError("the generated config does not parse: \(outcome.errors.prefix(3).map(\.description))")
        }
        return service.realServers.map { service.healthCheck(for: $0) }
    }

    func measure(checks: [HealthCheck], hanging: Set<Int>, mode: Mode) throws -> Row {
        var options = CheckLoop.Options()
        options.plainHTTPThroughLibcurl = type == "http-libcurl"
        let loop = try CheckLoop(options: options)
        let recorder = Recorder(reals: checks.count)
        let clock = ContinuousClock()
        let start = clock.now
        let measureFrom = start + .seconds(duration / 2)
        let end = start + .seconds(duration)
        let driver = BenchDriver(
            loop: loop, checks: checks, hanging: hanging, recorder: recorder, measureFrom: measureFrom, end: end)
        let finished = DispatchSemaphore(value: 0)
        let interval = self.interval
        let concurrency = min(checks.count, self.concurrency)
        // The driver is an actor on the loop's own executor, as the daemon's scheduler can be:
        // it starts checks without a hop per check.
        Task {
            switch mode {
            case .paced: await driver.runPaced(interval: .seconds(interval), start: start)
            case .saturated: await driver.runSaturated(concurrency: concurrency)
            }
            finished.signal()
        }
        // Measure the CPU time of the second half exactly, sampling threads a few times a
        // second (reading /proc costs CPU that would be counted as the checks').
        sleep(until: measureFrom, clock: clock)
        let cpuStart = ProcessFigures.cpuSeconds
        while clock.now < end {
            recorder.sampleThreads(ProcessFigures.threads)
            sleep(until: min(end, clock.now + .milliseconds(250)), clock: clock)
        }
        let cpuEnd = ProcessFigures.cpuSeconds
        recorder.markWindow(cpu: cpuEnd - cpuStart, rss: ProcessFigures.residentMegabytes)
        finished.wait()
        let row = recorder.row(
            window: end - measureFrom, offered: mode == .paced ? Double(checks.count) / interval : nil)
        // Let the checks still in flight end before the next run (bounded by the timeout).
        let drainBy = clock.now + .seconds(timeout + 2)
        while recorder.inFlight > 0 && clock.now < drainBy { usleep(20_000) }
        return row
    }

    func sleep(until instant: ContinuousClock.Instant, clock: ContinuousClock) {
        while true {
            let left = instant - clock.now
            guard left > .zero else { return }
            let micros = left.components.seconds * 1_000_000 + left.components.attoseconds / 1_000_000_000_000
            usleep(UInt32(max(1, min(micros, 1_000_000))))
        }
    }
}

/// Starts the checks of the benchmark from the loop's own executor.
actor BenchDriver {
    let loop: CheckLoop
    let checks: [HealthCheck]
    let hanging: Set<Int>
    let recorder: Recorder
    let measureFrom: ContinuousClock.Instant
    let end: ContinuousClock.Instant
    private var next = 0

    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.unownedExecutor }

    init(
        loop: CheckLoop, checks: [HealthCheck], hanging: Set<Int>, recorder: Recorder,
        measureFrom: ContinuousClock.Instant, end: ContinuousClock.Instant
    ) {
        self.loop = loop
        self.checks = checks
        self.hanging = hanging
        self.recorder = recorder
        self.measureFrom = measureFrom
        self.end = end
    }

    /// Every real server once per interval, staggered evenly; one whose check is still
    /// running skips its turn. Wakes at most every millisecond and starts whatever is due.
    func runPaced(interval: Duration, start: ContinuousClock.Instant) async {
        let clock = ContinuousClock()
        let count = checks.count
        let tick = max(Duration.milliseconds(1), interval / count)
        var started = 0
        while clock.now < end {
            let due = Int(((clock.now - start) / interval) * Double(count))
            while started < due {
                let index = started % count
                started += 1
                launch(index, then: .nothing)
            }
            try? await Task.sleep(for: tick)
        }
    }

    /// `concurrency` checks of healthy real servers always in flight, going round them all,
    /// and every hanging real server checked again as soon as its check times out (so hanging
    /// servers never stop holding sockets and timers, but do not take the healthy ones' slots).
    func runSaturated(concurrency: Int) async {
        healthy = checks.indices.filter { !hanging.contains($0) }
        for index in hanging { launch(index, then: .same) }
        for _ in 0..<min(concurrency, healthy.count) { launchNextHealthy() }
        let clock = ContinuousClock()
        while clock.now < end { try? await Task.sleep(for: .milliseconds(50)) }
    }

    private var healthy: [Int] = []

    private func launchNextHealthy() {
        guard !healthy.isEmpty else { return }
        let index = healthy[next]
        next = (next + 1) % healthy.count
        launch(index, then: .nextHealthy)
    }

    fileprivate enum Then {
        case nothing
        case same
        case nextHealthy
    }

    private func launch(_ index: Int, then: Then) {
        guard recorder.begin(index) else { return }
        let check = checks[index]
        let completion = Completion(driver: self, index: index, then: then)
        // Same executor: the driver runs on the loop, so the loop's isolation holds here.
        loop.assumeIsolated { loop in
            loop.start(check) { completion.handle($0) }
        }
    }

    fileprivate func after(_ index: Int, then: Then) {
        switch then {
        case .nothing: break
        case .same: launch(index, then: .same)
        case .nextHealthy: launchNextHealthy()
        }
    }

    /// What to do when a check started by the driver ends (on the loop, hence on the driver).
    fileprivate struct Completion: Sendable {
        let driver: BenchDriver
        let index: Int
        let then: Then

        func handle(_ result: CheckResult) {
            let now = ContinuousClock.now
            driver.recorder.record(
                result: result, hanging: driver.hanging.contains(index), at: now, from: driver.measureFrom)
            driver.recorder.finished(index)
            if now < driver.end {
                driver.assumeIsolated { $0.after(index, then: then) }
            }
        }
    }
}

/// What the checks did, recorded on the loop (uncontended locks: the loop is one queue).
final class Recorder: Sendable {
    private struct State {
        var inFlight: [Bool]
        var inFlightCount = 0
        var healthyLatencies: [Duration] = []
        var hangingCount = 0
        var downHealthy = 0
        var cpu = 0.0
        var rss = 0.0
        var maxThreads = 0
        var firstDownReason: String?
    }

    private let state: Mutex<State>

    init(reals: Int) {
        state = Mutex(State(inFlight: [Bool](repeating: false, count: reals)))
    }

    var inFlight: Int { state.withLock { $0.inFlightCount } }

    /// Marks a real server's check as started; false if its last one is still running.
    func begin(_ index: Int) -> Bool {
        state.withLock { state in
            guard !state.inFlight[index] else { return false }
            state.inFlight[index] = true
            state.inFlightCount += 1
            return true
        }
    }

    func finished(_ index: Int) {
        state.withLock { state in
            if state.inFlight[index] {
                state.inFlight[index] = false
                state.inFlightCount -= 1
            }
        }
    }

    func record(result: CheckResult, hanging: Bool, at now: ContinuousClock.Instant, from: ContinuousClock.Instant) {
        guard now >= from else { return }
        state.withLock { state in
            if hanging {
                state.hangingCount += 1
            } else {
                state.healthyLatencies.append(result.latency)
                if !result.isUp {
                    state.downHealthy += 1
                    if state.firstDownReason == nil { state.firstDownReason = result.reason }
                }
            }
        }
    }

    func markWindow(cpu: Double, rss: Double) {
        state.withLock { state in
            state.cpu = cpu
            state.rss = rss
        }
    }

    func sampleThreads(_ threads: Int) {
        state.withLock { $0.maxThreads = max($0.maxThreads, threads) }
    }

    func row(window: Duration, offered: Double?) -> Row {
        state.withLock { state in
            let seconds = Double(window.components.seconds) + Double(window.components.attoseconds) / 1e18
            let completed = state.healthyLatencies.count + state.hangingCount
            var sorted = state.healthyLatencies
            sorted.sort()
            func percentile(_ p: Double) -> Double {
                guard !sorted.isEmpty else { return 0 }
                let value = sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
                return Double(value.components.seconds) * 1000 + Double(value.components.attoseconds) / 1e15
            }
            return Row(
                offered: offered, checksPerSecond: Double(completed) / seconds,
                cpuPerThousand: completed > 0 ? state.cpu / Double(completed) * 1000 : 0,
                p50: percentile(0.50), p99: percentile(0.99), threads: state.maxThreads, rss: state.rss,
                healthyDown: state.downHealthy, firstDownReason: state.firstDownReason)
        }
    }
}

struct Row {
    var offered: Double?
    var checksPerSecond: Double
    var cpuPerThousand: Double
    var p50: Double
    var p99: Double
    var threads: Int
    var rss: Double
    var healthyDown: Int
    var firstDownReason: String?

    static let header =
        "    N  hang  mode       offered/s  checks/s  CPU s/1000  healthy p50 ms  healthy p99 ms  threads  RSS MB  healthy down"

    func line(reals: Int, hangPercent: Int, mode: CheckBench.Mode) -> String {
        func pad(_ text: String, _ width: Int) -> String {
            String(repeating: " ", count: max(0, width - text.count)) + text
        }
        var text = pad("\(reals)", 5) + pad("\(hangPercent)%", 6) + "  " + mode.rawValue.padding(9)
        text += pad(offered.map { format($0, 0) } ?? "max", 11) + pad(format(checksPerSecond, 0), 10)
        text += pad(format(cpuPerThousand, 3), 12)
        text += pad(format(p50, 2), 16) + pad(format(p99, 2), 16) + pad("\(threads)", 9) + pad(format(rss, 1), 8)
        text += pad("\(healthyDown)", 14)
        if let firstDownReason, healthyDown > 0 { text += "  (\(firstDownReason))" }
        return text
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}
