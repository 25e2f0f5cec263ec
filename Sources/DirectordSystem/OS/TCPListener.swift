public import DirectordCore
import Glibc

/// A listening TCP socket, for the daemon's `/metrics`.
public enum TCPListener {
    /// A non-blocking listening socket on `address`, closed on exec; an IPv6 one takes IPv6
    /// only, so `[::]:9100` and `0.0.0.0:9100` mean what they say.
    public static func listen(_ address: ListenAddress) -> Result<Int32, SystemError> {
        let socketAddress = SocketAddress(address.address, port: address.port)
        let fd = socket(
            socketAddress.protocolFamily,
            Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(SystemError("socket")) }
        var one: Int32 = 1
        // A restarted daemon binds again at once, its old connections in TIME_WAIT or not.
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if socketAddress.family == .ipv6 {
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        guard socketAddress.withSockAddr({ bind(fd, $0, $1) }) == 0, Glibc.listen(fd, 64) == 0 else {
            let error = SystemError("listen on \(address)")
            close(fd)
            return .failure(error)
        }
        return .success(fd)
    }

    /// The next waiting connection, non-blocking and closed on exec; nil when none waits.
    /// (Accepting is the same for any stream listener: the control socket's code.)
    public static func accept(_ listener: Int32) -> Int32? {
        UnixSocket.accept(listener)
    }

    /// The port a listening socket is bound to (the kernel's choice for port 0).
    public static func boundPort(_ fd: Int32) -> UInt16? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let read = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard read == 0 else { return nil }
        return SocketAddress.decode(storage)?.port
    }
}
