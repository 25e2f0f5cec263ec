import DirectordTestSupport
import Foundation
import Testing

/// directord against backends that stream, drip, flood, reset, hang or send bytes meant for a
/// terminal: each is "down" within its timeout, the healthy one is never disturbed, the log
/// shows no raw control byte, and the CPU the daemon spends per hostile backend stays small.
/// The daemon runs as its own process (`-d --dry-run`) so that its CPU time is its own.
@Suite("hostile backends")
struct HostileBackendTests {
    /// CPU seconds the daemon may spend per second per hostile backend. A backend streaming
    /// `100 Continue` for ever used to cost about 0.85 of a core; a bounded check costs a few
    /// milliseconds a second.
    static let cpuPerBackendPerSecond = 0.03

    @Test("every hostile backend is down within its timeout, the healthy one up, at bounded CPU each")
    func hostileBackends() async throws {
        let servers = try TestServerProcess("hostile")
        defer { servers.stop() }
        let ports = servers.ports
        let hostile = ports.keys.filter { $0 != "healthy" }.sorted()

        var config = "checkinterval=1\nnegotiatetimeout=2\ncheckcount=1\nvirtual=10.0.0.10:80\n"
        config += "\treal=127.0.0.1:\(ports["healthy"]!) masq\n"
        for name in hostile { config += "\treal=127.0.0.1:\(ports[name]!) masq\n" }
        config += "\tservice=http\n\trequest=\"/\"\n\treceive=\"OK\"\n"
        let file = try CheckConfigCommandTests.write(config, name: "hostile.cf")
        let log = file.deletingLastPathComponent().appendingPathComponent("stderr.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let daemon = Process()
        daemon.executableURL = CheckConfigCommandTests.binary
        daemon.arguments = ["-d", "--dry-run", file.path, "start"]
        daemon.environment = ["DIRECTORD_RUN_DIR": file.deletingLastPathComponent().path, "PATH": "/usr/bin:/bin"]
        daemon.standardOutput = FileHandle.nullDevice
        daemon.standardError = try FileHandle(forWritingTo: log)
        try daemon.run()
        defer { if daemon.isRunning { daemon.terminate() } }

        // Settle (first checks, the hostile ones' first timeouts), then measure.
        try await Task.sleep(for: .seconds(4))
        let before = try Self.cpuSeconds(of: daemon.processIdentifier)
        let window = 10.0
        try await Task.sleep(for: .seconds(window))
        let used = try Self.cpuSeconds(of: daemon.processIdentifier) - before
        daemon.terminate()
        daemon.waitUntilExit()

        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        let perBackend = used / window / Double(hostile.count)
        print(
            "hostile backends: \(hostile.count), daemon CPU \(used) s in \(window) s, \(perBackend) CPU s per second each"
        )
        #expect(
            perBackend < Self.cpuPerBackendPerSecond,
            "\(String(format: "%.4f", perBackend)) CPU s per second per hostile backend (\(used) s in \(window) s)")
        let healthy = "127.0.0.1:\(ports["healthy"]!)"
        #expect(text.contains("Added real server: \(healthy) (10.0.0.10:80)"), "\(text)")
        #expect(!text.contains("Deleted real server: \(healthy)"), "the healthy server was taken out:\n\(text)")
        for name in hostile {
            #expect(!text.contains("Added real server: 127.0.0.1:\(ports[name]!) "), "\(name) was added")
        }
        // Peer bytes never reach the log raw.
        #expect(!text.utf8.contains(0x1B) && !text.utf8.contains(0x07), "a raw control byte in the log")
        #expect(text.contains("\\x1B]0;pwned\\x07"), "the escape backend's reason is not shown escaped:\n\(text)")
    }

    /// utime + stime of a process, from /proc.
    static func cpuSeconds(of pid: Int32) throws -> Double {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = stat[stat.index(after: try #require(stat.lastIndex(of: ")")))...].split(separator: " ")
        // After the name: state is field 3; utime and stime are fields 14 and 15.
        let ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
