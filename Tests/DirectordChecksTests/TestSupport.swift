import DirectordChecks
import DirectordCore
import DirectordTestSupport
import Foundation
import Testing

/// The fault-injecting servers of Servers/fault_server.py: one Python process for the whole
/// test run, started on first use, gone when the test process exits (its stdin closes).
struct TestServers: Decodable {
    var ports: [String: UInt16]
    var ca: String
    var other_ca: String

    func port(_ name: String) -> UInt16 { ports[name]! }

    private static let launched: Result<TestServers, TestServerError> = launch()
    /// Held for the life of the test process: closing it stops the servers.
    nonisolated(unsafe) private static var stdinPipe: Pipe?

    static func shared() throws -> TestServers {
        try launched.get()
    }

    private static func launch() -> Result<TestServers, TestServerError> {
        guard let script = Bundle.module.url(forResource: "fault_server", withExtension: "py", subdirectory: "Servers")
        else { return .failure(TestServerError(message: "Servers/fault_server.py is not in the test bundle")) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        do {
            try process.run()
        } catch {
            return .failure(TestServerError(message: "cannot start python3 \(script.path): \(error)"))
        }
        stdinPipe = input
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { return .failure(TestServerError(message: "fault_server.py exited before it was ready")) }
            line += chunk
        }
        do {
            return .success(try JSONDecoder().decode(TestServers.self, from: line))
        } catch {
            return .failure(TestServerError(message: "fault_server.py said \(String(decoding: line, as: UTF8.self))"))
        }
    }
}

struct TestServerError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// A ``HealthCheck`` exactly as the daemon gets it: parsed from an ldirectord.cf virtual block
/// and resolved by the core, for its first real server.
func healthCheck(_ block: String, file: String = #fileID, line: Int = #line) throws -> HealthCheck {
    let parser = ConfigParser(resolver: StaticNameResolver(services: StaticNameResolver.commonServices))
    let outcome = parser.parse(block, file: "test.cf")
    guard let configuration = outcome.configuration, let service = configuration.virtualServices.first,
        let real = service.realServers.first
    else {
        throw TestServerError(message: "the test config does not parse: \(outcome.errors.map(\.description))")
    }
    return service.healthCheck(for: real)
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
