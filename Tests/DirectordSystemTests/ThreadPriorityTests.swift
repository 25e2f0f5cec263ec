import DirectordSystem
import Foundation
import Testing

@Suite("Thread priority")
struct ThreadPriorityTests {
    /// The calling thread's nice value as the kernel shows it (field 19 of
    /// /proc/thread-self/stat; the command name before it may hold spaces).
    static func threadNice() throws -> Int32 {
        let stat = try String(contentsOfFile: "/proc/thread-self/stat", encoding: .utf8)
        let fields = try #require(stat.split(separator: ")").last).split(separator: " ")
        return try #require(Int32(fields[16]))
    }

    @Test("urgent work runs ten nice steps up when the kernel allows it, and the thread gets its own back")
    func urgentThenRestored() throws {
        let before = try Self.threadNice()
        let during = try ThreadPriority.urgent { try Self.threadNice() }
        // Lowering a nice value needs CAP_SYS_NICE: as root (CI, the daemon) it is granted.
        if getuid() == 0 {
            #expect(during == ThreadPriority.urgentNice)
        } else {
            #expect(during == before)
        }
        #expect(try Self.threadNice() == before)
    }
}
