/// A binary min-heap of (deadline, id); ids break ties, so entries due at the same moment come
/// out in the order they were scheduled. The check loop's timers and the daemon's check
/// scheduler both keep one: thousands of deadlines, one system timer.
///
/// Inlinable, so that each user gets a copy specialized to its deadline type: the check loop's
/// (in another module) otherwise called the generic code, which looked up type metadata and
/// witness tables at run time for every comparison (about 2 % of directord's CPU at 40 checks
/// a second, perf).
public struct DeadlineHeap<Deadline: Comparable & Sendable>: Sendable {
    public struct Entry: Sendable {
        public var deadline: Deadline
        public var id: UInt64

        @inlinable
        init(deadline: Deadline, id: UInt64) {
            self.deadline = deadline
            self.id = id
        }

        // Not a tuple comparison: a generic tuple's metadata is looked up at run time.
        @inlinable
        static func < (a: Entry, b: Entry) -> Bool {
            a.deadline == b.deadline ? a.id < b.id : a.deadline < b.deadline
        }
    }

    @usableFromInline var entries: [Entry] = []

    @inlinable public init() {}

    @inlinable public var first: Entry? { entries.first }
    @inlinable public var count: Int { entries.count }
    @inlinable public var isEmpty: Bool { entries.isEmpty }

    @inlinable public mutating func insert(deadline: Deadline, id: UInt64) {
        entries.append(Entry(deadline: deadline, id: id))
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child] < entries[parent] else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    /// Drops the entries `shouldRemove` picks and restores the heap order, in O(n).
    @inlinable public mutating func removeAll(where shouldRemove: (Entry) -> Bool) {
        entries.removeAll(where: shouldRemove)
        guard entries.count > 1 else { return }
        for start in stride(from: entries.count / 2 - 1, through: 0, by: -1) { siftDown(from: start) }
    }

    @inlinable @discardableResult
    public mutating func removeFirst() -> Entry {
        let first = entries[0]
        let last = entries.removeLast()
        guard !entries.isEmpty else { return first }
        entries[0] = last
        siftDown(from: 0)
        return first
    }

    // Inlinable too: called through the generic code, each `swapAt` allocated a buffer for an
    // element of unknown size, 11.7 allocations a check in the check loop's timers (perf probe
    // on malloc, 40 checks a second). The moving element is held aside and written once.
    @inlinable mutating func siftDown(from start: Int) {
        let count = entries.count
        let moving = entries[start]
        var hole = start
        while true {
            let left = 2 * hole + 1
            guard left < count else { break }
            let right = left + 1
            let smaller = right < count && entries[right] < entries[left] ? right : left
            guard entries[smaller] < moving else { break }
            entries[hole] = entries[smaller]
            hole = smaller
        }
        entries[hole] = moving
    }
}
