import DirectordChecks
import DirectordCore
import DirectordTestSupport
import Foundation
import Testing

/// The fault-injecting servers (DirectordTestSupport's test_servers.py `faults`): one process
/// for the whole test run, started on first use, gone when the test process exits.
struct TestServers: Decodable {
    var ports: [String: UInt16]
    var ca: String
    var otherCA: String

    private enum CodingKeys: String, CodingKey {
        case ports, ca
        case otherCA = "other_ca"
    }

    func port(_ name: String) -> UInt16 { ports[name]! }

    private static let launched: Result<(TestServerProcess, TestServers), TestServerError> = launch()

    static func shared() throws -> TestServers {
        try launched.get().1
    }

    private static func launch() -> Result<(TestServerProcess, TestServers), TestServerError> {
        do {
            let process = try TestServerProcess("faults")
            return .success((process, try JSONDecoder().decode(TestServers.self, from: process.announcement)))
        } catch let error as TestServerError {
            return .failure(error)
        } catch {
            return .failure(TestServerError("test_servers.py faults: \(error)"))
        }
    }
}

/// A ``HealthCheck`` exactly as the daemon gets it: parsed from an ldirectord.cf virtual block
/// and resolved by the core, for its first real server.
func healthCheck(_ block: String, file: String = #fileID, line: Int = #line) throws -> HealthCheck {
    let service = try configuration(block)
    return service.healthCheck(for: service.realServers[0])
}

/// The first virtual service of a block that must parse, with at least one real server.
func configuration(_ block: String) throws -> VirtualService {
    let parser = ConfigParser(resolver: StaticNameResolver(services: StaticNameResolver.commonServices))
    let outcome = parser.parse(block, file: "test.cf")
    guard let configuration = outcome.configuration, let service = configuration.virtualServices.first,
        !service.realServers.isEmpty
    else {
        throw TestServerError("the test config does not parse: \(outcome.errors.map(\.description))")
    }
    return service
}

/// A `service=ldap` or `ldaps` check of 127.0.0.1:`port`: a base search of `base`, within a
/// checktimeout of 2 s.
func ldapCheck(service: String, port: UInt16, base: String, _ extra: String = "") throws -> HealthCheck {
    try healthCheck(
        """
        virtual=10.0.0.1:\(service == "ldaps" ? 636 : 389)
        \treal=127.0.0.1:\(port) masq
        \tservice=\(service)
        \trequest="\(base)"
        \tchecktimeout=2
        \(extra)
        """)
}

/// One shared loop for most tests: checks on one loop do not wait for each other, which is
/// the point; a test that needs a loop of its own makes one.
let sharedLoop: CheckLoop = {
    do {
        return try CheckLoop()
    } catch {
        fatalError("cannot create the check loop: \(error)")
    }
}()

/// Runs a check on the shared loop.
func run(_ check: HealthCheck) async -> CheckResult {
    await sharedLoop.check(check)
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

/// Threads of this process, from /proc.
func threadCount() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return -1 }
    for line in status.split(separator: "\n") where line.hasPrefix("Threads:") {
        return Int(line.dropFirst("Threads:".count).trimmingCharacters(in: .whitespaces)) ?? -1
    }
    return -1
}

/// True on CI (`CI=true`), where a test that cannot reach its server must fail, not skip.
let isCI = ProcessInfo.processInfo.environment["CI"] == "true"

func allUp(_ results: [CheckResult]) -> Bool {
    results.allSatisfy { $0.isUp }
}
