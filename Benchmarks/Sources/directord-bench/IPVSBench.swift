import ArgumentParser
import DirectordCore
import DirectordIPVS
import Glibc

/// Time and system calls for a batch of destination changes: directord's netlink client
/// against one `ipvsadm` process per change, which is what ldirectord does. Needs root and the
/// ip_vs module; run it in the lab with lab/bench-ipvs.
///
/// Each side runs as a child process (`directord-bench ipvs-apply`) from the same starting
/// table, once plain for the wall time and once under `strace -f -c` for the system calls, and
/// must leave the same final table. A side's process start-up is included in its figures.
struct IPVSBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ipvs",
        abstract: "Apply destination changes through directord's netlink client and through ipvsadm; compare.",
        discussion: """
            The workload: 100 services with 75 destinations each; per service, 50 weight edits (the \
            quiescent failover), 25 deletions and 25 additions. --changes takes whole services of it \
            (a multiple of 100). ipvsadm costs about a second per change under strace in the lab's \
            emulated machine, so its system calls can be counted on a sample of the same changes \
            (--ipvsadm-strace-changes) and projected: start-up once plus the measured cost per change.
            """)

    @Option(help: "Destination changes for directord's client (a multiple of 100, at most 10000).")
    var changes = 10_000

    @Option(help: "Changes run through ipvsadm for the wall time (default: --changes).")
    var ipvsadmChanges: Int?

    @Option(help: "Changes run through ipvsadm under strace for the system calls (default: --ipvsadm-changes).")
    var ipvsadmStraceChanges: Int?

    @Option(help: "The ipvsadm executable.")
    var ipvsadm = "/usr/sbin/ipvsadm"

    @Option(help: "The strace executable.")
    var strace = "/usr/bin/strace"

    func validate() throws {
        for (name, value) in [
            ("--changes", changes), ("--ipvsadm-changes", ipvsadmChanges ?? changes),
            ("--ipvsadm-strace-changes", ipvsadmStraceChanges ?? ipvsadmChanges ?? changes),
        ] {
            guard value >= 100, value <= 10_000, value % 100 == 0 else {
                throw ValidationError("\(name) must be a multiple of 100 from 100 to 10000")
            }
        }
    }

    func run() throws {
        let client = try NetlinkIPVSClient()
        let workload = BenchWorkload()
        let timedIpvsadm = ipvsadmChanges ?? changes
        let tracedIpvsadm = ipvsadmStraceChanges ?? timedIpvsadm
        let directory = "/tmp/directord-bench-ipvs-\(getpid())"
        mkdir(directory, 0o700)

        /// Runs one side as a child from the starting table and checks the table it leaves.
        /// Traced, directord's side is counted with `strace -f -c` (every call of the process);
        /// ipvsadm's with `strace -f -ff`, one file per process, counting each ipvsadm from its
        /// execve (glibc's posix_spawn resets all 64 signal dispositions in the child before
        /// exec, which ldirectord's fork and exec do not: that is left out, in ipvsadm's
        /// favour) plus every call of the spawning parent.
        func side(_ mode: String, count: Int, traced: Bool) throws -> ChildFigures {
            try workload.reset(client)
            let result = "\(directory)/\(mode)-\(count)-\(traced).result"
            var arguments = [
                CommandLine.arguments[0], "ipvs-apply", "--client", mode, "--changes", "\(count)", "--result", result,
                "--ipvsadm", ipvsadm,
            ]
            let traceDirectory = "\(directory)/\(mode)-\(count).trace"
            if traced {
                mkdir(traceDirectory, 0o700)
                arguments =
                    mode == "netlink"
                    ? [strace, "-f", "-c", "-o", "\(traceDirectory)/summary"] + arguments
                    : [strace, "-f", "-ff", "-o", "\(traceDirectory)/trace"] + arguments
            }
            let clock = ContinuousClock()
            let start = clock.now
            let status = try spawnAndWait(arguments)
            let wall = clock.now - start
            guard status == 0 else {
                throw ValidationError("\(arguments.joined(separator: " ")) exited with \(status)")
            }
            guard try client.table() == workload.expected(changes: count) else {
                throw ValidationError("\(mode): the table after \(count) changes is not the expected one")
            }
            let inside = try readFile(result).split { $0 == " " || $0 == "\n" }
            guard inside.count == 2, let seconds = Double(inside[0]), let failures = Int(inside[1]) else {
                throw ValidationError("unreadable result in \(result)")
            }
            var figures = ChildFigures(wall: wall, applySeconds: seconds, failures: failures)
            if traced && mode == "netlink" {
                figures.parentCalls = try straceTotal("\(traceDirectory)/summary")
            } else if traced {
                let counts = try countPerProcess(traceDirectory, child: ipvsadm)
                figures.parentCalls = counts.parent
                figures.childCalls = counts.children
                figures.childProcesses = counts.processes
            }
            return figures
        }

        print("IPVS benchmark: \(workload.describe(changes))")
        print("kernel \(uname()), IPVS \(try client.info().versionString); \(processorCount()) CPUs")

        let ours = try side("netlink", count: changes, traced: false)
        let oursTraced = try side("netlink", count: changes, traced: true)
        let theirs = try side("ipvsadm", count: timedIpvsadm, traced: false)
        let theirsTraced = try side("ipvsadm", count: tracedIpvsadm, traced: true)
        // ipvsadm's fixed cost: the child process with no change to make.
        let startUp = try side("ipvsadm", count: 0, traced: true)

        let oursCalls = oursTraced.parentCalls!
        guard theirsTraced.childProcesses == tracedIpvsadm, startUp.childProcesses == 0 else {
            throw ValidationError(
                "expected \(tracedIpvsadm) traced ipvsadm processes, found \(theirsTraced.childProcesses)")
        }
        let perProcess = Double(theirsTraced.childCalls) / Double(tracedIpvsadm)
        let perSpawn = Double(theirsTraced.parentCalls! - startUp.parentCalls!) / Double(tracedIpvsadm)
        let theirsCalls = Double(startUp.parentCalls!) + (perProcess + perSpawn) * Double(changes)
        let theirsWall = theirs.wallSeconds * Double(changes) / Double(timedIpvsadm)

        print("")
        print(benchPad("", 26) + benchPadLeft("wall time", 14) + benchPadLeft("system calls", 16))
        print(
            benchPad("directord (netlink)", 26) + benchPadLeft(fixed(ours.wallSeconds, 2) + " s", 14)
                + benchPadLeft("\(oursCalls)", 16))
        print(
            benchPad("ipvsadm, one per change", 26) + benchPadLeft(fixed(theirsWall, 1) + " s", 14)
                + benchPadLeft("\(Int(theirsCalls.rounded()))", 16))
        print(
            benchPad("ratio", 26) + benchPadLeft(fixed(theirsWall / ours.wallSeconds, 0) + " x", 14)
                + benchPadLeft(fixed(theirsCalls / Double(oursCalls), 0) + " x", 16))
        print("")
        print(
            "directord: one process applying \(changes) changes; \(fixed(ours.applySeconds * 1000, 1)) ms from opening the client "
                + "to the last acknowledgement; \(fixed(Double(oursCalls) / Double(changes), 3)) system calls per change, its start-up included "
                + "(strace -f -c; \(fixed(oursTraced.wallSeconds, 2)) s under strace)")
        print(
            "ipvsadm: \(timedIpvsadm) processes timed" + (timedIpvsadm == changes ? "" : " and projected to \(changes)")
                + " (\(fixed(theirs.wallSeconds / Double(timedIpvsadm) * 1000, 0)) ms each); \(tracedIpvsadm) traced (strace -f -ff): "
                + "\(fixed(perProcess, 1)) system calls per ipvsadm from its execve, \(fixed(perSpawn, 1)) in the parent to spawn and wait, "
                + "\(startUp.parentCalls!) for the parent's start-up"
                + (tracedIpvsadm == changes ? "" : "; projected to \(changes)"))
        print(
            "every run left the expected table (\(try client.table().destinationCount) destinations in \(try client.table().serviceCount) services)"
        )
        try client.flush()
    }

    struct ChildFigures {
        var wall: Duration
        var applySeconds: Double
        var failures: Int
        /// Calls of the measured process (with its threads); for ipvsadm's side, of the parent.
        var parentCalls: Int?
        /// Calls of the ipvsadm processes, each from its execve.
        var childCalls = 0
        var childProcesses = 0
        var wallSeconds: Double { Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18 }
    }
}

