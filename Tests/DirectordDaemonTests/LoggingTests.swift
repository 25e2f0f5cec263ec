import DirectordCore
import DirectordTestSupport
import Foundation
import Glibc
import Logging
import Testing

@testable import DirectordDaemon

@Suite("Log formats")
struct LoggingTests {
    @Test("times print as Perl's scalar localtime")
    func ctime() {
        var parts = tm()
        parts.tm_year = 126
        parts.tm_mon = 10
        parts.tm_mday = 1
        parts.tm_wday = 0
        parts.tm_hour = 9
        parts.tm_min = 5
        parts.tm_sec = 7
        #expect(LocalTime.ctime(parts) == "Sun Nov  1 09:05:07 2026")
        parts.tm_mday = 21
        parts.tm_wday = 6
        parts.tm_hour = 20
        #expect(LocalTime.ctime(parts) == "Sat Nov 21 20:05:07 2026")
    }

    @Test("a log file gets ldirectord's [ctime|config|pid] framing, one line per message, the reason on the next")
    func fileFormat() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("directord-log-\(UUID()).log").path
        defer { unlink(path) }
        let log = DirectorLog(destination: .file(path: path), configName: "web.cf")
        log.log(
            DirectorEvent.realServerDeleted(
                .init(address: IPAddress("10.0.0.1")!, port: 80), in: .inet(.tcp, IPAddress("10.0.0.10")!, port: 80),
                reason: "HTTP 503\nService Unavailable"))
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let frame = #"\[\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\|web\.cf\|\d+\] "#
        let pattern = try Regex(
            "^" + frame + #"Deleted real server: 10\.0\.0\.1:80 \(10\.0\.0\.10:80\)\n"# + frame
                + #"Check of real server 10\.0\.0\.1:80 \(10\.0\.0\.10:80\): HTTP 503 Service Unavailable\n$"#)
        #expect(text.wholeMatch(of: pattern) != nil, "\(text)")
    }

    @Test("the monitor file line is ldirectord's")
    func monitorLine() throws {
        let config = try ConfigParser(resolver: StaticNameResolver()).configuration(
            from: "virtual=10.0.0.10:80\n\treal=10.0.0.1 gate 2\n\trequest=\"/index.html\"\n\treceive=\"Test Page\"\n",
            file: "m.cf"
        ).0
        let virtual = config.virtualServices[0]
        let line = MonitorFile.line(
            virtual: virtual, real: virtual.realServers[0],
            result: .down("HTTP 500 | bad\nbody 100%", latency: .zero), time: "Thu Jan  1 00:00:00 1970", pid: 42)
        #expect(
            line
                == "[Thu Jan  1 00:00:00 1970] [42] negotiate http tcp 10.0.0.1 0 2 gate /index.html Test Page [down] HTTP 500 %7c bad%0abody 100%25\n"
        )
        let up = MonitorFile.line(
            virtual: virtual, real: virtual.realServers[0], result: .up("", latency: .zero), time: "T", pid: 1)
        #expect(up.hasSuffix(" [up] -\n"))
    }

    @Test("sd_notify datagrams reach $NOTIFY_SOCKET")
    func notify() throws {
        let path = "/tmp/directord-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let receiver = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer {
            close(receiver)
            unlink(path)
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(receiver, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        #expect(bound == 0)
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"])
        #expect(notifier.watchdogInterval == .seconds(2))
        notifier.ready(status: "3 virtual services")
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = recv(receiver, &buffer, buffer.count, 0)
        #expect(String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self) == "READY=1\nSTATUS=3 virtual services")
        #expect(SystemdNotifier(environment: [:]).isActive == false)
    }

    @Test("a pid file is running only while a process holds its lock, and names that process; a second lock is refused")
    func pidFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("directord-pid-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = PidFile(configName: "web.cf", directory: directory.path)
        #expect(file.status == .absent)
        // A file naming a live process that holds no lock (a stale pid recycled by, say, `less
        // ldirectord.log`) is stale: nothing would be signalled.
        try "\(getppid())\n".write(toFile: file.path, atomically: true, encoding: .utf8)
        #expect(file.status == .stale(pid: getppid()))

        // Another process takes the lock, as a running daemon holds it.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        holder.arguments = [
            "python3", "-c",
            "import fcntl,sys,time; f=open(sys.argv[1],'r+'); fcntl.lockf(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)",
            file.path,
        ]
        let output = Pipe()
        holder.standardOutput = output
        try holder.run()
        defer { if holder.isRunning { holder.terminate() } }
        _ = output.fileHandleForReading.availableData
        #expect(file.status == .running(pid: holder.processIdentifier))
        guard case .failure(.held(let by)) = file.lock() else {
            Issue.record("a second lock was granted")
            return
        }
        #expect(by == holder.processIdentifier)

        holder.terminate()
        holder.waitUntilExit()
        #expect(file.status == .stale(pid: getppid()))
        let lock = try file.lock().get()
        #expect(try String(contentsOfFile: file.path, encoding: .utf8) == "\(getpid())\n")
        withExtendedLifetime(lock) {}
        file.remove()
        #expect(file.status == .absent)
    }
}

