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
        let setup = try Setup(port: port)
        let (file, runDirectory, run) = (setup.file, setup.runDirectory, setup.run)

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
        var status = try await setup.statusOnceUp()
        #expect(status.contains("127.0.0.1:\(port)  up (weight 3)"), "\(status)")
        // With how long its last check took, and since when it is up.
        #expect(status.contains("      last check "), "\(status)")
        #expect(status.contains("up for "), "\(status)")
        #expect(
            status.contains(" since: Added real server: 127.0.0.1:\(port) (10.0.0.10:80) (Weight set to 3)"),
            "\(status)")

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

    @Test("events: the state first with --since-start, then each drain, undrain, reload and purge as a JSON line")
    func events() async throws {
        let web = try TestServerProcess.healthPage()
        defer { web.stop() }
        let port = web.port("web")
        let setup = try Setup(port: port)
        let (file, runDirectory, run) = (setup.file, setup.runDirectory, setup.run)
        #expect(try DaemonCommandTests.run(["--dry-run", file.path, "start"], runDirectory: runDirectory).status == 0)
        #expect(try await setup.statusOnceUp().contains("up (weight 3)"))

        let follower = Process()
        follower.executableURL = CheckConfigCommandTests.binary
        follower.arguments = [file.path, "events", "--since-start"]
        follower.environment = ["DIRECTORD_RUN_DIR": runDirectory.path, "PATH": "/usr/bin:/bin"]
        let output = Pipe()
        follower.standardOutput = output
        try follower.run()
        defer { if follower.isRunning { follower.terminate() } }
        // The follower has its state lines once it follows.
        var received = Data()
        while !String(decoding: received, as: UTF8.self).contains("\n") {
            // Empty at end of file: the follower (or the daemon) ended; the expectations say so.
            let more = output.fileHandleForReading.availableData
            if more.isEmpty { break }
            received += more
        }
        #expect(try run("drain", "127.0.0.1:\(port)").status == 0)
        #expect(try run("undrain", "127.0.0.1:\(port)").status == 0)
        #expect(try run("reload").status == 0)
        #expect(try run("stop").status == 0)
        // The daemon's end closes the follower's connection: it ends by itself.
        received += output.fileHandleForReading.readDataToEndOfFile()
        follower.waitUntilExit()
        #expect(follower.terminationStatus == 0)

        let events = try String(decoding: received, as: UTF8.self).split(separator: "\n").map {
            try JSONDecoder().decode(ControlEventLine.self, from: Data($0.utf8))
        }
        #expect(events.first?.type == "state")
        #expect(events.first?.to == "up")
        #expect(events.first?.service == "tcp:10.0.0.10:80")
        let types = events.map(\.type)
        #expect(
            types.filter { $0 != "state" }.prefix(4) == [
                "real_server_drained", "real_server_undrained", "real_server_restored", "reload",
            ], "\(types)")
        #expect(types.suffix(2) == ["real_server_purged", "virtual_service_purged"], "\(types)")
        let drained = try #require(events.first { $0.type == "real_server_drained" })
        #expect(drained.real == "127.0.0.1:\(port)" && drained.to == "drained" && drained.weight == 0)
        #expect(drained.message.hasPrefix("Drained real server: 127.0.0.1:\(port) (10.0.0.10:80)"))
    }

    /// What a test reads of an event line.
    struct ControlEventLine: Decodable {
        var type: String
        var service: String?
        var real: String?
        var to: String?
        var weight: Int32?
        var message: String
    }

    /// A configuration with one real server (the test's web server) and a way to run verbs on it.
    struct Setup {
        let file: URL
        let runDirectory: URL

        init(port: UInt16) throws {
            file = try CheckConfigCommandTests.write(
                "checkinterval=1\nvirtual=10.0.0.10:80\n\treal=127.0.0.1:\(port) masq 3\n\tservice=http\n"
                    + "\trequest=\"health\"\n\treceive=\"OK\"\n",
                name: "web.cf")
            runDirectory = file.deletingLastPathComponent()
        }

        func run(_ words: String...) throws -> CheckConfigCommandTests.Run {
            try DaemonCommandTests.run([file.path] + words, runDirectory: runDirectory)
        }

        /// `status -v` once the first check has put the real server in at its weight.
        func statusOnceUp() async throws -> String {
            var status = ""
            for _ in 0..<100 where !status.contains("up (weight 3)") {
                status = try run("status", "-v").output
                try await Task.sleep(for: .milliseconds(100))
            }
            return status
        }
    }
}
