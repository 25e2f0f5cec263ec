import DirectordCore
@testable import DirectordDaemon
import DirectordSystem
import Dispatch
import Foundation
import Synchronization
import Testing

@Suite("The check scheduler")
struct CheckSchedulerTests {
    /// `count` connect checks of distinct real servers, every `interval` seconds.
    static func checks(_ count: Int, interval: Int = 1, firstPort: Int = 1000) throws -> [ScheduledCheck] {
        let reals = (0..<count).map { "\treal=127.0.0.1:\(firstPort + $0) masq" }
        let text = (["checkinterval=\(interval)", "virtual=10.0.0.10:80"] + reals + ["\tchecktype=connect"])
            .joined(separator: "\n") + "\n"
        let parser = ConfigParser(resolver: StaticNameResolver(services: StaticNameResolver.commonServices))
        let configuration = try #require(parser.parse(text, file: "test.cf").configuration)
        return DirectorState(configuration: configuration, observed: IPVSTable()).scheduledChecks
    }

    @Test("new checks first run spread over one second, then their phases spread over the interval")
    func phasesAreSpread() throws {
        let now: UInt64 = 5_000_000_000
        let phases = CheckScheduler.phases(of: try Self.checks(4, interval: 5), now: now)
        #expect(phases.map(\.firstRun) == [now, now + 250_000_000, now + 500_000_000, now + 750_000_000])
        #expect(phases.map(\.delay) == [0, 1_000_000_000, 2_000_000_000, 3_000_000_000])
        // Second runs (first run + interval + delay): evenly over the 5 s interval.
        #expect(phases.map { $0.firstRun + 5_000_000_000 + $0.delay - now } == [
            5_000_000_000, 6_250_000_000, 7_500_000_000, 8_750_000_000,
        ])
        #expect(CheckScheduler.phases(of: [], now: now).isEmpty)
        let one = CheckScheduler.phases(of: try Self.checks(1, interval: 10), now: now)
        #expect(one.map(\.firstRun) == [now] && one.map(\.delay) == [0])
        // checkinterval=1: the first second is the interval; nothing to add.
        #expect(CheckScheduler.phases(of: try Self.checks(3), now: now).map(\.delay) == [0, 0, 0])
    }

    @Test("a schedule of many checks runs each once within the first second, not in one burst")
    func noBurst() throws {
        let checks = try Self.checks(200)
        let queue = DispatchQueue(label: "scheduler-test")
        let scheduler = CheckScheduler(queue: queue)
        let starts = Mutex<[UInt64: UInt64]>([:])
        let began = CheckScheduler.now()
        scheduler.onDue = { id in
            starts.withLock { $0[id] = CheckScheduler.now() }
            // Each check stays "running" so it is not started again during the test.
            _ = scheduler.begin(id)
        }
        queue.sync { scheduler.update(checks) }
        Thread.sleep(forTimeInterval: 1.5)
        queue.sync { scheduler.stop() }
        let offsets = starts.withLock { $0.values.map { Double($0 - began) / 1e9 } }.sorted()
        #expect(offsets.count == 200)
        #expect((offsets.last ?? 9) < 1.3)
        // Half of them start in the second half of the second: the load is spread.
        #expect(offsets.filter { $0 >= 0.5 }.count >= 90)
    }

    @Test("a check kept across an update keeps its place in time; only new ones are spread")
    func updateKeepsPlaces() throws {
        let checks = try Self.checks(3)
        let queue = DispatchQueue(label: "scheduler-test")
        let scheduler = CheckScheduler(queue: queue)
        queue.sync { scheduler.update(checks) }
        let before = queue.sync { scheduler.entries }
        let added = try Self.checks(2, firstPort: 2000)
        queue.sync { scheduler.update(checks + added) }
        let after = queue.sync { scheduler.entries }
        queue.sync { scheduler.stop() }
        #expect(after.count == 5)
        for (id, entry) in before { #expect(after[id]?.due == entry.due) }
        let newDues = after.filter { before[$0.key] == nil }.map(\.value.due).sorted()
        #expect(newDues.count == 2)
        #expect(newDues[1] - newDues[0] == 500_000_000)
    }

    @Test("at most maxRunning checks are in flight; a due check takes the next free slot")
    func limit() throws {
        let checks = try Self.checks(50)
        let queue = DispatchQueue(label: "scheduler-test")
        let scheduler = CheckScheduler(queue: queue, maxRunning: 10)
        let started = Mutex<[UInt64]>([])
        scheduler.onDue = { id in
            if scheduler.begin(id) != nil { started.withLock { $0.append(id) } }
        }
        queue.sync { scheduler.update(checks) }
        Thread.sleep(forTimeInterval: 1.3)
        #expect(started.withLock { $0.count } == 10)
        #expect(queue.sync { scheduler.runningCount } == 10)
        #expect(queue.sync { scheduler.takeSaturations() } == 1)
        #expect(queue.sync { scheduler.takeSaturations() } == 0)
        let first = try #require(started.withLock { $0.first })
        queue.sync { scheduler.finished(first, result: .up("fine", latency: .zero)) }
        Thread.sleep(forTimeInterval: 0.2)
        #expect(started.withLock { $0.count } == 11)
        #expect(queue.sync { scheduler.runningCount } == 10)
        queue.sync { scheduler.stop() }
    }
}
