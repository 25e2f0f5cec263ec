public import DirectordCore
public import Glibc

/// An `IPAddress` and port as the C socket calls want them (`sockaddr_in`, `sockaddr_in6`),
/// and back: the one place the two meet.
public struct SocketAddress {
    private var storage = sockaddr_storage()
    public let length: socklen_t
    public let family: AddressFamily

    public init(_ address: IPAddress, port: UInt16 = 0) {
        family = address.family
        switch address {
        case .v4(let value):
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            sin.sin_addr.s_addr = value.bigEndian
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            withUnsafeMutableBytes(of: &storage) { raw in
                withUnsafeBytes(of: sin) { raw.copyMemory(from: $0) }
            }
        case .v6:
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { raw in
                for (index, byte) in address.bytes.enumerated() { raw[index] = byte }
            }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            withUnsafeMutableBytes(of: &storage) { raw in
                withUnsafeBytes(of: sin6) { raw.copyMemory(from: $0) }
            }
        }
    }

    /// The C protocol family for `socket(2)`.
    public var protocolFamily: Int32 { family == .ipv4 ? AF_INET : AF_INET6 }

    public func withSockAddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
        withUnsafeBytes(of: storage) { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }

    /// The address and port of a `sockaddr` filled in by the kernel (`recvfrom`, `getsockname`).
    public static func decode(_ storage: sockaddr_storage) -> (address: IPAddress, port: UInt16)? {
        withUnsafeBytes(of: storage) { raw -> (IPAddress, UInt16)? in
            switch Int32(storage.ss_family) {
            case AF_INET:
                let sin = raw.load(as: sockaddr_in.self)
                return (.v4(UInt32(bigEndian: sin.sin_addr.s_addr)), UInt16(bigEndian: sin.sin_port))
            case AF_INET6:
                let sin6 = raw.load(as: sockaddr_in6.self)
                let address = withUnsafeBytes(of: sin6.sin6_addr) { IPAddress(bytes: $0) }
                return address.map { ($0, UInt16(bigEndian: sin6.sin6_port)) }
            default:
                return nil
            }
        }
    }

    /// The address in a `sockaddr` of either family (`getaddrinfo`'s answers).
    public static func decode(_ pointer: UnsafePointer<sockaddr>) -> IPAddress? {
        switch Int32(pointer.pointee.sa_family) {
        case AF_INET:
            pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                .v4(UInt32(bigEndian: $0.pointee.sin_addr.s_addr))
            }
        case AF_INET6:
            pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                withUnsafeBytes(of: $0.pointee.sin6_addr) { IPAddress(bytes: $0) }
            }
        default:
            nil
        }
    }
}
