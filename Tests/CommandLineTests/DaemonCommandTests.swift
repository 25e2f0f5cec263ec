import DirectordTestSupport
import Foundation
import Testing

/// The daemon verbs' exit codes and ldirectord's argument order, run as processes. The
/// daemon's behaviour itself is tested in DirectordDaemonTests and in the kernel lab.
@Suite("directord daemon verbs")
struct DaemonCommandTests {
    typealias Run = CheckConfigCommandTests.Run

    static func run(_ arguments: [String], runDirectory: URL) throws -> Run {
        try CheckConfigCommandTests.run(
            arguments, environment: ["DIRECTORD_RUN_DIR": runDirectory.path, "PATH": "/usr/bin:/bin"])
    }

    @Test("status: 3 stopped, 1 stale pid file, in ldirectord's words and order; a broken file is no error")
    func status() throws {
        let file = try CheckConfigCommandTests.write("virtual=10.0.0.10:80\n\treal=10.0.0.1:80 gate\n", name: "web.cf")
        let runDirectory = file.deletingLastPathComponent()
        var run = try Self.run([file.path, "status"], runDirectory: runDirectory)
        #expect(run.status == 3)
        #expect(run.output == "ldirectord is stopped for \(file.path)\n")
        // A pid file naming a live process that holds no lock (here the test runner) is stale:
        // pacemaker's agent looks for these words.
        try "\(getpid())\n".write(
            to: runDirectory.appendingPathComponent("directord.web.cf.pid"), atomically: true, encoding: .utf8)
        run = try Self.run(["status", file.path], runDirectory: runDirectory)
        #expect(run.status == 1)
        #expect(run.errors.hasPrefix("ldirectord stale pid file \(runDirectory.path)/directord.web.cf.pid"))
        // status and stop read no configuration: an operator can still stop a daemon after a
        // bad edit of its file.
        let bad = try CheckConfigCommandTests.write("scheduler=rr\n", name: "bad.cf")
        run = try Self.run([bad.path, "status"], runDirectory: runDirectory)
        #expect(run.status == 3)
        run = try Self.run([bad.path, "stop"], runDirectory: runDirectory)
        #expect(run.status == 0)
    }

    @Test("ldirectord's own options: -v and --version, -h, -? and --help, --debug; -v after the verb is status's")
    func ldirectordOptions() throws {
        let directory = FileManager.default.temporaryDirectory
        for option in ["-v", "--version", "-dv"] {
            let run = try Self.run([option], runDirectory: directory)
            #expect(run.status == 0, "\(option)")
            #expect(run.output.hasPrefix("0."), "\(option): \(run.output)")
        }
        for option in ["-h", "-?", "--help"] {
            let run = try Self.run([option], runDirectory: directory)
            #expect(run.status == 0, "\(option)")
            #expect(run.output.contains("USAGE: directord"), "\(option): \(run.output)")
        }
        let file = try CheckConfigCommandTests.write("virtual=10.0.0.10:80\n\treal=10.0.0.1:80 gate\n", name: "web.cf")
        var run = try Self.run([file.path, "status", "-v"], runDirectory: file.deletingLastPathComponent())
        #expect(run.status == 3, "-v after the verb is --verbose: \(run.output)\(run.errors)")
        run = try Self.run(["--debug", file.path, "status"], runDirectory: file.deletingLastPathComponent())
        #expect(run.status == 3)
    }

    @Test("start refuses an invalid file with status 2 and a missing one with 1; stop and reload of a stopped daemon")
    func startAndReload() throws {
        let bad = try CheckConfigCommandTests.write(
            "virtual=10.0.0.10:80\n\treal=10.0.0.1:80 gate\n\tquiescent=maybe\n", name: "bad.cf")
        let runDirectory = bad.deletingLastPathComponent()
        var run = try Self.run(["-d", bad.path, "start"], runDirectory: runDirectory)
        #expect(run.status == 2)
        #expect(run.errors.contains("bad.cf:3: error: quiescent=maybe"))
        run = try Self.run(["/nonexistent/web.cf", "start"], runDirectory: runDirectory)
        #expect(run.status == 1)
        #expect(run.errors == "Config file /nonexistent/web.cf not found\n")
        let good = try CheckConfigCommandTests.write("virtual=10.0.0.10:80\n\treal=10.0.0.1:80 gate\n", name: "good.cf")
        run = try Self.run([good.path, "stop"], runDirectory: good.deletingLastPathComponent())
        #expect(run.status == 0)
        run = try Self.run([good.path, "reload"], runDirectory: good.deletingLastPathComponent())
        #expect(run.status == 1)
        #expect(run.errors == "directord is stopped for \(good.path)\n")
        run = try Self.run([bad.path, "reload"], runDirectory: runDirectory)
        #expect(run.status == 2)
    }

