import CSystemShims

/// What directord asks of the C library's allocator, which every Swift allocation goes through.
public enum Allocator {
    /// At most two allocation arenas. glibc gives each thread that allocates an arena of its
    /// own (up to eight per core) and keeps in it what the thread frees. directord allocates on
    /// its loop and, for a moment at each reload, on the threads that read the file and run
    /// commands: with an arena each, the pages a reload used and freed on one stay beside the
    /// loop's (N = 10,000 at `checkinterval=1` on a 2-core host: a peak of 60.5 MB, 54.5 MB with
    /// two arenas and ``returnFreeMemory()``). The loop allocates alone nearly all the time, so
    /// sharing costs it no waiting.
    /// Call before any thread exists.
    public static func limitArenas() {
        _ = CSystem_set_arena_max(2)
    }

    /// Gives the pages of freed memory back to the kernel. A reload builds the new
    /// configuration, checks and table beside the old before freeing the old; without this the
    /// process keeps the reload's peak as its size until it needs the memory again.
    public static func returnFreeMemory() {
        _ = CSystem_malloc_trim()
    }
}
