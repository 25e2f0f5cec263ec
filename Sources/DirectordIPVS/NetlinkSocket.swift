import CIPVSShims
import CNetlink
import DirectordCore
import DirectordSystem
import Glibc

/// One generic netlink socket, connected and bound by libnl, resolved to the "IPVS" family.
///
/// The only place in directord that holds a libnl handle or touches raw memory. libnl sockets
/// are not thread-safe: a `NetlinkSocket` has one owner (``NetlinkIPVSClient`` keeps it behind
/// a mutex) and is never copied. libnl opens, binds and resolves; the hot path writes whole
/// batches with one `send` and drains the acknowledgements with one `recvmmsg`, which libnl
/// has no call for.
struct NetlinkSocket: ~Copyable {
    /// `struct nl_sock *`
    private let handle: OpaquePointer
    /// The socket's file descriptor (owned by `handle`).
    private let descriptor: Int32
    /// The generic netlink family id the kernel gave "IPVS".
    let family: UInt16
    /// Where received datagrams land, reused between calls.
    private var arena: [UInt8]

    /// `SOL_NETLINK`, `NETLINK_CAP_ACK`, `NETLINK_EXT_ACK` (linux/netlink.h; not in Glibc's module).
    private static let solNetlink: Int32 = 270
    private static let capAck: Int32 = 10
    private static let extendedAck: Int32 = 11

    /// The largest datagram the kernel sends us: a dump fills at most 32 KiB per datagram.
    static let largeDatagram = 64 * 1024
    /// Room for one acknowledgement (capped: header only) with an extended-ack message.
    static let smallDatagram = 2 * 1024
    private static let arenaSize = 256 * 1024

    /// Opens a socket and resolves the IPVS family.
    ///
    /// - Parameters:
    ///   - networkNamespace: a name under /run/netns (as `ip netns add` makes) or a path to a
    ///     network namespace file; nil for the caller's own. The socket is created inside that
    ///     namespace and stays bound to it; the calling thread returns to its own namespace
    ///     before this returns.
    ///   - receiveTimeout: how long a receive waits for the kernel before giving up.
    init(networkNamespace: String?, receiveTimeout: Duration) throws(IPVSError) {
        guard let handle = nl_socket_alloc() else {
            throw .kernel(errno: ENOMEM, message: "cannot allocate a netlink socket", operation: "open netlink socket")
        }
        do throws(IPVSError) {
            try Self.connect(handle, networkNamespace: networkNamespace)
            let descriptor = nl_socket_get_fd(handle)
            Self.setOption(descriptor, Self.solNetlink, Self.capAck, 1)
            Self.setOption(descriptor, Self.solNetlink, Self.extendedAck, 1)
            var timeout = receiveTimeout.timeval
            _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            // Room for a full window of acknowledgements (capped at net.core.rmem_max).
            _ = nl_socket_set_buffer_size(handle, 1 << 20, 1 << 20)
            nl_socket_disable_msg_peek(handle)

            let resolved = genl_ctrl_resolve(handle, "IPVS")
            if resolved < 0 {
                if -resolved == NLE_OBJ_NOTFOUND { throw .familyMissing }
                throw Self.libnlError(resolved, operation: "look up the IPVS generic netlink family")
            }
            self.handle = handle
            self.descriptor = descriptor
            self.family = UInt16(resolved)
            self.arena = [UInt8](repeating: 0, count: Self.arenaSize)
        } catch {
            nl_socket_free(handle)
            throw error
        }
    }

    deinit {
        nl_socket_free(handle)
    }

    /// Sends a buffer of one or more netlink messages as one datagram.
    func send(_ bytes: [UInt8]) throws(IPVSError) {
        let sent = bytes.withUnsafeBytes { buffer in
            retryingInterrupts { Glibc.send(descriptor, buffer.baseAddress, buffer.count, 0) }
        }
        if sent < 0 { throw Self.systemError(errno, operation: "send to the kernel") }
        if sent != bytes.count {
            throw .kernel(
                errno: EMSGSIZE, message: "short send (\(sent) of \(bytes.count) bytes)",
                operation: "send to the kernel")
        }
    }

