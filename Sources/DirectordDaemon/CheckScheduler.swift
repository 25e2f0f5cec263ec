import DirectordChecks
import DirectordCore
import Dispatch

/// When each scheduled check runs next: one deadline heap and one Dispatch timer on the check
/// loop's queue, however many real servers there are.
///
/// A check runs every `interval` seconds from its last start; one still running when its next
/// turn comes starts again as soon as it ends. Not thread-safe: it lives on the check loop.
final class CheckScheduler {
    struct Entry {
        var scheduled: ScheduledCheck
        var combined: CombinedCheckState
        var due: UInt64
        var running = false
        var lastStart: UInt64 = 0
    }

    private(set) var entries: [Int: Entry] = [:]
    private var heap = DeadlineHeap()
    private var nextID = 0
    private let timer: any DispatchSourceTimer
    private var armedFor: UInt64 = .max
    /// Called on the loop for each check that is due; `start` must call `finished` later.
    var onDue: ((Int) -> Void)?

    init(queue: DispatchQueue) {
        timer = DispatchSource.makeTimerSource(queue: queue)
        timer.setEventHandler { [weak self] in self?.fire() }
        timer.schedule(deadline: .distantFuture)
        timer.resume()
    }

    deinit {
        timer.cancel()
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Replaces the set of checks. Checks that stay (same check and interval) keep their place
    /// in time and their combined-check counter; new ones are due at once.
    func update(_ checks: [ScheduledCheck]) {
        var byIdentity: [ScheduledCheckIdentity: Int] = [:]
        for (id, entry) in entries { byIdentity[ScheduledCheckIdentity(entry.scheduled)] = id }
        var kept: [Int: Entry] = [:]
        let now = Self.now()
        for check in checks {
            if let id = byIdentity[ScheduledCheckIdentity(check)], var entry = entries[id] {
                entry.scheduled = check
                kept[id] = entry
            } else {
                let id = nextID
                nextID += 1
                kept[id] = Entry(scheduled: check, combined: CombinedCheckState(for: check.check), due: now)
                heap.push(due: now, id: id)
            }
        }
        entries = kept
        arm()
    }

    /// Stops scheduling; checks in flight finish but are not run again.
    func stop() {
        entries = [:]
        heap = DeadlineHeap()
        timer.schedule(deadline: .distantFuture)
        armedFor = .max
    }

    /// The check to run for an entry that is due, marking it running.
    func begin(_ id: Int) -> HealthCheck? {
        guard var entry = entries[id], !entry.running else { return nil }
        entry.running = true
        entry.lastStart = Self.now()
        let check = entry.combined.nextCheck(entry.scheduled.check)
        entries[id] = entry
        return check
    }

    /// A check of an entry ended: schedules its next run.
    func finished(_ id: Int, result: CheckResult) {
        guard var entry = entries[id] else { return }
        entry.running = false
        entry.combined.record(result)
        let interval = UInt64(max(entry.scheduled.interval, 1)) * 1_000_000_000
        entry.due = max(entry.lastStart + interval, Self.now())
        entries[id] = entry
        heap.push(due: entry.due, id: id)
        arm()
    }

    private func fire() {
        armedFor = .max
        let now = Self.now()
        while let top = heap.top, top.due <= now {
            heap.pop()
            // Stale heap items (rescheduled or removed entries) are skipped.
            guard let entry = entries[top.id], entry.due == top.due, !entry.running else { continue }
            onDue?(top.id)
        }
        arm()
    }

    private func arm() {
        guard let top = heap.top else { return }
        guard top.due < armedFor else { return }
        armedFor = top.due
        timer.schedule(deadline: DispatchTime(uptimeNanoseconds: top.due), leeway: .milliseconds(1))
    }
}

/// What makes two scheduled checks the same across a reload.
struct ScheduledCheckIdentity: Hashable {
    var check: HealthCheck
    var interval: Int

    init(_ scheduled: ScheduledCheck) {
        check = scheduled.check
        interval = scheduled.interval
    }
}

/// A binary min-heap of (deadline, id).
struct DeadlineHeap {
    private var items: [(due: UInt64, id: Int)] = []

    var top: (due: UInt64, id: Int)? { items.first }
    var count: Int { items.count }

    mutating func push(due: UInt64, id: Int) {
        items.append((due, id))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].due < items[parent].due else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() {
        guard !items.isEmpty else { return }
        items.swapAt(0, items.count - 1)
        items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < items.count && items[left].due < items[smallest].due { smallest = left }
            if right < items.count && items[right].due < items[smallest].due { smallest = right }
            guard smallest != parent else { return }
            items.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
