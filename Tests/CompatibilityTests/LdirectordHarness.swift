import DirectordCore
import Foundation
import Testing

/// Runs Debian's ldirectord on a configuration with a table-keeping `./ipvsadm` stand-in and
/// returns the table it settles on.
///
/// ldirectord run with `-d` uses `./ipvsadm` from its working directory. It is stopped with
/// SIGKILL once it has made no ipvsadm call for a while: SIGTERM would purge the table.
struct LdirectordHarness {
    static let ldirectord = "/usr/sbin/ldirectord"

    /// True where Debian's ldirectord is installed; CI installs it and must not skip.
    static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: ldirectord) }

    /// The table as the stand-in keeps it: "TCP 10.0.0.10:80" → service.
    struct Table: Equatable, CustomStringConvertible {
        struct Service: Equatable {
            var scheduler: String
            var persistent: Int?
            var netmask: String?
            var flags: String?
            var onePacket: Bool
            var destinations: [String: Destination]
        }

        struct Destination: Equatable {
            var forwarding: String
            var weight: Int
            var upper: Int
            var lower: Int
        }

        var services: [String: Service]

        var description: String {
            services.keys.sorted().map { key in
                let service = services[key]!
                var line = "\(key) \(service.scheduler)"
                if let flags = service.flags { line += " (\(flags))" }
                if let persistent = service.persistent {
                    line += " persistent \(persistent) mask \(service.netmask ?? "-")"
                }
                if service.onePacket { line += " ops" }
                let destinations = service.destinations.keys.sorted().map { endpoint in
                    let destination = service.destinations[endpoint]!
                    return
                        "\n  -> \(endpoint) \(destination.forwarding) w=\(destination.weight) u=\(destination.upper) l=\(destination.lower)"
                }
                return line + destinations.joined()
            }.joined(separator: "\n")
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs ldirectord on `config` and returns its settled table and its output.
    static func settledTable(for config: String, name: String) throws -> (Table, String) {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("directord-ld-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        let standIn = try #require(Bundle.module.url(forResource: "Resources/ipvsadm", withExtension: nil))
        let standInCopy = directory.appendingPathComponent("ipvsadm")
        try FileManager.default.copyItem(at: standIn, to: standInCopy)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: standInCopy.path)
        let configFile = directory.appendingPathComponent("\(name).cf")
        try config.write(to: configFile, atomically: true, encoding: .utf8)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: ldirectord)
        process.arguments = ["-d", configFile.path, "start"]
        process.currentDirectoryURL = directory
        let output = directory.appendingPathComponent("ldirectord.out")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()

        // Settled: at least one call made and none for 2 s. ldirectord's start makes every
        // change before its first sleep of checkinterval seconds.
        let log = directory.appendingPathComponent("ipvsadm.log").path
        var lastSize = -1
        var quietSince = Date()
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline && process.isRunning {
            Thread.sleep(forTimeInterval: 0.25)
            let size = (try? FileManager.default.attributesOfItem(atPath: log)[.size] as? Int) ?? -1
            if size != lastSize {
                lastSize = size
                quietSince = Date()
            } else if size > 0 && Date().timeIntervalSince(quietSince) > 2 {
                break
            }
        }
        let wasRunning = process.isRunning
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? handle.close()
        let transcript = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        guard wasRunning else { throw Failure(description: "ldirectord exited early:\n\(transcript)") }
        guard lastSize > 0 else { throw Failure(description: "ldirectord made no ipvsadm call:\n\(transcript)") }

        let state = try Data(contentsOf: directory.appendingPathComponent("ipvs-state.json"))
        return (try decode(state), transcript)
    }

    static func decode(_ data: Data) throws -> Table {
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let services = try #require(root["services"] as? [String: [String: Any]])
        var table = Table(services: [:])
        for (key, entry) in services {
            let destinations = try #require(entry["dests"] as? [String: [String: Any]])
            table.services[key] = Table.Service(
                scheduler: try #require(entry["sched"] as? String),
                persistent: entry["persistent"] as? Int,
                netmask: entry["netmask"] as? String,
                flags: entry["flags"] as? String,
                onePacket: entry["ops"] as? Bool ?? false,
                destinations: try destinations.mapValues {
                    Table.Destination(
                        forwarding: try #require($0["fwd"] as? String), weight: try #require($0["weight"] as? Int),
                        upper: try #require($0["u"] as? Int), lower: try #require($0["l"] as? Int))
                })
        }
        return table
    }

    /// The table directord's resolved configuration describes with every real server up.
    static func expectedTable(_ configuration: Configuration) -> Table {
        var table = Table(services: [:])
        for virtual in configuration.virtualServices {
            let key: String =
                switch virtual.key {
                case .inet(let proto, _, _): "\(proto.rawValue.uppercased()) \(virtual.key)"
                case .firewallMark(let mark, let family): "FWM\(family == .ipv6 ? "6" : "") \(mark)"
                }
            let flags = virtual.schedulerFlags.names(for: virtual.scheduler)
            table.services[key] = Table.Service(
                scheduler: virtual.scheduler.rawValue,
                persistent: virtual.persistence.map { Int($0.timeout) },
                netmask: virtual.persistence.map { $0.netmaskText(for: virtual.family) },
                flags: flags.isEmpty ? nil : flags.joined(separator: ","),
                onePacket: virtual.onePacket,
                destinations: Dictionary(
                    uniqueKeysWithValues: virtual.realServers.map {
                        (
                            $0.endpoint,
                            Table.Destination(
                                forwarding: $0.forwarding.ipvsadmName, weight: $0.weight,
                                upper: Int($0.upperThreshold), lower: Int($0.lowerThreshold))
                        )
                    }))
        }
        return table
    }
}
