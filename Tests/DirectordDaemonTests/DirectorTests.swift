import DirectordChecks
import DirectordCore
import DirectordSystem
import DirectordTestSupport
import Foundation
import Glibc
import Synchronization
import Testing

@testable import DirectordDaemon

/// The director end to end in one process: real checks against real local servers, the
/// kernel replaced by the in-memory table (as `--dry-run` does). The lab's end-to-end tests
/// do the same against a real kernel.
@Suite("Director", .serialized)
struct DirectorTests {
    /// A web server on 127.0.0.1 that can be stopped and started again on the same port.
    final class WebServer: @unchecked Sendable {
        let port: UInt16
        private var server: TestServerProcess?
        private let root: URL

        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("directord-web-\(UUID())")
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            try "healthy\n".write(to: root.appendingPathComponent("health"), atomically: true, encoding: .utf8)
            // A fixed port, so that it can come back on it: below the ephemeral range, where the
            // other suites' servers get theirs. A port someone else listens on fails to bind,
            // and another is tried.
            for _ in 0..<20 {
                let candidate = UInt16.random(in: 10000...19999)
                if let server = try? TestServerProcess("web", [root.path, "\(candidate)"]) {
                    self.server = server
                    port = candidate
                    return
                }
            }
            throw POSIXError(.EADDRINUSE)
        }

        func start() throws {
            server = try TestServerProcess("web", [root.path, "\(port)"])
        }

        func stop() {
            server?.stop()
            server = nil
        }

