import ArgumentParser
import DirectordCore
import Glibc

/// The three health checkers the failover benchmark compares.
enum FailoverTool: String, CaseIterable, ExpressibleByArgument, Sendable {
    case directord
    case ldirectord
    case keepalived
}

/// N real servers (ports of 127.0.0.1 from `basePort`, then of 127.0.0.2 and so on: one
/// address has too few ports for 50,000 below the ephemeral range) in virtual services of `perService` (10.1.x.y:80,
/// NAT), as every tool's configuration describes them.
struct FleetLayout {
    let reals: Int
    let perService: Int
    let basePort: Int

    /// Where real server `index` listens, for a fleet from `basePort`: below 32768, where
    /// Linux's ephemeral ports start (a port with a listener is never a connection's source
    /// port, and 28,000 listeners there left the checks no source port at all).
    static func endpoint(of index: Int, basePort: Int) -> (address: UInt32, port: UInt16) {
        let perAddress = portsPerAddress(basePort: basePort)
        return (0x7f00_0001 + UInt32(index / perAddress), UInt16(basePort + index % perAddress))
    }

    /// Ports of one address a fleet from `basePort` uses (up to 32768, or 65536 from above it).
    static func portsPerAddress(basePort: Int) -> Int { (basePort < 32768 ? 32768 : 65536) - basePort }

    static func text(of address: UInt32) -> String {
        "\(address >> 24).\(address >> 16 & 0xff).\(address >> 8 & 0xff).\(address & 0xff)"
    }

    /// A real server's address and port as one number, as the kernel watcher reports them.
    static func key(address: UInt32, port: UInt16) -> UInt64 { UInt64(address) << 16 | UInt64(port) }

    var services: Int { (reals + perService - 1) / perService }

    /// 10.1.(s / 200).(s % 200 + 1), host order.
    func serviceAddress(_ service: Int) -> UInt32 {
        0x0a01_0000 | UInt32(service / 200) << 8 | UInt32(service % 200 + 1)
    }

    func serviceText(_ service: Int) -> String {
        let address = serviceAddress(service)
        return "10.1.\(address >> 8 & 0xff).\(address & 0xff)"
    }

    func service(of real: Int) -> Int { real / perService }
    func port(of real: Int) -> UInt16 { Self.endpoint(of: real, basePort: basePort).port }
    func address(of real: Int) -> UInt32 { Self.endpoint(of: real, basePort: basePort).address }
    func addressText(of real: Int) -> String { Self.text(of: address(of: real)) }
    func key(of real: Int) -> UInt64 { Self.key(address: address(of: real), port: port(of: real)) }
    func reals(of service: Int) -> Range<Int> { service * perService..<min(reals, (service + 1) * perService) }

    /// The table every tool should build when all real servers are up (used to pre-fill it).
    var fullTable: IPVSTable {
        var table = IPVSTable()
        for service in 0..<services {
            let key = ServiceKey.inet(.tcp, .v4(serviceAddress(service)), port: 80)
            table.upsert(IPVSService(key: key, scheduler: Scheduler(uncheckedName: "wrr")))
            for real in reals(of: service) {
                table.upsert(
                    IPVSDestination(
                        address: .v4(address(of: real)), port: port(of: real), forwarding: .masq, weight: 1),
                    in: key)
            }
        }
        return table
    }
}

/// What every tool is asked to do: an HTTP GET of /health every `interval` seconds that must
/// answer 2xx with "OK" in the body within `timeout` seconds; one failure takes a real server
/// out of the table (deleted, not quiesced); one success puts it back.
struct CheckSettings {
    let interval: Int
    let timeout: Int

    /// ldirectord.cf, read by directord and ldirectord alike. `supervised=yes` keeps both in
    /// the foreground logging to standard output or error without debug output (ldirectord's
    /// `-d` would log every check).
    func ldirectordConfig(_ layout: FleetLayout, weights: [Int: Int] = [:]) -> String {
        var lines = [
            "# directord-bench failover: \(layout.reals) real servers in \(layout.services) virtual services",
            "checkinterval=\(interval)",
            "checktimeout=\(timeout)",
            "negotiatetimeout=\(timeout)",
            "failurecount=1",
            "quiescent=no",
            "autoreload=no",
            "supervised=yes",
        ]
        for service in 0..<layout.services {
            lines.append("virtual=\(layout.serviceText(service)):80")
            for real in layout.reals(of: service) {
                lines.append(
                    "\treal=\(layout.addressText(of: real)):\(layout.port(of: real)) masq \(weights[real] ?? 1)")
            }
            lines += [
                "\tchecktype=negotiate", "\tservice=http", "\trequest=\"health\"", "\treceive=\"OK\"",
                "\tscheduler=wrr", "\tprotocol=tcp",
            ]
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// keepalived.conf with the same checks: HTTP_GET of /health, status 200-299 and the body
    /// matching "OK"; `retry 0` so one failure counts, as failurecount=1; `delay_loop` the
    /// interval; `connect_timeout` the timeout (keepalived uses it for the connection and for
    /// the answer). keepalived deletes a failed real server (no `inhibit_on_failure`).
    func keepalivedConfig(_ layout: FleetLayout, weights: [Int: Int] = [:]) -> String {
        var lines = [
            "# directord-bench failover: \(layout.reals) real servers in \(layout.services) virtual services",
            "global_defs {", "    router_id directord_bench", "}",
        ]
        for service in 0..<layout.services {
            lines += [
                "virtual_server \(layout.serviceText(service)) 80 {", "    delay_loop \(interval)",
                "    lb_algo wrr", "    lb_kind NAT", "    protocol TCP",
            ]
            for real in layout.reals(of: service) {
                lines += [
                    "    real_server \(layout.addressText(of: real)) \(layout.port(of: real)) {",
                    "        weight \(weights[real] ?? 1)",
                    "        HTTP_GET {",
                    "            url {", "                path /health", "                status_code 200-299",
                    "                regex \"OK\"", "            }", "            connect_timeout \(timeout)",
                    "            retry 0", "        }", "    }",
                ]
            }
            lines.append("}")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Where the tools are and how each is started.
struct ToolCommands {
    var directord: String
    var directordArguments: [String]
    var ldirectord: String
    var keepalived: String

    func arguments(for tool: FailoverTool, configuration: String, directory: String) -> [String] {
        switch tool {
        case .directord:
            return [directord] + directordArguments.map { $0 == "CONFIG" ? configuration : $0 }
        case .ldirectord:
            return [ldirectord, configuration, "start"]
        case .keepalived:
            return [
                keepalived, "--dont-fork", "--log-console", "--check", "--use-file", configuration, "--pid",
                "\(directory)/keepalived.pid", "--checkers_pid", "\(directory)/keepalived-checkers.pid",
            ]
        }
    }

    func executable(for tool: FailoverTool) -> String {
        switch tool {
        case .directord: directord
        case .ldirectord: ldirectord
        case .keepalived: keepalived
        }
    }
}