@Suite("Shell commands")
struct ShellCommandTests {
    @Test("a fallback command starts with no signal blocked or ignored and none of our descriptors")
    func cleanChild() throws {
        let path = "/tmp/directord-shell-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { unlink(path) }
        // As the daemon does: SIGTERM ignored in the parent.
        let previous = signal(SIGTERM, SIG_IGN)
        defer { signal(SIGTERM, previous) }
        let outcome = ShellCommand.runAndWait(
            "grep -E '^(SigBlk|SigIgn)' /proc/self/status > \(path); ls /proc/self/fd | wc -l >> \(path); exit 3",
            timeout: .seconds(10))
        guard case .success(let status)? = outcome else {
            Issue.record("no exit status: \(String(describing: outcome))")
            return
        }
        #expect(status == 3)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { String($0) }
        #expect(lines.count == 3)
        // Signals 1 to 31; 32 and 33 are glibc's own, which posix_spawn leaves alone.
        func standardSignals(_ prefix: String) -> UInt64? {
            lines.first { $0.hasPrefix(prefix) }.flatMap { UInt64($0.split(separator: "\t").last ?? "", radix: 16) }
                .map { $0 & 0x7fff_ffff }
        }
        #expect(standardSignals("SigBlk:") == 0, "\(lines)")
        #expect(standardSignals("SigIgn:") == 0, "\(lines)")
        // 0, 1, 2 and the one ls opens to list.
        #expect(lines.last.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } == 4)
    }
}

/// swift-log's seam: a check's or netlink's debug line reaches the daemon's log as one line,
/// its metadata sorted, only when the level lets it.
@Suite("the logging seam")
struct LogHandlerTests {
    @Test("debug lines with metadata under -d, nothing below notice otherwise; peer bytes escaped")
    func handler() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("seam-\(UUID()).log").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let log = DirectorLog(destination: .file(path: path), configName: "x.cf")
        let debug = DirectorLogHandler.logger("directord.checks", log: log, debug: true)
        debug.debug(
            "check 10.0.0.1:80: down", metadata: ["reason": "HTTP 500 \u{1b}[31mboom", "latency": "0.1 seconds"])
        let quiet = DirectorLogHandler.logger("directord.checks", log: log, debug: false)
        quiet.debug("not written")
        quiet.notice("written")
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            String($0[$0.index($0.firstIndex(of: "]")!, offsetBy: 2)...])
        }
        #expect(
            lines == [
                "check 10.0.0.1:80: down (latency=0.1 seconds, reason=HTTP 500 \\x1B[31mboom)", "written",
            ])
    }
}