/// The measured child: applies the first `changes` changes one way and writes
/// "SECONDS FAILURES" to the result file.
struct IPVSBenchApply: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ipvs-apply", abstract: "One side of the ipvs benchmark (run by it).", shouldDisplay: false)

    enum Client: String, ExpressibleByArgument { case netlink, ipvsadm }

    @Option var client: Client
    @Option var changes: Int
    @Option var result: String
    @Option var ipvsadm = "/usr/sbin/ipvsadm"

    func run() throws {
        let operations = Array(BenchWorkload().changes.prefix(changes))
        let clock = ContinuousClock()
        let start = clock.now
        var failures = 0
        switch client {
        case .netlink:
            if !operations.isEmpty {
                do {
                    try NetlinkIPVSClient().apply(operations)
                } catch {
                    guard case .operationsFailed(let failed, _) = error else { throw error }
                    failures = failed.count
                }
            }
        case .ipvsadm:
            for operation in operations
            where try spawnAndWait([ipvsadm] + BenchWorkload.ipvsadmArguments(operation)) != 0 {
                failures += 1
            }
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        try writeFile(result, "\(seconds) \(failures)\n")
        if failures > 0 { throw ExitCode(1) }
    }
}

/// 100 services of 75 destinations; per service 50 weight edits, 25 deletions, 25 additions.
struct BenchWorkload {
    static let services = 100

