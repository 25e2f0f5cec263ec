import ArgumentParser
import CSystemShims
import DirectordSystem
import Glibc

/// Figures about other processes, from /proc (``ProcessFigures`` reads this process's own).
///
/// A tool is measured as a process tree: keepalived's checker is a child of its parent, and
/// ldirectord runs an `ipvsadm` per table read or change, whose CPU time the kernel adds to
/// ldirectord's `cutime`/`cstime` once it has waited for it.
enum ProcessTable {
    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// One process's line of /proc/PID/stat and fields of /proc/PID/status.
    struct Sample {
        var pid: pid_t
        var parent: pid_t
        /// utime + stime, and cutime + cstime (waited-for children), in clock ticks.
        var ownTicks: Int
        var childTicks: Int
        var threads: Int
        /// VmRSS and VmHWM, kB.
        var resident: Int
        var peakResident: Int
    }

    static func sample(_ pid: pid_t) -> Sample? {
        guard let text = try? readFile("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return nil }
        // Fields after "(comm)": state is field 3; ppid 4; utime 14, stime 15, cutime 16,
        // cstime 17; num_threads 20.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 18, let parent = Int32(fields[1]), let utime = Int(fields[11]),
            let stime = Int(fields[12]),
            let cutime = Int(fields[13]), let cstime = Int(fields[14]), let threads = Int(fields[17])
        else { return nil }
        var resident = 0
        var peak = 0
        if let status = try? readFile("/proc/\(pid)/status") {
            for line in status.split(separator: "\n") {
                if line.hasPrefix("VmRSS:") { resident = kilobytes(line) }
                if line.hasPrefix("VmHWM:") { peak = kilobytes(line) }
            }
        }
        return Sample(
            pid: pid, parent: parent, ownTicks: utime + stime, childTicks: cutime + cstime, threads: threads,
            resident: resident, peakResident: peak)
    }

    private static func kilobytes(_ line: Substring) -> Int {
        line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) } ?? 0
    }

    /// Every process id in /proc.
    static func pids() -> [pid_t] {
        guard let directory = opendir("/proc") else { return [] }
        defer { closedir(directory) }
        var pids: [pid_t] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let pid = Int32(name) { pids.append(pid) }
        }
        return pids
    }

    /// `root` and all its descendants that are alive.
    static func tree(_ root: pid_t) -> [Sample] {
        let all = pids().compactMap { pid -> (pid_t, pid_t)? in
            guard let text = try? readFile("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return nil }
            let fields = text[text.index(after: close)...].split(separator: " ")
            guard fields.count > 1, let parent = Int32(fields[1]) else { return nil }
            return (pid, parent)
        }
        var children: [pid_t: [pid_t]] = [:]
        for (pid, parent) in all { children[parent, default: []].append(pid) }
        var result: [Sample] = []
        var queue = [root]
        while let pid = queue.popLast() {
            if let sample = sample(pid) { result.append(sample) }
            queue += children[pid] ?? []
        }
        return result
    }

    /// Processes forked since boot, system-wide (/proc/stat "processes").
    static func forks() -> Int {
        guard let text = try? readFile("/proc/stat") else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("processes ") {
            return Int(line.dropFirst("processes ".count)) ?? 0
        }
        return 0
    }
}

/// A tool's process tree measured over time: CPU between two marks, the largest memory and
/// thread counts seen.
struct ToolFigures {
    /// CPU seconds of the tree (each member's own time plus what it has waited for).
    static func cpuSeconds(_ tree: [ProcessTable.Sample]) -> Double {
        Double(tree.reduce(0) { $0 + $1.ownTicks + $1.childTicks }) / ProcessTable.ticksPerSecond
    }

    var peakResidentKB = 0
    var peakThreads = 0
    var peakProcesses = 0

    /// Samples the tree now; returns it.
    @discardableResult
    mutating func sample(_ root: pid_t) -> [ProcessTable.Sample] {
        let tree = ProcessTable.tree(root)
        // The sum of each member's own peak: a peak of the whole tree at one moment is at most this.
        peakResidentKB = max(peakResidentKB, tree.reduce(0) { $0 + $1.peakResident })
        peakThreads = max(peakThreads, tree.reduce(0) { $0 + $1.threads })
        peakProcesses = max(peakProcesses, tree.count)
        return tree
    }
}

/// A tool under test as a child process: its own process group, output to a log file.
final class ToolProcess {
    let pid: pid_t
    let arguments: [String]
    private(set) var exitStatus: Int32?

    init(_ arguments: [String], log: String, environment: [String: String] = [:]) throws {
        let output = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw ValidationError("cannot open \(log): \(errnoText())") }
        defer { close(output) }
        // Set variables come first in the environment, so they win over inherited ones.
        let spawned = Spawner.spawn(
            arguments,
            .init(output: output, newProcessGroup: true, extraEnvironment: environment.map { "\($0.key)=\($0.value)" }))
        let pid: pid_t
        switch spawned {
        case .success(let child): pid = child
        case .failure(let error): throw ValidationError("\(error)")
        }
        self.pid = pid
        self.arguments = arguments
    }

    /// True while the process has not exited (reaps it once it has).
    var isRunning: Bool {
        if exitStatus != nil { return false }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid {
            exitStatus = status
            return false
        }
        return true
    }

    /// SIGTERM, then up to `grace` seconds for it to exit, then SIGKILL to the whole group.
    /// Returns the seconds it took to exit after SIGTERM (nil if it had to be killed).
    @discardableResult
    func stop(grace: Double) -> Double? {
        guard isRunning else { return 0 }
        let start = monotonicNanoseconds()
        kill(pid, SIGTERM)
        while Double(monotonicNanoseconds() - start) / 1e9 < grace {
            if !isRunning {
                kill(-pid, SIGKILL)  // anything the tool left behind in its group
                return Double(monotonicNanoseconds() - start) / 1e9
            }
            usleep(20_000)
        }
        kill(-pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        exitStatus = status
        return nil
    }
}
