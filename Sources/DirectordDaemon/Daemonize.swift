import Glibc

/// Detaches from the terminal as ldirectord's `ld_daemon` does: fork, setsid, fork again,
/// chdir /, standard input, output and error to /dev/null.
///
/// Must run before any thread starts (Dispatch, the check loop): only the calling thread
/// survives a fork. The first parent exits 0 as soon as the grandchild exists.
public enum Daemonize {
    public static func detach() {
        becomeChild()
        guard setsid() >= 0 else { exit(1) }
        becomeChild()
        _ = chdir("/")
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        if null >= 0 {
            dup2(null, 0)
            dup2(null, 1)
            dup2(null, 2)
            if null > 2 { close(null) }
        }
    }

    private static func becomeChild() {
        let pid = fork()
        if pid < 0 { exit(1) }
        if pid > 0 { _exit(0) }
    }
}
