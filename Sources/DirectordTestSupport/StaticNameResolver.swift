public import DirectordCore

/// A resolver answering from fixed tables: for tests, fuzzing and benchmarks.
public struct StaticNameResolver: NameResolving {
    public var hosts: [String: [IPAddress]]
    public var services: [String: UInt16]
    public var hostName: String

    public init(hosts: [String: [IPAddress]] = [:], services: [String: UInt16] = [:], hostName: String = "director") {
        self.hosts = hosts
        self.services = services
        self.hostName = hostName
    }

    /// A few entries of /etc/services, enough for the usual virtual service ports.
    public static let commonServices: [String: UInt16] = [
        "ftp": 21, "ssh": 22, "smtp": 25, "domain": 53, "http": 80, "www": 80, "pop3": 110, "nntp": 119,
        "imap2": 143, "imap": 143, "ldap": 389, "https": 443, "submission": 587, "ldaps": 636, "imaps": 993,
        "pop3s": 995, "mysql": 3306, "sip": 5060, "postgresql": 5432,
    ]

    public func addresses(ofHost name: String, family: AddressFamily) -> [IPAddress] {
        (hosts[name] ?? []).filter { $0.family == family }
    }

    public func port(ofService name: String, protocol: String?) -> UInt16? {
        services[name]
    }
}
