import CSystemShims
import Glibc

/// Unix stream sockets, for the daemon's control socket: listen on a path only the owner may
/// use, connect to one, and ask who is at the other end.
public enum UnixSocket {
    /// A non-blocking listening socket at `path` (a stale socket file there is replaced),
    /// mode 0600: only root (the owner) may connect.
    public static func listen(path: String) -> Result<Int32, SystemError> {
        guard fits(path) else { return .failure(SystemError("listen on \(path)", code: ENAMETOOLONG)) }
        let fd = socket(
            AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(SystemError("socket")) }
        unlink(path)
        // Created 0600 from the start: no moment where another user could connect.
        let saved = umask(0o177)
        let bound = withAddress(path) { bind(fd, $0, $1) }
        umask(saved)
        guard bound == 0, Glibc.listen(fd, 16) == 0 else {
            let error = SystemError("listen on \(path)")
            close(fd)
            return .failure(error)
        }
        return .success(fd)
    }

    /// A blocking socket connected to `path`, with send and receive timeouts.
    public static func connect(path: String, timeout: Duration) -> Result<Int32, SystemError> {
        guard fits(path) else { return .failure(SystemError("connect to \(path)", code: ENAMETOOLONG)) }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(SystemError("socket")) }
        var limit = timeout.timeval
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        guard retryingInterrupts({ withAddress(path) { Glibc.connect(fd, $0, $1) } }) == 0 else {
            let error = SystemError("connect to \(path)")
            close(fd)
            return .failure(error)
        }
        return .success(fd)
    }

    /// The next waiting connection of a non-blocking listener, itself non-blocking and closed on
    /// exec; nil when none waits.
    public static func accept(_ listener: Int32) -> Int32? {
        let fd = retryingInterrupts { Glibc.accept(listener, nil, nil) }
        guard fd >= 0 else { return nil }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return fd
    }

    /// The user id of the process at the other end (SO_PEERCRED), or nil.
    public static func peerUserID(_ fd: Int32) -> UInt32? {
        let uid = CSystem_peer_uid(fd)
        return uid < 0 ? nil : UInt32(uid)
    }

    /// A socket path must fit sockaddr_un's 108 bytes with its terminating zero.
    private static func fits(_ path: String) -> Bool {
        path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path)
    }

    private static func withAddress<T>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in bytes.enumerated() { buffer[index] = byte }
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                body($0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }
}
