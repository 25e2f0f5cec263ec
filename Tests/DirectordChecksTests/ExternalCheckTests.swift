import DirectordChecks
import DirectordCore
import DirectordSystem
import Foundation
import Testing

@Suite("external and external-perl checks")
struct ExternalCheckTests {
    /// A script file in a fresh temporary directory.
    static func script(_ body: String, name: String = "check.sh") throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("directord-external-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent(name)
        try body.write(to: file, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: file.path)
        return file.path
    }

    func external(_ command: String, type: String = "external", timeout: Int = 2) throws -> HealthCheck {
        try healthCheck(
            """
            virtual=10.0.0.1:80
            \treal=127.0.0.2:8080 gate
            \tchecktype=\(type)
            \tcheckcommand="\(command)"
            \tchecktimeout=\(timeout)
            """)
    }

    @Test("exit 0 is up, anything else down with the exit status")
    func exitStatus() async throws {
        #expect(await run(try external("/bin/true")).isUp)
        let failed = await run(try external("/bin/false"))
        #expect(!failed.isUp)
        #expect(failed.reason == "/bin/false exited 1")
    }

    @Test("the reason quotes the last line the command printed")
    func lastLine() async throws {
        let path = try Self.script("#!/bin/sh\necho starting\necho 'backend says: database down' >&2\nexit 3\n")
        let result = await run(try external(path))
        #expect(result.reason == "\(path) exited 3: backend says: database down")
    }

    @Test("the command gets ldirectord's four arguments, directly, without a shell")
    func arguments() async throws {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("directord-args-\(UUID())").path
        let path = try Self.script("#!/bin/sh\nprintf '%s|' \"$@\" > \(output)\n")
        #expect(await run(try external(path)).isUp)
        let written = try String(contentsOfFile: output, encoding: .utf8)
        #expect(written == "10.0.0.1|80|127.0.0.2|8080|")
    }

    @Test("a command that does not finish is killed with its children at checktimeout")
    func killedAtTimeout() async throws {
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("directord-pid-\(UUID())").path
        let path = try Self.script("#!/bin/sh\nsleep 60 &\necho $! > \(pidFile)\nwait\n")
        let result = await run(try external(path, timeout: 1))
        #expect(!result.isUp)
        #expect(result.reason == "\(path) did not finish within 1 s; killed")
        #expect(result.latency < .seconds(2))
        let child = try #require(
            Int32(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        // The group was killed: the script's own child is gone (or a zombie of init's).
        try await Task.sleep(for: .milliseconds(200))
        let state = (try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8)) ?? ""
        #expect(state.isEmpty || state.contains(") Z "), "sleep \(child) still runs: \(state)")
    }

    @Test("a command that exits 0 leaves nothing running: background and setsid children end with the check")
    func noLeftovers() async throws {
        // As the daemon is: the parent of its checks' orphans.
        #expect(ChildProcesses.becomeSubreaper(reapStrays: false))
        let pids = FileManager.default.temporaryDirectory.appendingPathComponent("directord-pids-\(UUID())").path
        let path = try Self.script(
            "#!/bin/sh\nsleep 300 &\necho $! >> \(pids)\nsetsid sh -c 'echo $$ >> \(pids); exec sleep 300' &\nsleep 0.2\nexit 0\n"
        )
        let result = await run(try external(path))
        #expect(result.isUp, "\(result.reason)")
        let left = try String(contentsOfFile: pids, encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
        #expect(left.count == 2)
        var running: [Int32] = left
        for _ in 0..<40 where !running.isEmpty {
            try await Task.sleep(for: .milliseconds(100))
            running = left.filter { pid in
                let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
                return !state.isEmpty && !state.contains(") Z ")
            }
        }
        #expect(running.isEmpty, "still running after the check: \(running)")
    }

    @Test("a command that cannot be run is down, saying why")
    func missingCommand() async throws {
        let result = await run(try external("/nonexistent/check"))
        #expect(!result.isUp)
        #expect(result.reason == "cannot run /nonexistent/check: No such file or directory")
    }

    @Test("external-perl runs the file with perl and the same arguments")
    func perl() async throws {
        let path = try Self.script(
            "my ($vip, $vport, $rip, $rport) = @ARGV;\nexit($rip eq '127.0.0.2' && $rport == 8080 ? 0 : 1);\n",
            name: "check.pl")
        #expect(await run(try external(path, type: "external-perl")).isUp)
        let failing = try Self.script("die \"no backend\\n\";\n", name: "die.pl")
        let result = await run(try external(failing, type: "external-perl"))
        #expect(!result.isUp)
        #expect(result.reason == "perl \(failing) exited 255: no backend")
    }

    @Test("many commands at once finish independently")
    func concurrent() async throws {
        let slow = try external(try Self.script("#!/bin/sh\nexec sleep 30\n"), timeout: 3)
        let fast = try external("/bin/true")
        async let slowResults = withTaskGroup(of: CheckResult.self) { group in
            for _ in 0..<10 { group.addTask { await run(slow) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let fastResults = await withTaskGroup(of: CheckResult.self) { group in
            for _ in 0..<20 { group.addTask { await run(fast) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(allUp(fastResults))
        // Each fast command ends when it exits, not when the slow ones are killed.
        #expect(fastResults.map(\.latency).max()! < .seconds(2))
        let slowDone = await slowResults
        #expect(slowDone.count == 10)
        #expect(slowDone.allSatisfy { $0.reason.hasSuffix("did not finish within 3 s; killed") })
        #expect(slowDone.map(\.latency).max()! < .seconds(4))
    }
}
