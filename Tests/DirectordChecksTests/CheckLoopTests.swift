import DirectordChecks
import DirectordCore
import Foundation
import Synchronization
import Testing

/// The loop itself: concurrency, isolation of slow servers, threads, cancellation, shutdown.
@Suite("the check loop")
struct CheckLoopTests {
    let servers: TestServers

    init() throws {
        servers = try TestServers.shared()
    }

    func http(_ path: String, timeout: Int = 3) throws -> HealthCheck {
        try healthCheck(
            """
            virtual=10.0.0.1:80
            \treal=127.0.0.1:\(servers.port("http")) gate
            \tservice=http
            \trequest="\(path)"
            \treceive="OK"
            \tnegotiatetimeout=\(timeout)
            """)
    }

    @Test("hanging servers do not delay the checks of healthy ones")
    func hangingServersDoNotDelayOthers() async throws {
        let loop = try CheckLoop()
        // Hanging checks time out after 10 s; healthy ones held up behind them would take that
        // long, so a bound of a few seconds tells the two apart even on a busy machine.
        let hang = try http("/hang", timeout: 10)
        let ok = try http("/ok")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<100 { group.addTask { _ = await loop.check(hang) } }
            // Let the hanging checks get connected and stuck first.
            try await Task.sleep(for: .milliseconds(300))
            let started = ContinuousClock.now
            let results = await withTaskGroup(of: CheckResult.self) { inner in
                for _ in 0..<200 { inner.addTask { await loop.check(ok) } }
                return await inner.reduce(into: []) { $0.append($1) }
            }
            #expect(allUp(results))
            #expect(ContinuousClock.now - started < .seconds(8))
            #expect(results.map(\.latency).max()! < .seconds(8))
            try await group.waitForAll()
        }
    }

    @Test("the thread count does not grow with the checks in flight")
    func threadsIndependentOfLoad() async throws {
        let loop = try CheckLoop()
        let check = try healthCheck(
            """
            virtual=10.0.0.1:80
            \treal=127.0.0.1:\(servers.port("silent")) gate
            \tservice=smtp
            \tnegotiatetimeout=2
            """)
        /// The fewest threads seen over a few samples: other suites run in this process at
        /// the same time, and their threads come and go.
        func quietThreadCount() async -> Int {
            var fewest = Int.max
            for _ in 0..<10 {
                fewest = min(fewest, threadCount())
                try? await Task.sleep(for: .milliseconds(20))
            }
            return fewest
        }
        let few = Mutex(0)
        let many = Mutex(0)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<10 { group.addTask { _ = await loop.check(check) } }
            try? await Task.sleep(for: .milliseconds(200))
            let before = await quietThreadCount()
            few.withLock { $0 = before }
            for _ in 0..<1000 { group.addTask { _ = await loop.check(check) } }
            try? await Task.sleep(for: .milliseconds(300))
            #expect(await loop.checksInFlight > 500)
            let after = await quietThreadCount()
            many.withLock { $0 = after }
        }
        let (before, after) = (few.withLock { $0 }, many.withLock { $0 })
        // A thread per check would add about a thousand; the slack is for the rest of the
        // test process (other suites run in parallel and start threads of their own).
        #expect(after <= before + 40, "threads: \(before) with 10 checks in flight, \(after) with 1010")
    }

    @Test("cancelling the waiting task ends its check at once")
    func cancellation() async throws {
        let loop = try CheckLoop()
        let hang = try http("/hang", timeout: 30)
        let task = Task { await loop.check(hang) }
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        let result = await task.value
        #expect(!result.isUp)
        #expect(result.reason == "check cancelled")
        #expect(await loop.checksInFlight == 0)
    }

    @Test("shutdown ends every check in flight; later checks are down at once")
    func shutdown() async throws {
        let loop = try CheckLoop()
        let hang = try http("/hang", timeout: 30)
        async let pending = loop.check(hang)
        try await Task.sleep(for: .milliseconds(200))
        await loop.shutdown()
        let result = await pending
        #expect(result.reason == "check loop shut down")
        let after = await loop.check(try http("/ok"))
        #expect(after.reason == "check loop shut down")
    }

    @Test("submit delivers results on the loop from any thread")
    func submit() async throws {
        let loop = try CheckLoop()
        let check = try http("/ok")
        let result = await withCheckedContinuation { continuation in
            loop.submit(check) { continuation.resume(returning: $0) }
        }
        #expect(result.isUp, "\(result.reason)")
    }

    @Test("timers and work from other threads run on the loop, in order; a cancelled timer never fires")
    func timersAndExecute() async throws {
        let loop = try CheckLoop()
        let fired = Mutex<[String]>([])
        let ticks = Mutex(0)
        // The loop's actor is entered from the timer's action: it runs on the loop's thread.
        let timers = Mutex<[LoopTimer]>([])
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            loop.execute {
                let once = loop.makeTimer { fired.withLock { $0.append("once") } }
                once.schedule(after: .milliseconds(30))
                let cancelled = loop.makeTimer { fired.withLock { $0.append("cancelled") } }
                cancelled.schedule(after: .milliseconds(10))
                cancelled.cancel()
                let repeating = loop.makeTimer {
                    let count = ticks.withLock {
                        $0 += 1
                        return $0
                    }
                    _ = loop.assumeIsolated { $0.checksInFlight }
                    if count == 5 { done.resume() }
                }
                repeating.schedule(after: .milliseconds(5), repeating: .milliseconds(20))
                timers.withLock { $0 = [once, cancelled, repeating] }
            }
        }
        for index in 0..<100 { loop.execute { fired.withLock { $0.append("\(index)") } } }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in loop.execute { done.resume() } }
        let seen = fired.withLock { $0 }
        #expect(seen.contains("once") && !seen.contains("cancelled"), "\(seen)")
        #expect(seen.filter { $0 != "once" } == (0..<100).map { "\($0)" })
        #expect(ticks.withLock { $0 } >= 5)
        // Stopped on the loop: it fires no more.
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            loop.execute {
                for timer in timers.withLock({ $0 }) { timer.cancel() }
                done.resume()
            }
        }
        let stopped = ticks.withLock { $0 }
        try await Task.sleep(for: .milliseconds(100))
        #expect(ticks.withLock { $0 } == stopped)
    }

    @Test("a released loop's thread ends")
    func threadEnds() async throws {
        func loopThreads() -> Int {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
            return tasks.filter { task in
                let name = (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)) ?? ""
                return name.hasPrefix("loop-end-test")
            }.count
        }
        var options = CheckLoop.Options()
        options.threadName = "loop-end-test"
        do {
            let loop = try CheckLoop(options: options)
            #expect(await loop.check(try http("/ok")).isUp)
            await loop.shutdown()
        }
        let deadline = ContinuousClock.now + .seconds(5)
        while loopThreads() > 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(loopThreads() == 0)
    }

    @Test("mixed check types share the loop")
    func mixed() async throws {
        let loop = try CheckLoop()
        let checks = [
            try http("/ok"),
            try healthCheck("virtual=10.0.0.1:80\n\treal=127.0.0.1:\(servers.port("http")) gate\n\tchecktype=connect"),
            try healthCheck("virtual=10.0.0.1:80\n\treal=127.0.0.1:80 gate\n\tchecktype=ping"),
            try healthCheck(
                "virtual=10.0.0.1:80\n\treal=127.0.0.1:80 gate\n\tchecktype=external\n\tcheckcommand=/bin/true"),
            try healthCheck(
                "virtual=10.0.0.1:25\n\treal=127.0.0.1:\(servers.port("smtp")) gate\n\tservice=smtp\n\tchecktype=negotiate"
            ),
        ]
        let results = await withTaskGroup(of: CheckResult.self) { group in
            for _ in 0..<20 {
                for check in checks { group.addTask { await loop.check(check) } }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 100)
        #expect(allUp(results), "\(results.filter { !$0.isUp }.map(\.reason))")
    }
}
