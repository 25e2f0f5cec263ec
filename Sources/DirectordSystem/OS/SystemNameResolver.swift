public import DirectordCore
import Glibc

/// Host and service names resolved as ldirectord resolves them: `getaddrinfo` for hosts (so
/// `/etc/hosts`, DNS and legacy forms such as `10.1` behave the same) and `getservbyname` for
/// ports (`/etc/services`).
public struct SystemNameResolver: NameResolving {
    public init() {}

    public func addresses(ofHost name: String, family: AddressFamily) -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_family = family == .ipv4 ? AF_INET : AF_INET6
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(first) }
        var result: [IPAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if let address = Self.address(of: entry.pointee), !result.contains(address) {
                result.append(address)
            }
            cursor = entry.pointee.ai_next
        }
        return result
    }

    static func address(of entry: addrinfo) -> IPAddress? {
        entry.ai_addr.flatMap { SocketAddress.decode(UnsafePointer($0)) }
    }

    public func port(ofService name: String, protocol: String?) -> UInt16? {
        var entry = servent()
        var buffer = [CChar](repeating: 0, count: 4096)
        var result: UnsafeMutablePointer<servent>?
        let status = getservbyname_r(name, `protocol`, &entry, &buffer, buffer.count, &result)
        guard status == 0, let found = result else { return nil }
        return UInt16(bigEndian: UInt16(truncatingIfNeeded: found.pointee.s_port))
    }

    public var hostName: String {
        // ldirectord prefers $HOSTNAME, then uname's node name.
        if let fromEnvironment = getenv("HOSTNAME"), fromEnvironment.pointee != 0 {
            return String(cString: fromEnvironment)
        }
        var names = utsname()
        uname(&names)
        return withUnsafeBytes(of: names.nodename) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}