    static func key(_ service: Int) -> ServiceKey { .inet(.tcp, .v4(0x0a00_0001 | UInt32(service) << 8), port: 80) }
    static func destination(_ service: Int, _ host: Int, weight: Int32) -> IPVSDestination {
        IPVSDestination(
            address: .v4(0x0a00_0000 | UInt32(100 + service) << 16 | UInt32(host)), port: 80, forwarding: .gate,
            weight: weight)
    }

    var initial: IPVSTable {
        var table = IPVSTable()
        for service in 0..<Self.services {
            table.upsert(IPVSService(key: Self.key(service), scheduler: Scheduler(uncheckedName: "wlc")))
            for host in 1...75 { table.upsert(Self.destination(service, host, weight: 1), in: Self.key(service)) }
        }
        return table
    }

    var changes: [TableOperation] {
        (0..<Self.services).flatMap { service -> [TableOperation] in
            let key = Self.key(service)
            return (1...50).map { .editDestination(Self.destination(service, $0, weight: 0), service: key) }
                + (51...75).map { .deleteDestination(Self.destination(service, $0, weight: 1), service: key) }
                + (76...100).map { .addDestination(Self.destination(service, $0, weight: 1), service: key) }
        }
    }

    func expected(changes count: Int) throws -> IPVSTable {
        try initial.applying(Array(changes.prefix(count)))
    }

    func reset(_ client: NetlinkIPVSClient) throws {
        try client.flush()
        try client.apply(TableDiff.diff(from: IPVSTable(), to: initial))
    }

    func describe(_ count: Int) -> String {
        "\(count) destination changes (\(count / 2) weight edits, \(count / 4) deletions, \(count / 4) additions) "
            + "in \(count / 100) of \(Self.services) services of 75 destinations"
    }

    /// What ldirectord runs for the change: `ipvsadm -e|-d|-a -t VIP:PORT -r RIP:PORT -g -w W`.
    static func ipvsadmArguments(_ operation: TableOperation) -> [String] {
        let service = ["-t", "\(operation.serviceKey)"]
        guard let destination = operation.destination else { return [] }
        let real = ["-r", "\(destination.key)"]
        switch operation {
        case .editDestination: return ["-e"] + service + real + ["-g", "-w", "\(destination.weight)"]
        case .deleteDestination: return ["-d"] + service + real
        case .addDestination: return ["-a"] + service + real + ["-g", "-w", "\(destination.weight)"]
        default: return []
        }
    }
}

