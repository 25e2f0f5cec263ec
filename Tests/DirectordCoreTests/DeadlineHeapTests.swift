import DirectordCore
import Testing

@Suite("the deadline heap")
struct DeadlineHeapTests {
    @Test("entries come out in deadline order, ties in scheduling order, also after pruning")
    func order() {
        var heap = DeadlineHeap<UInt64>()
        var generator = SystemRandomNumberGenerator()
        var expected: [(UInt64, UInt64)] = []
        for id in 0..<2000 as Range<UInt64> {
            let deadline = UInt64.random(in: 0..<500, using: &generator)
            heap.insert(deadline: deadline, id: id)
            expected.append((deadline, id))
        }
        heap.removeAll { $0.id % 3 == 0 }
        expected.removeAll { $0.1 % 3 == 0 }
        expected.sort { ($0.0, $0.1) < ($1.0, $1.1) }
        var out: [(UInt64, UInt64)] = []
        while let first = heap.first {
            out.append((first.deadline, first.id))
            heap.removeFirst()
        }
        #expect(out.map(\.0) == expected.map(\.0))
        #expect(out.map(\.1) == expected.map(\.1))
    }
}