        deinit {
            stop()
            try? FileManager.default.removeItem(at: root)
        }
    }

    final class ExitStatus: Sendable {
        let value = Mutex<Int32?>(nil)
    }

    /// The director's first reconciliation is in, as `onReady` says.
    final class Readiness: Sendable {
        private let state = Mutex<(ready: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

        func fire() {
            let waiters = state.withLock { state in
                state.ready = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }

        func wait() async {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state in
                    if !state.ready { state.waiters.append(continuation) }
                    return state.ready
                }
                if ready { continuation.resume() }
            }
        }
    }

    /// The director's one task, as the daemon runs it.
    final class Runner: Sendable {
        let task = Mutex<Task<Void, Never>?>(nil)
    }

    /// A director over an in-memory table, its log captured.
    struct Harness: Sendable {
        let director: Director
        /// What the director writes to, and what tests wait on.
        let observed = ObservedIPVSTable()
        /// The table itself, for the tests' own reads.
        var table: InMemoryIPVSTable { observed.table }
        let logPath: String
        let exitStatus = ExitStatus()
        let readiness = Readiness()
        let runner = Runner()
        let configPath: String

        init(config: String, drainFile: DrainFile? = nil) throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "directord-director-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            configPath = directory.appendingPathComponent("test.cf").path
            try config.write(toFile: configPath, atomically: true, encoding: .utf8)
            logPath = directory.appendingPathComponent("director.log").path
            let loader = ConfigLoader(resolver: StaticNameResolver(services: StaticNameResolver.commonServices))
            let configuration = try #require(loader.load(path: configPath).configuration)
            let log = DirectorLog(destination: .file(path: logPath), configName: "test.cf")
            let status = exitStatus
            var settings = Director.Settings(configPath: configPath, configName: "test.cf", dryRun: true, pidFile: nil)
            let readiness = self.readiness
            settings.onReady = { readiness.fire() }
            settings.drainFile = drainFile
            director = Director(
                configuration: configuration,
                settings: settings,
                loop: try CheckLoop(), writer: TableWriter(control: observed, dryRun: false, log: log), log: log,
                notifier: SystemdNotifier(environment: [:]), loader: loader, logDestinations: .fixed,
                exitHandler: { code in status.value.withLock { $0 = code } })
        }

        /// Runs the director as the daemon does; returns once it is ready.
        func start() async {
            let director = self.director
            runner.task.withLock { $0 = Task { await director.run() } }
            await readiness.wait()
        }

        /// Sends a stop signal and waits until the director has stopped.
        func stop(_ signal: String = "TERM") async {
            await director.signal(signal)
            await runner.task.withLock { $0 }?.value
        }

        /// `line` was logged, followed by the line with the check's reason.
        func logged(_ line: String, reason: String) -> Bool {
            let lines = self.lines
            guard let index = lines.firstIndex(of: line), index + 1 < lines.count else { return false }
            let subject = line.split(separator: " ", maxSplits: 4).dropFirst(3).first.map(String.init) ?? ""
            return lines[index + 1].hasPrefix("Check of real server \(subject)")
                && lines[index + 1].hasSuffix(": \(reason)")
        }

        /// The log lines without their [time|config|pid] framing.
        var lines: [String] {
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").map { line in
                line.firstIndex(of: "]").map { String(line[line.index($0, offsetBy: 2)...]) } ?? String(line)
            }
        }

        func destinations(_ service: ServiceKey) -> [IPVSDestination] {
            (try? table.table().destinations(of: service)) ?? []
        }

        /// Waits up to `seconds` for a condition on the table, re-evaluated at each read and
        /// change the director makes: no polling, and no thread held (the tests share a
        /// cooperative pool as small as the machine).
        func waitFor(_ seconds: Double = 8, _ condition: @escaping @Sendable () -> Bool) async -> Bool {
            await observed.waitUntil(timeout: .seconds(seconds), condition)
        }

        /// Waits until what the director decided so far is done, its log lines included: it
        /// serves one request at a time, so once it reads the table again (its next repair, at
        /// most a check interval away) the reconciliation that changed the table has finished.
        func settled() async {
            let reads = observed.reads
            #expect(await waitFor(4) { observed.reads > reads })
        }
    }

    static let vip = ServiceKey.inet(.tcp, IPAddress("10.0.0.10")!, port: 80)

    static func config(_ web: WebServer, extra: [String] = [], globals: [String] = []) -> String {
        (["checkinterval=1", "checktimeout=1", "negotiatetimeout=1", "fallback=127.0.0.1:9 masq"] + globals + [
            "virtual=10.0.0.10:80",
            "\treal=127.0.0.1:\(web.port) masq 3",
            "\treal=127.0.0.1:1 masq",  // nothing listens: down
            "\tservice=http", "\trequest=\"/health\"", "\treceive=\"healthy\"",
        ] + extra.map { "\t" + $0 }).joined(separator: "\n") + "\n"
    }

    @Test("a failing real server is removed and the fallback installed; both undone on recovery")
    func failover() async throws {
        let web = try WebServer()
        let harness = try Harness(config: Self.config(web))
        await harness.start()
        let real = IPVSDestination.Key(address: IPAddress("127.0.0.1")!, port: web.port)
        #expect(await harness.waitFor { harness.destinations(Self.vip).map(\.key) == [real] })
        #expect(harness.destinations(Self.vip).first?.weight == 3)

        web.stop()
        let fallback = IPVSDestination.Key(address: IPAddress("127.0.0.1")!, port: 9)
        #expect(await harness.waitFor { harness.destinations(Self.vip).map(\.key) == [fallback] })
        try web.start()
        #expect(await harness.waitFor { harness.destinations(Self.vip).map(\.key) == [real] })

        await harness.stop()
        #expect((try harness.table.table()).isEmpty)
        #expect(harness.exitStatus.value.withLock { $0 } == 0)
        let lines = harness.lines
        #expect(lines.first == "Added virtual server: 10.0.0.10:80")
        #expect(
            harness.logged(
                "Added real server: 127.0.0.1:\(web.port) (10.0.0.10:80) (Weight set to 3)",
                reason: "HTTP 200 OK, receive /healthy/ found"))
        #expect(
            harness.logged(
                "Deleted real server: 127.0.0.1:\(web.port) (10.0.0.10:80)",
                reason: "connect to http://127.0.0.1:\(web.port)/health: Connection refused"))
        #expect(lines.contains("Added fallback server: 127.0.0.1:9 (10.0.0.10:80) (Weight set to 1)"))
        #expect(lines.contains("Deleted fallback server: 127.0.0.1:9 (10.0.0.10:80)"))
        #expect(
            lines.suffix(3) == [
                "Purged real server (stop): 127.0.0.1:\(web.port) (10.0.0.10:80)",
                "Purged virtual server (stop): 10.0.0.10:80",
                "Linux Director Daemon terminated on signal: TERM",
            ])
    }

    @Test("quiescent with failurecount: soft failures first, then weight 0")
    func quiescentSoftFailures() async throws {
        let web = try WebServer()
        let harness = try Harness(config: Self.config(web, extra: ["quiescent=yes", "failurecount=2"]))
        await harness.start()
        let real = IPVSDestination.Key(address: IPAddress("127.0.0.1")!, port: web.port)
        #expect(await harness.waitFor { harness.destinations(Self.vip).first { $0.key == real }?.weight == 3 })
        web.stop()
        #expect(await harness.waitFor { harness.destinations(Self.vip).first { $0.key == real }?.weight == 0 })
        await harness.settled()
        let lines = harness.lines
        let soft = try #require(
            lines.firstIndex(of: "Soft failure real server: 127.0.0.1:\(web.port) (tcp:10.0.0.10:80) failure 1/2"))
        let quiesced = try #require(
            lines.firstIndex(of: "Quiescent real server: 127.0.0.1:\(web.port) (10.0.0.10:80) (Weight set to 0)"))
        #expect(soft < quiesced)
        #expect(lines[soft + 1].hasPrefix("Check of real server 127.0.0.1:\(web.port) (tcp:10.0.0.10:80): connect to"))
        await harness.stop()
    }

    @Test("a reload with a changed weight edits it in place; an invalid reload changes nothing")
    func reload() async throws {
        let web = try WebServer()
        let harness = try Harness(config: Self.config(web))
        await harness.start()
        let real = IPVSDestination.Key(address: IPAddress("127.0.0.1")!, port: web.port)
        #expect(await harness.waitFor { harness.destinations(Self.vip).first?.key == real })
        let batches = harness.table.appliedBatches

        try Self.config(web).replacingOccurrences(of: "masq 3", with: "masq 7")
            .write(toFile: harness.configPath, atomically: true, encoding: .utf8)
        await harness.director.reload(trigger: .signal)
        #expect(harness.destinations(Self.vip).first { $0.key == real }?.weight == 7)
        #expect(harness.table.appliedBatches == batches + 1)
        #expect(
            harness.logged(
                "Restored real server: 127.0.0.1:\(web.port) (10.0.0.10:80) (Weight set to 7)",
                reason: "HTTP 200 OK, receive /healthy/ found"))
        // The reload says what it cost the table: one change.
        #expect(
            harness.lines.contains {
                $0.hasPrefix("Reloaded \(harness.configPath): 1 table change in ") && $0.hasSuffix(" ms")
            })

        let before = try harness.table.table()
        try "virtual=10.0.0.10:80\n\treal=127.0.0.1:80 gate 5x\n\tquiescent=maybe\n"
            .write(toFile: harness.configPath, atomically: true, encoding: .utf8)
        await harness.director.reload(trigger: .signal)
        #expect(try harness.table.table() == before)
        let lines = harness.lines
        #expect(
            lines.contains {
                $0.hasSuffix(
                    "test.cf:2: error: real=127.0.0.1:80 gate 5x: invalid real server line: Invalid real server line, around \"x\""
                )
            })
        #expect(lines.last == "Reload failed with 2 errors: the running configuration stays")
        // The running configuration still works: the real server goes on being checked.
        web.stop()
        #expect(await harness.waitFor { harness.destinations(Self.vip).first?.key != real })
        await harness.stop()
    }

    @Test("a real server the kernel already holds is adopted: a restart changes nothing")
    func restartAdopts() async throws {
        let web = try WebServer()
        let first = try Harness(config: Self.config(web))
        await first.start()
        let real = IPVSDestination.Key(address: IPAddress("127.0.0.1")!, port: web.port)
        #expect(await first.waitFor { first.destinations(Self.vip).first?.key == real })
        let settled = try first.table.table()

        // A second director on the same table, as after kill -9: no operation at all.
        let second = try Harness(config: Self.config(web))
        try second.table.apply(TableDiff.diff(from: IPVSTable(), to: settled))
        let batches = second.table.appliedBatches
        await second.start()
        // Three repair rounds after start (each reads the table, one per check interval): every
        // real server has been checked at least once, and nothing was written.
        let reads = second.observed.reads
        #expect(await second.waitFor(6) { second.observed.reads >= reads + 3 })
        #expect(second.table.appliedBatches == batches)
        #expect(try second.table.table() == settled)
        await first.stop()
        await second.stop()
    }

    @Test("a managed entry deleted behind directord's back comes back within an interval")
    func repair() async throws {
        let web = try WebServer()
        let harness = try Harness(config: Self.config(web))
        await harness.start()
        let real = IPVSDestination.Key(address: IPAddress("127.0.0.1")!, port: web.port)
        #expect(await harness.waitFor { harness.destinations(Self.vip).first?.key == real })
        let entry = try #require(harness.destinations(Self.vip).first)
        try harness.table.apply([.deleteDestination(entry, service: Self.vip)])
        #expect(harness.destinations(Self.vip).isEmpty)
        #expect(await harness.waitFor(3) { harness.destinations(Self.vip).first?.key == real })
        await harness.stop()
    }

    @Test("syncdaemon=: started at start, started again when stopped behind its back, stopped at stop")
    func syncDaemons() async throws {
        let web = try WebServer()
        let harness = try Harness(
            config: Self.config(web, globals: ["syncdaemon=both", "syncinterface=eth0", "syncid=51"]))
        await harness.start()
        let roles: @Sendable () -> [IPVSSyncDaemon.Role] = { ((try? harness.table.syncDaemons()) ?? []).map(\.role) }
        #expect(roles() == [.master, .backup])
        #expect(try harness.table.syncDaemons().allSatisfy { $0.interface == "eth0" && $0.syncID == 51 })
        #expect(
            harness.lines.contains(
                "Started master sync daemon (mcast=eth0, syncid=51, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)"))
        let status = await harness.director.currentStatusReport()
        #expect(status.syncDaemons?.count == 2)
        #expect(status.text.contains("connection sync:\n  master sync daemon (mcast=eth0, syncid=51"))

        try harness.table.stopSyncDaemon(.master)
        #expect(await harness.waitFor(4) { roles() == [.master, .backup] })
        await harness.stop()
        #expect(roles().isEmpty)
        #expect(
            harness.lines.contains(
                "Stopped backup sync daemon (mcast=eth0, syncid=51, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)"))
    }

    @Test("a sync daemon someone else started, as the file asks, is adopted and left running at stop")
    func syncDaemonAdopted() async throws {
        let web = try WebServer()
        let harness = try Harness(config: Self.config(web, globals: ["syncdaemon=backup", "syncinterface=eth0"]))
        try harness.table.startSyncDaemon(IPVSSyncDaemon(role: .backup, interface: "eth0", syncID: 0))
        await harness.start()
        await harness.settled()
        #expect(!harness.lines.contains { $0.contains("sync daemon") })
        let status = await harness.director.currentStatusReport()
        #expect(status.syncDaemons?.first?.hasSuffix("not started by directord") == true)
        await harness.stop()
        #expect(try harness.table.syncDaemons().map(\.role) == [.backup])
    }

    @Test("a sync daemon the kernel refuses (no such interface) is one error line, not one per repair")
    func syncDaemonRefused() async throws {
        let web = try WebServer()
        let harness = try Harness(config: Self.config(web, globals: ["syncdaemon=master", "syncinterface=eth9"]))
        await harness.start()
        await harness.settled()
        await harness.settled()
        #expect(harness.lines.filter { $0.hasPrefix("Cannot start master sync daemon (mcast=eth9") }.count == 1)
        #expect(try harness.table.syncDaemons().isEmpty)
        await harness.stop()
    }

    @Test("a maintenance file takes the server out at once")
    func maintenance() async throws {
        let web = try WebServer()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("directord-maint-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let harness = try Harness(config: Self.config(web, globals: ["maintenancedir=\(directory.path)"]))
        await harness.start()
        let real = IPVSDestination.Key(address: IPAddress("127.0.0.1")!, port: web.port)
        #expect(await harness.waitFor { harness.destinations(Self.vip).first?.key == real })
        _ = FileManager.default.createFile(
            atPath: directory.appendingPathComponent("127.0.0.1:\(web.port)").path, contents: nil)
        #expect(await harness.waitFor(4) { harness.destinations(Self.vip).first?.key != real })
        await harness.settled()
        #expect(
            harness.logged("Deleted real server: 127.0.0.1:\(web.port) (10.0.0.10:80)", reason: "Server in maintenance")
        )
        try FileManager.default.removeItem(at: directory.appendingPathComponent("127.0.0.1:\(web.port)"))
        #expect(await harness.waitFor(4) { harness.destinations(Self.vip).first?.key == real })
        await harness.stop()
    }

    @Test("a weight set to 0 behind directord's back is kept as a drain, also across a restart")
    func operatorDrain() async throws {
        let web = try WebServer()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("directord-drain-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let drainFile = DrainFile(path: directory.appendingPathComponent("test.drains.json").path)
        let config = Self.config(web, globals: ["cleanstop=no"])
        let first = try Harness(config: config, drainFile: drainFile)
        await first.start()
        let real = IPVSDestination.Key(address: IPAddress("127.0.0.1")!, port: web.port)
        #expect(await first.waitFor { first.destinations(Self.vip).first { $0.key == real }?.weight == 3 })
        var drained = try #require(first.destinations(Self.vip).first { $0.key == real })
        drained.weight = 0
        try first.table.apply([.editDestination(drained, service: Self.vip)])
        // Two repair rounds later it is still at 0, said once, and saved.
        let reads = first.observed.reads
        #expect(await first.waitFor { first.observed.reads >= reads + 2 })
        #expect(first.destinations(Self.vip).first { $0.key == real }?.weight == 0)
        await first.settled()
        #expect(
            first.lines.filter { $0.hasPrefix("Drained real server: 127.0.0.1:\(web.port) (10.0.0.10:80)") }.count == 1)
        #expect(drainFile.read().map(\.destination) == [real])
        await first.stop()

        // Restarted on the same table: its check passes, and the drain holds.
        let second = try Harness(config: config, drainFile: drainFile)
        try second.table.apply(TableDiff.diff(from: IPVSTable(), to: try first.table.table()))
        await second.start()
        let restartReads = second.observed.reads
        #expect(await second.waitFor { second.observed.reads >= restartReads + 3 })
        #expect(second.destinations(Self.vip).first { $0.key == real }?.weight == 0)
        await second.stop()
    }

    @Test("cleanstop=no leaves the table; a second stop does not run the clean-up twice")
    func keepOnStop() async throws {
        let web = try WebServer()
        let harness = try Harness(config: Self.config(web, globals: ["cleanstop=no"]))
        await harness.start()
        #expect(await harness.waitFor { !harness.destinations(Self.vip).isEmpty })
        let before = try harness.table.table()
        await harness.director.signal("TERM")
        await harness.director.signal("INT")
        await harness.runner.task.withLock { $0 }?.value
        #expect(try harness.table.table() == before)
        // The second signal is told it changes nothing, whether it arrives during the clean-up
        // or after it; the daemon ends once, on the first.
        let lines = harness.lines
        #expect(lines.filter { $0 == "Linux Director Daemon terminated on signal: TERM" }.count == 1)
        #expect(lines.contains("Received SIGINT while stopping: clean-up continues"))
        #expect(!lines.contains { $0.contains("terminated on signal: INT") })
    }
}
