import DirectordSystem
import Foundation
import Testing

@Suite("The allocator")
struct AllocatorTests {
    /// This process's resident pages, from /proc/self/statm.
    static func residentBytes() throws -> Int {
        let statm = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8)
        let pages = try #require(Int(statm.split(separator: " ")[1]))
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    @Test("freed memory below a live allocation goes back to the kernel")
    func returnsFreedPages() throws {
        // 40 MB in small blocks, as a reload's configuration and checks are, then one block
        // above them that stays: the heap cannot shrink from its top, only give pages back.
        let blocks = (0..<40_000).map { _ in
            let block = UnsafeMutableRawPointer.allocate(byteCount: 1000, alignment: 8)
            block.initializeMemory(as: UInt8.self, repeating: 1, count: 1000)
            return block
        }
        let pinned = UnsafeMutableRawPointer.allocate(byteCount: 1000, alignment: 8)
        defer { pinned.deallocate() }
        for block in blocks { block.deallocate() }
        let before = try Self.residentBytes()
        Allocator.returnFreeMemory()
        let after = try Self.residentBytes()
        #expect(before - after > 20_000_000, "resident \(before) bytes before, \(after) after")
    }
}
