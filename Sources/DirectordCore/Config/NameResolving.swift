/// Host and service name lookups the parser needs, as ldirectord does them
/// (`getaddrinfo` and `getservbyname`).
///
/// The parser calls this only for names: numeric addresses and ports never reach it. The
/// system implementation lives outside the core, which stays free of I/O.
public protocol NameResolving: Sendable {
    /// The addresses of a host name in one family, first preferred; empty when it does not
    /// resolve.
    func addresses(ofHost name: String, family: AddressFamily) -> [IPAddress]
    /// The port of a service name for a protocol (`"tcp"`, `"udp"`; nil for any).
    func port(ofService name: String, protocol: String?) -> UInt16?
    /// The local host name, which ldirectord puts in default FTP and SIP logins.
    var hostName: String { get }
}