// MARK: Processes and files, with the C library only (no extra system calls per spawn)

/// posix_spawn and wait, as Perl's system() with a plain command (ldirectord) forks, execs and
/// waits; returns the exit status.
func spawnAndWait(_ arguments: [String]) throws -> Int32 {
    var pid: pid_t = 0
    let argv = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    let spawned = posix_spawn(&pid, arguments[0], nil, nil, argv, environ)
    guard spawned == 0 else {
        throw ValidationError("cannot run \(arguments[0]): \(String(cString: strerror(spawned)))")
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        guard errno == EINTR else { throw ValidationError("waitpid: \(String(cString: strerror(errno)))") }
    }
    // WIFEXITED / WEXITSTATUS are macros.
    return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}

func readFile(_ path: String) throws -> String {
    guard let file = fopen(path, "r") else { throw ValidationError("cannot read \(path)") }
    defer { fclose(file) }
    var text = ""
    var buffer = [CChar](repeating: 0, count: 4096)
    while fgets(&buffer, Int32(buffer.count), file) != nil {
        text += String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
    return text
}

/// What the file holds from byte `offset` on: what was appended since its size was taken
/// (``fileSize(_:)``), without reading the rest again.
func readFile(_ path: String, from offset: Int) throws -> String {
    guard let file = fopen(path, "r") else { throw ValidationError("cannot read \(path)") }
    defer { fclose(file) }
    guard fseek(file, offset, SEEK_SET) == 0 else { return "" }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    while case let count = fread(&buffer, 1, buffer.count, file), count > 0 { bytes += buffer[..<count] }
    return String(decoding: bytes, as: UTF8.self)
}

/// The file's size in bytes; 0 when it cannot be read.
func fileSize(_ path: String) -> Int {
    var info = stat()
    return stat(path, &info) == 0 ? Int(info.st_size) : 0
}

func writeFile(_ path: String, _ text: String) throws {
    guard let file = fopen(path, "w") else { throw ValidationError("cannot write \(path)") }
    defer { fclose(file) }
    fputs(text, file)
}

/// The calls column of the "total" line of `strace -c`.
func straceTotal(_ path: String) throws -> Int {
    let lines = try readFile(path).split(separator: "\n")
    guard let total = lines.last(where: { $0.hasSuffix("total") }) else { throw ValidationError("no total in \(path)") }
    // % time, seconds, usecs/call, calls, [errors,] "total"
    let columns = total.split(separator: " ", omittingEmptySubsequences: true)
    guard columns.count >= 5, let calls = Int(columns[3]) else { throw ValidationError("cannot read \(total)") }
    return calls
}

/// Counts system calls in `strace -ff` files: for processes that exec `child`, the calls from
/// that execve on; every call of the other processes (the parent and its threads).
func countPerProcess(_ directory: String, child: String) throws -> (parent: Int, children: Int, processes: Int) {
    guard let handle = opendir(directory) else { throw ValidationError("cannot list \(directory)") }
    defer { closedir(handle) }
    var parent = 0
    var children = 0
    var processes = 0
    while let entry = readdir(handle) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard name.hasPrefix("trace.") else { continue }
        // One line per call; "+++ exited" and "--- SIGCHLD" lines are not calls, and a call
        // split by a signal shows as "<unfinished ...>" and "<... resumed>".
        let calls = try readFile("\(directory)/\(name)").split(separator: "\n").filter {
            !$0.hasPrefix("+++") && !$0.hasPrefix("---") && !$0.contains("resumed>")
        }
        if let exec = calls.firstIndex(where: { $0.hasPrefix("execve(\"\(child)\"") && $0.hasSuffix("= 0") }) {
            children += calls.count - exec
            processes += 1
        } else {
            parent += calls.count
        }
    }
    return (parent, children, processes)
}

func uname() -> String {
    var name = utsname()
    Glibc.uname(&name)
    return withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
}

func processorCount() -> Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

/// A number with `digits` decimals (none: rounded to a whole number).
func fixed(_ value: Double, _ digits: Int) -> String {
    digits == 0 ? "\(Int(value.rounded()))" : format(value, digits)
}

func benchPad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}
func benchPadLeft(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}
