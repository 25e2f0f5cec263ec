public import Glibc

/// Spawn attributes for a child that must not inherit this process's signal state.
///
/// Children are spawned from Dispatch threads, which block most signals, by a daemon that
/// ignores SIGHUP, SIGTERM and SIGPIPE; both the mask and ignored dispositions survive
/// `exec`, and a child so started cannot be stopped. Every signal gets its default action and
/// none is blocked.
public enum CleanSpawnAttributes {
    /// Runs `body` with such attributes.
    /// - Parameter newProcessGroup: also put the child in a process group of its own, so it
    ///   can be killed with everything it starts.
    public static func with<T>(newProcessGroup: Bool = false, _ body: (inout posix_spawnattr_t) -> T) -> T {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var flags = Int32(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)
        if newProcessGroup {
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        return body(&attributes)
    }
}
