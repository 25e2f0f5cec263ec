import CSystemShims

/// The scheduling priority of the calling thread.
public enum ThreadPriority {
    /// The nice value work the operator waits for runs at: ten steps above the default, about
    /// nine times the share of a busy CPU that a thread at the default gets.
    public static let urgentNice: Int32 = -10

    /// Runs `work` on the calling thread with ``urgentNice``, then gives the thread its own
    /// nice value back; at the thread's own when that is as high already, or when the kernel
    /// refuses (no `CAP_SYS_NICE`).
    ///
    /// A reload is read and parsed on a thread of its own while the check loop and, on a small
    /// host, the real servers keep every core busy: at the default nice value the parse got
    /// about a third of a core (N = 10,000 at `checkinterval=1` on 2 cores: 196 ms for 60 ms
    /// of work). The checks lose that core for the few tens of milliseconds the parse takes,
    /// well within their timeouts.
    public static func urgent<T, E: Error>(_ work: () throws(E) -> T) throws(E) -> T {
        let before = CSystem_lower_thread_nice(urgentNice)
        guard before != Int32.min, before > urgentNice else { return try work() }
        defer { _ = CSystem_set_thread_nice(before) }
        return try work()
    }
}
