import DirectordSystem
import Glibc

/// Detaches from the terminal as ldirectord's `ld_daemon` does (fork, setsid, fork again,
/// chdir /, standard input, output and error to /dev/null), except that the first parent does
/// not exit at once: it waits until the daemon says it is ready (its first reconciliation is
/// in the kernel) or has failed, and exits with the daemon's status. ldirectord's parent exits
/// 0 as soon as it has forked, so an init script or a Pacemaker agent is told "started" about
/// a daemon that dies a moment later, and its first `status` can race the pid file.
///
/// Must run before any thread starts (Dispatch, the check loop): only the calling thread
/// survives a fork.
public enum Daemonize {
    /// The daemon's end of the pipe to the waiting parent; -1 when there is none.
    nonisolated(unsafe) private static var readinessDescriptor: Int32 = -1

    /// Detaches; returns in the daemon (the grandchild) only.
    public static func detach() {
        var ends: [Int32] = [-1, -1]
        // Only this thread exists yet, so nothing can fork between pipe and FD_CLOEXEC.
        guard pipe(&ends) == 0 else { exit(1) }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        let pid = fork()
        if pid < 0 { exit(1) }
        if pid > 0 {
            close(ends[1])
            waitForReadiness(ends[0])
        }
        close(ends[0])
        guard setsid() >= 0 else { exit(1) }
        let second = fork()
        if second < 0 { exit(1) }
        if second > 0 { _exit(0) }
        readinessDescriptor = ends[1]
        _ = chdir("/")
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        if null >= 0 {
            dup2(null, 0)
            dup2(null, 1)
            dup2(null, 2)
            if null > 2 { close(null) }
        }
        closeInheritedDescriptors()
    }

    /// Closes what the starting process left open beyond 0, 1 and 2 (a test runner's or a
    /// supervisor's pipes): a daemon holding the write end of its starter's pipe would keep
    /// that reader waiting for an end of file until the daemon exits. Every descriptor directord
    /// opens itself is close-on-exec, and one that came through exec cannot be: so those
    /// without the flag are exactly the inherited ones.
    private static func closeInheritedDescriptors() {
        guard let directory = opendir("/proc/self/fd") else { return }
        var inherited: [Int32] = []
        let own = dirfd(directory)
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let fd = Int32(name), fd > 2, fd != own else { continue }
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 && flags & FD_CLOEXEC == 0 { inherited.append(fd) }
        }
        closedir(directory)
        for fd in inherited { close(fd) }
    }

    /// Tells the waiting parent how the start went: it prints `message` (if any) on its
    /// standard error and exits with `status`. Later calls do nothing.
    public static func reportStart(status: Int32, message: String = "") {
        let descriptor = readinessDescriptor
        guard descriptor >= 0 else { return }
        readinessDescriptor = -1
        var bytes: [UInt8] = [UInt8(clamping: status)]
        bytes += Array(message.utf8.prefix(4000))
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
    }

    /// The first parent: the first byte is the status, the rest a message. The pipe closing
    /// with nothing said means the daemon died before it was ready.
    private static func waitForReadiness(_ descriptor: Int32) -> Never {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { raw in
                retryingInterrupts { read(descriptor, raw.baseAddress, raw.count) }
            }
            guard count > 0 else { break }
            received += buffer[..<count]
        }
        guard let status = received.first else {
            let text = "directord: the daemon exited before it was ready; see its log\n"
            _ = text.withCString { write(2, $0, strlen($0)) }
            _exit(1)
        }
        if received.count > 1 {
            let text = String(decoding: received.dropFirst(), as: UTF8.self) + "\n"
            _ = text.withCString { write(2, $0, strlen($0)) }
        }
        _exit(Int32(status))
    }
}
