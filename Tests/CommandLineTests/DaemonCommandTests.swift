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

    @Test("status: 3 stopped, 1 stale pid file, 2 configuration error; in ldirectord's order too")
    func status() throws {
        let file = try CheckConfigCommandTests.write("virtual=10.0.0.10:80\n\treal=10.0.0.1:80 gate\n", name: "web.cf")
        let runDirectory = file.deletingLastPathComponent()
        var run = try Self.run([file.path, "status"], runDirectory: runDirectory)
        #expect(run.status == 3)
        #expect(run.output == "directord is stopped for \(file.path)\n")
        try "999999\n".write(to: runDirectory.appendingPathComponent("directord.web.cf.pid"), atomically: true, encoding: .utf8)
        run = try Self.run(["status", file.path], runDirectory: runDirectory)
        #expect(run.status == 1)
        #expect(run.errors.hasPrefix("directord stale pid file \(runDirectory.path)/directord.web.cf.pid"))
        let bad = try CheckConfigCommandTests.write("scheduler=rr\n", name: "bad.cf")
        run = try Self.run([bad.path, "status"], runDirectory: runDirectory)
        #expect(run.status == 2)
        #expect(run.errors.contains("bad.cf:1: error: scheduler=rr"))
    }

    @Test("start refuses an invalid file with status 2 and a missing one with 1; stop and reload of a stopped daemon")
    func startAndReload() throws {
        let bad = try CheckConfigCommandTests.write("virtual=10.0.0.10:80\n\treal=10.0.0.1:80 gate -w 1\n", name: "bad.cf")
        let runDirectory = bad.deletingLastPathComponent()
        var run = try Self.run(["-d", bad.path, "start"], runDirectory: runDirectory)
        #expect(run.status == 2)
        #expect(run.errors.contains("bad.cf:2: error: real=10.0.0.1:80 gate -w 1"))
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
}
