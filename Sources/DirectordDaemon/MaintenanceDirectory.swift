import DirectordCore
import DirectordSystem
import Glibc

/// ldirectord's `maintenancedir`: a file named after a real server takes it out of service.
///
/// The names ldirectord looks for, in its order: `IP:PORT`, `IP`, `HOST:PORT`, `HOST`,
/// `SHORT:PORT`, `SHORT` (HOST from a reverse lookup, SHORT its first label). directord also
/// accepts the port as written on the real line where it differs from the kernel's. The
/// directory is listed at most once a second, not stat'ed per check.
final class MaintenanceDirectory {
    let path: String
    private var names: Set<String> = []
    private var listedAt: ContinuousClock.Instant?
    private var candidates: [RealServerRef: [String]] = [:]

    init(path: String) {
        self.path = path
    }

    /// The file names that would name each real server; host names come from reverse lookups,
    /// so this runs off the check loop.
    static func candidateNames(for configuration: Configuration) -> [RealServerRef: [String]] {
        var hostNames: [IPAddress: String?] = [:]
        var result: [RealServerRef: [String]] = [:]
        for virtual in configuration.virtualServices {
            for real in virtual.realServers {
                let ref = RealServerRef(service: virtual.key, destination: real.destinationKey)
                let host: String?
                if let known = hostNames[real.address] {
                    host = known
                } else {
                    host = reverseLookup(real.address)
                    hostNames[real.address] = host
                }
                var ports = ["\(real.port)"]
                if let written = real.configuredPort, written != real.port { ports.append("\(written)") }
                var names: [String] = []
                let address = real.address.bracketed
                names += ports.map { "\(address):\($0)" }
                names.append(address)
                if let host {
                    names += ports.map { "\(host):\($0)" }
                    names.append(host)
                    if let dot = host.firstIndex(of: "."), let first = host.first, first.isLetter {
                        let short = String(host[..<dot])
                        names += ports.map { "\(short):\($0)" }
                        names.append(short)
                    }
                }
                result[ref] = names
            }
        }
        return result
    }

    func setCandidates(_ candidates: [RealServerRef: [String]]) {
        self.candidates = candidates
    }

    /// Whether a maintenance file names the real server now.
    func isInMaintenance(_ ref: RealServerRef) -> Bool {
        refreshIfStale()
        guard !names.isEmpty else { return false }
        return candidates[ref]?.contains(where: names.contains) ?? false
    }

    private func refreshIfStale() {
        let now = ContinuousClock.now
        if let listedAt, now - listedAt < .seconds(1) { return }
        listedAt = now
        var found: Set<String> = []
        if let directory = opendir(path) {
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) {
                    String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name != "." && name != ".." { found.insert(name) }
            }
            closedir(directory)
        }
        names = found
    }

    private static func reverseLookup(_ address: IPAddress) -> String? {
        var host = [CChar](repeating: 0, count: 1025)
        let status = SocketAddress(address).withSockAddr { pointer, length in
            getnameinfo(pointer, length, &host, socklen_t(host.count), nil, 0, NI_NAMEREQD)
        }
        guard status == 0 else { return nil }
        return String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