    /// Receives up to `slots` datagrams of at most `slotSize` bytes each: waits for the first,
    /// then takes what else is already queued.
    mutating func receive(slots: Int, slotSize: Int) throws(IPVSError) -> [[UInt8]] {
        let count = min(slots, Self.arenaSize / slotSize)
        var lengths = [Int](repeating: 0, count: count)
        var truncated = [Int32](repeating: 0, count: count)
        let descriptor = self.descriptor
        let received = arena.withUnsafeMutableBufferPointer { arena in
            lengths.withUnsafeMutableBufferPointer { lengths in
                truncated.withUnsafeMutableBufferPointer { truncated in
                    Int(
                        CIPVSShims_recv_datagrams(
                            descriptor, arena.baseAddress, slotSize, UInt32(count), 1, lengths.baseAddress,
                            truncated.baseAddress))
                }
            }
        }
        if received < 0 {
            let code = errno
            switch code {
            case EAGAIN, EWOULDBLOCK:
                throw .kernel(
                    errno: ETIMEDOUT, message: "the kernel did not answer", operation: "receive from the kernel")
            case ENOBUFS:
                throw .kernel(
                    errno: ENOBUFS,
                    message: "replies were lost (socket receive buffer overrun); the outcome of the request is unknown",
                    operation: "receive from the kernel")
            default:
                throw Self.systemError(code, operation: "receive from the kernel")
            }
        }
        var datagrams: [[UInt8]] = []
        datagrams.reserveCapacity(received)
        for index in 0..<received {
            guard truncated[index] == 0 else {
                throw .malformedReply("a reply did not fit in \(slotSize) bytes")
            }
            let start = index * slotSize
            datagrams.append(Array(arena[start..<(start + lengths[index])]))
        }
        return datagrams
    }

    // MARK: Helpers

    private static func connect(_ handle: OpaquePointer, networkNamespace: String?) throws(IPVSError) {
        guard let networkNamespace else {
            let result = genl_connect(handle)
            if result < 0 { throw libnlError(result, operation: "connect to generic netlink") }
            return
        }
        let path = networkNamespace.contains("/") ? networkNamespace : "/run/netns/\(networkNamespace)"
        let target = open(path, O_RDONLY | O_CLOEXEC)
        guard target >= 0 else { throw systemError(errno, operation: "open network namespace \(path)") }
        defer { close(target) }
        let original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        guard original >= 0 else { throw systemError(errno, operation: "open this thread's network namespace") }
        defer { close(original) }
        guard CIPVSShims_setns_net(target) == 0 else {
            throw systemError(errno, operation: "enter network namespace \(path)")
        }
        let result = genl_connect(handle)
        // The thread must not stay in the other namespace: nothing sensible could follow.
        precondition(CIPVSShims_setns_net(original) == 0, "cannot return to the original network namespace")
        if result < 0 { throw libnlError(result, operation: "connect to generic netlink in \(path)") }
    }

    private static func setOption(_ descriptor: Int32, _ level: Int32, _ name: Int32, _ value: Int32) {
        var value = value
        _ = setsockopt(descriptor, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
    }

    static func libnlError(_ code: Int32, operation: String) -> IPVSError {
        let message = nl_geterror(code).map { String(cString: $0) } ?? "unknown error"
        if -code == NLE_PERM { return .permissionDenied(operation: operation) }
        return .netlink(code: -code, message: message, operation: operation)
    }

    static func systemError(_ code: Int32, operation: String) -> IPVSError {
        if code == EPERM { return .permissionDenied(operation: operation) }
        return .kernel(errno: code, message: errnoText(code), operation: operation)
    }
}

@available(*, unavailable)
extension NetlinkSocket: Sendable {}