    @Test(
        "-d --dry-run runs the checks in the foreground; --http-via-libcurl takes plain HTTP through libcurl and says so",
        arguments: [false, true])
    func foregroundDryRun(viaLibcurl: Bool) async throws {
        let server = try TestServerProcess.healthPage()
        defer { server.stop() }
        let port = server.port("web")

        let file = try CheckConfigCommandTests.write(
            "checkinterval=1\nvirtual=10.0.0.10:80\n\treal=127.0.0.1:\(port) masq\n\tservice=http\n\trequest=\"health\"\n\treceive=\"^OK$\"\n",
            name: "web.cf")
        let log = file.deletingLastPathComponent().appendingPathComponent("stderr.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let daemon = Process()
        daemon.executableURL = CheckConfigCommandTests.binary
        daemon.arguments = ["-d", "--dry-run"] + (viaLibcurl ? ["--http-via-libcurl"] : []) + [file.path, "start"]
        daemon.environment = ["DIRECTORD_RUN_DIR": file.deletingLastPathComponent().path, "PATH": "/usr/bin:/bin"]
        daemon.standardOutput = FileHandle.nullDevice
        daemon.standardError = try FileHandle(forWritingTo: log)
        try daemon.run()
        defer { if daemon.isRunning { daemon.terminate() } }

        var text = ""
        for _ in 0..<150 where !text.contains("HTTP 200 OK, receive /^OK$/ found") {
            try await Task.sleep(for: .milliseconds(100))
            text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        }
        #expect(text.contains("Added real server: 127.0.0.1:\(port) (10.0.0.10:80)"), "\(text)")
        #expect(text.contains("HTTP 200 OK, receive /^OK$/ found"), "\(text)")
        // -d traces every check through the logging seam.
        #expect(text.contains("check 127.0.0.1:\(port): up (latency="), "\(text)")
        let ready = text.split(separator: "\n").first { $0.contains("Ready: ") }.map(String.init) ?? ""
        #expect(ready.contains("(dry run: no kernel changes)"), "\(ready)")
        #expect(ready.contains("(plain HTTP checks through libcurl)") == viaLibcurl, "\(ready)")
        daemon.terminate()
        daemon.waitUntilExit()
        #expect(daemon.terminationStatus == 0)
    }

    @Test("an orphan a fallback command leaves behind is reaped once it exits, not left a zombie")
    func reapsStrayOrphans() async throws {
        let directory = try CheckConfigCommandTests.write("", name: "unused").deletingLastPathComponent()
        let pidFile = directory.appendingPathComponent("stray.pid")
        let script = directory.appendingPathComponent("fallback.sh")
        try "#!/bin/sh\n[ \"$1\" = start ] || exit 0\nsleep 1 &\necho $! > \(pidFile.path)\n"
            .write(to: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        // Nothing listens on port 9: the real server is down, the fallback command starts.
        let file = try CheckConfigCommandTests.write(
            "checkinterval=1\nvirtual=10.0.0.10:80\n\treal=127.0.0.1:9 masq\n\tchecktype=connect\n\tfallbackcommand=\(script.path)\n",
            name: "stray.cf")
        let daemon = Process()
        daemon.executableURL = CheckConfigCommandTests.binary
        daemon.arguments = ["-d", "--dry-run", file.path, "start"]
        daemon.environment = ["DIRECTORD_RUN_DIR": directory.path, "PATH": "/usr/bin:/bin"]
        daemon.standardOutput = FileHandle.nullDevice
        daemon.standardError = FileHandle.nullDevice
        try daemon.run()
        defer { if daemon.isRunning { daemon.terminate() } }

        var stray: Int32?
        for _ in 0..<100 where stray == nil {
            try await Task.sleep(for: .milliseconds(100))
            stray = (try? String(contentsOf: pidFile, encoding: .utf8)).flatMap {
                Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }
        }
        let pid = try #require(stray, "the fallback command did not run")
        // The shell that started it has exited: the sleep is directord's orphan, then its zombie
        // once it ends, until directord reaps it (each check interval).
        var gone = false
        for _ in 0..<80 where !gone {
            try await Task.sleep(for: .milliseconds(100))
            gone = !FileManager.default.fileExists(atPath: "/proc/\(pid)")
        }
        let state =
            (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("State:") } ?? ""
        #expect(gone, "the orphan \(pid) is still there: \(state)")
        daemon.terminate()
        daemon.waitUntilExit()
    }
}
