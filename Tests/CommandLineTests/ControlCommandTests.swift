import DirectordTestSupport
import Foundation
import Testing

/// `drain`, `undrain` and `status -v` through the running daemon's control socket, run as an
/// operator runs them (the daemon with --dry-run, against a web server this test starts). The
/// kernel's side is proven in the lab (lab/e2e: drain_and_undrain).
@Suite("directord drain and undrain")
struct ControlCommandTests {
    @Test("drain takes the server to weight 0 and says so in status; undrain gives its weight back")
    func drainAndUndrain() async throws {
        let web = try TestServerProcess.healthPage()
        defer { web.stop() }
        let port = web.port("web")
        let file = try CheckConfigCommandTests.write(
            "checkinterval=1\nvirtual=10.0.0.10:80\n\treal=127.0.0.1:\(port) masq 3\n\tservice=http\n"
                + "\trequest=\"health\"\n\treceive=\"OK\"\n",
            name: "web.cf")
        let runDirectory = file.deletingLastPathComponent()
        func run(_ words: String...) throws -> CheckConfigCommandTests.Run {
            try DaemonCommandTests.run([file.path] + words, runDirectory: runDirectory)
        }

        // Not running: nothing to ask.
        var result = try run("drain", "127.0.0.1:\(port)")
        #expect(result.status == 1)
        #expect(result.errors == "directord is stopped for \(file.path)\n")

        result = try DaemonCommandTests.run(["--dry-run", file.path, "start"], runDirectory: runDirectory)
        #expect(result.status == 0, "\(result.errors)")
        defer { _ = try? run("stop") }
        #expect(
            FileManager.default.fileExists(atPath: runDirectory.appendingPathComponent("directord.web.cf.sock").path))
        // The first check has put it in at its weight.
        var status = ""
        for _ in 0..<100 where !status.contains("up (weight 3)") {
            status = try run("status", "-v").output
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(status.contains("127.0.0.1:\(port)  up (weight 3)"), "\(status)")

        result = try run("drain", "127.0.0.1:\(port)")
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.output == "drained: 127.0.0.1:\(port) (10.0.0.10:80)\n")
        // At once: the drain is in the table before the verb returns.
        status = try run("status", "-v").output
        #expect(status.contains("127.0.0.1:\(port)  up (weight 0, drained: directord drain)"), "\(status)")
        let json = try run("status", "--json").output
        #expect(json.contains("\"drained\" : \"directord drain\""), "\(json)")

        result = try run("drain", "10.9.9.9")
        #expect(result.status == 1)
        #expect(result.errors == "directord: no real server 10.9.9.9 in \(file.path)\n")
        result = try run("drain", "127.0.0.1:\(port)", "10.0.0.11:80")
        #expect(result.status == 1)
        #expect(result.errors.contains("in the virtual service 10.0.0.11:80"))

        result = try run("undrain", "127.0.0.1", "tcp:10.0.0.10:80")
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.output == "undrained: 127.0.0.1:\(port) (10.0.0.10:80)\n")
        status = try run("status", "-v").output
        #expect(status.contains("127.0.0.1:\(port)  up (weight 3)"), "\(status)")
        #expect(try run("stop").status == 0)
        #expect(
            !FileManager.default.fileExists(atPath: runDirectory.appendingPathComponent("directord.web.cf.sock").path))
    }
}
