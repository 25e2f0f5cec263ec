import DirectordCore
import DirectordIPVS
import Foundation
import Testing

extension Tag {
    /// Needs a kernel with IPVS: runs only inside lab/run (see lab/test-ipvs).
    @Tag static var kernel: Self
}

/// Where the tests run.
enum Lab {
    /// True inside lab/run's guest, which sets `LAB_GUEST=1` and loads ip_vs with every
    /// scheduler. Elsewhere kernel tests are skipped, and reported as skipped.
    static let isGuest = ProcessInfo.processInfo.environment["LAB_GUEST"] == "1"

    static let skipReason: Comment = "needs a kernel with IPVS: run lab/test-ipvs"
}

/// The output and status of a finished process.
struct ProcessResult: CustomStringConvertible {
    var status: Int32
    var standardOutput: String
    var standardError: String

    var description: String { "exit \(status), stdout:\n\(standardOutput)stderr:\n\(standardError)" }
}

/// Runs a program and waits for it (tests only: Foundation's Process is fine here).
func run(_ executable: String, _ arguments: [String]) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let output = Pipe()
    let error = Pipe()
    process.standardOutput = output
    process.standardError = error
    try process.run()
    // Read before waiting: a full pipe would block the child.
    let out = output.fileHandleForReading.readDataToEndOfFile()
    let err = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ProcessResult(
        status: process.terminationStatus, standardOutput: String(decoding: out, as: UTF8.self),
        standardError: String(decoding: err, as: UTF8.self))
}

/// A network namespace of its own for one test, with `lo` up, so tests run in parallel without
/// seeing each other's tables. Removed by ``remove()``, which ``withNamespace(_:)`` calls.
///
/// `lo` must be up: in a namespace without any address the kernel has no local routing
/// table, classifies every IPv4 address as broadcast, and refuses every IPv4 destination.
final class LabNamespace: Sendable {
    let name: String

    init() throws {
        name = "dtest-\(UInt32.random(in: 0...UInt32.max))"
        try Self.check(run("/usr/bin/ip", ["netns", "add", name]), "ip netns add")
        try Self.check(run("/usr/bin/ip", ["-n", name, "link", "set", "lo", "up"]), "ip link set lo up")
    }

    func remove() {
        _ = try? run("/usr/bin/ip", ["netns", "del", name])
    }

    /// A netlink client whose socket lives in this namespace.
    func client() throws -> NetlinkIPVSClient {
        try NetlinkIPVSClient(networkNamespace: name)
    }

    /// Runs `ipvsadm` inside the namespace.
    func ipvsadm(_ arguments: String...) throws -> ProcessResult {
        try ipvsadm(arguments)
    }

    func ipvsadm(_ arguments: [String]) throws -> ProcessResult {
        try run("/usr/bin/nsenter", ["--net=/run/netns/\(name)", "/usr/sbin/ipvsadm"] + arguments)
    }

    /// Runs `ipvsadm` and fails the test unless it succeeds; returns its standard output.
    @discardableResult
    func ipvsadmOK(_ arguments: String..., sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try ipvsadmOK(arguments, sourceLocation: sourceLocation)
    }

    /// Runs `ipvsadm` and throws unless it succeeds; returns its standard output.
    @discardableResult
    func ipvsadmOK(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let result = try ipvsadm(arguments)
        guard result.status == 0 else {
            throw LabError("ipvsadm \(arguments.joined(separator: " ")): \(result)")
        }
        return result.standardOutput
    }

    /// Runs a command inside the namespace (`ip`, `sh` ...).
    func exec(_ arguments: [String]) throws -> ProcessResult {
        try run("/usr/bin/nsenter", ["--net=/run/netns/\(name)"] + arguments)
    }

    /// `ipvsadm -Ln` with the given extra options, without the version line: the table part
    /// that tests compare literally.
    func listing(_ options: String...) throws -> String {
        let text = try ipvsadmOK(["-Ln"] + options)
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropFirst().joined(separator: "\n")
    }

    private static func check(_ result: ProcessResult, _ what: String) throws {
        guard result.status == 0 else { throw LabError("\(what): \(result)") }
    }
}

/// Runs `body` in a fresh namespace and removes it afterwards.
func withNamespace<T>(_ body: (LabNamespace) throws -> T) throws -> T {
    let namespace = try LabNamespace()
    defer { namespace.remove() }
    return try body(namespace)
}

struct LabError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The two title lines of `ipvsadm -Ln`.
let plainTitle = """
    Prot LocalAddress:Port Scheduler Flags
      -> RemoteAddress:Port           Forward Weight ActiveConn InActConn

    """

// MARK: Building values tersely

func v4(_ text: String) -> IPAddress { IPAddress(text, family: .ipv4)! }
func v6(_ text: String) -> IPAddress { IPAddress(text, family: .ipv6)! }
func tcp(_ address: String, _ port: UInt16) -> ServiceKey { .inet(.tcp, IPAddress(address)!, port: port) }
func udp(_ address: String, _ port: UInt16) -> ServiceKey { .inet(.udp, IPAddress(address)!, port: port) }
func sched(_ name: String) -> Scheduler { Scheduler(uncheckedName: name) }
