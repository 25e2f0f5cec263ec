public import DirectordCore
import Glibc

/// `checkpath=forwarding`: the answers of a check sent through the forwarding path come from
/// the virtual address, which is this director's own, and Linux drops packets that arrive with
/// a local source address unless the interface accepts them (`accept_local`).
public enum AcceptLocal {
    /// Lets the interface this director reaches `realServer` through accept packets from its
    /// own addresses (IPv4 only: IPv6 has no such filter).
    /// - Returns: the interface's name when this changed its setting, nil when it already
    ///   accepted them.
    public static func enable(toward realServer: IPAddress) -> Result<String?, SystemError> {
        guard realServer.family == .ipv4 else { return .success(nil) }
        guard let source = sourceAddress(toward: realServer) else {
            return .failure(SystemError("no route to \(realServer)"))
        }
        guard let interface = interfaceName(holding: source) else {
            return .failure(SystemError("no interface holds \(source)"))
        }
        let path = "/proc/sys/net/ipv4/conf/\(interface)/accept_local"
        guard let current = readSmallFile(path) else { return .failure(SystemError("cannot read \(path)")) }
        if current.hasPrefix("1") { return .success(nil) }
        guard writeSmallFile(path, "1\n") else { return .failure(SystemError("cannot write \(path)")) }
        return .success(interface)
    }

    /// The address the routing table would send from to `destination` (a connected UDP socket
    /// sends nothing).
    public static func sourceAddress(toward destination: IPAddress) -> IPAddress? {
        let target = SocketAddress(destination, port: 9)
        let probe = socket(target.protocolFamily, Int32(SOCK_DGRAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return nil }
        defer { close(probe) }
        guard target.withSockAddr({ connect(probe, $0, $1) }) == 0 else { return nil }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(probe, $0, &length) }
        }
        guard named == 0 else { return nil }
        return SocketAddress.decode(storage)?.address
    }

    static func interfaceName(holding address: IPAddress) -> String? {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return nil }
        defer { freeifaddrs(list) }
        var entry = list
        while let current = entry {
            if let socketAddress = current.pointee.ifa_addr,
                SocketAddress.decode(UnsafePointer(socketAddress)) == address
            {
                return String(cString: current.pointee.ifa_name)
            }
            entry = current.pointee.ifa_next
        }
        return nil
    }

    private static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = read(fd, &buffer, buffer.count)
        guard count >= 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }

    private static func writeSmallFile(_ path: String, _ text: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        return write(fd, bytes, bytes.count) == bytes.count
    }
}
