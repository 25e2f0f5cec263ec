import CSystemShims
import DirectordSystem
import Dispatch
import Glibc

/// A start of a check command that is still under way.
struct SpawnTicket: Hashable {
    let rawValue: UInt64
}

/// A child process started by ``ProcessWatcher``.
final class WatchedProcess {
    let pid: pid_t
    fileprivate let pidFD: Int32
    fileprivate var outputFD: Int32
    fileprivate var output: [UInt8] = []
    fileprivate let outputLimit: Int
    /// Runs once, on the loop, when the process has exited and been reaped; nil when nobody
    /// waits any more (the check timed out) and the watcher only reaps it.
    var onExit: ((ProcessExit, _ output: [UInt8]) -> Void)?

    fileprivate init(pid: pid_t, pidFD: Int32, outputFD: Int32, outputLimit: Int) {
        self.pid = pid
        self.pidFD = pidFD
        self.outputFD = outputFD
        self.outputLimit = outputLimit
    }

    /// Its output so far (stdout and stderr together), the last bytes up to the limit.
    var outputSoFar: [UInt8] { output }

    fileprivate func append(_ bytes: ArraySlice<UInt8>) {
        output += bytes
        if output.count > outputLimit { output.removeFirst(output.count - outputLimit) }
    }
}

/// Starts check commands and notices their exit without a thread or a SIGCHLD handler per
/// child: each child gets a pidfd (Linux 5.3+), watched for readability on the loop like any
/// socket, and is reaped with `waitpid` on that child's pid only, so other code in the process
/// that waits for its own children is not disturbed.
///
/// Children run in their own process group with default signal dispositions and an empty
/// signal mask (a daemon ignores or blocks signals its checks should not inherit), stdin from
/// /dev/null, stdout and stderr into one pipe the loop reads, and no other descriptor of ours.
final class ProcessWatcher {
    private let reactor: Reactor
    private var running: [pid_t: WatchedProcess] = [:]
    /// Adopted orphans killed or exited, not reaped yet.
    private var orphans: Set<pid_t> = []
    private var pending: [SpawnTicket: (started: (Result<WatchedProcess, SystemError>) -> Void, outputLimit: Int)] = [:]
    private var nextTicket: UInt64 = 1
    private let hop: LoopHop?
    private let spawnQueue = DispatchQueue(label: "directord.checks.spawn")

    /// - Parameter hop: runs work on the loop from the spawn queue; nil spawns on the loop.
    init(reactor: Reactor, hop: LoopHop?) {
        self.reactor = reactor
        self.hop = hop
    }

    deinit {
        killAll()
    }

    /// Starts `executable` (looked up in PATH when it has no slash, as `execvp`) with
    /// `arguments` (argv[1...]); no shell is involved. `started` runs on the loop with the
    /// running process or why it could not start.
    ///
    /// The spawn itself runs on a separate serial queue, not on the loop: `posix_spawn` waits
    /// until the child has called `execve`, which can take arbitrarily long (a command on a
    /// hung NFS mount). At most one thread does this, whatever the number of checks.
    ///
    /// - Returns: a ticket to ``abandon(_:)`` the start when its check ends before it.
    @discardableResult
    func spawn(
        _ executable: String, arguments: [String], outputLimit: Int,
        started: @escaping (Result<WatchedProcess, SystemError>) -> Void
    ) -> SpawnTicket {
        let ticket = SpawnTicket(rawValue: nextTicket)
        nextTicket += 1
        pending[ticket] = (started, outputLimit)
        guard let hop else {
            // Not started by a CheckLoop (no way back onto the loop): spawn right here.
            finishSpawn(ticket, Self.launch(executable, arguments: arguments))
            return ticket
        }
        spawnQueue.async {
            let outcome = Self.launch(executable, arguments: arguments)
            hop { context in context.processes.finishSpawn(ticket, outcome) }
        }
        return ticket
    }

    /// The check no longer waits for this start; a process that starts anyway is killed.
    func abandon(_ ticket: SpawnTicket) {
        pending[ticket] = nil
    }

    private func finishSpawn(_ ticket: SpawnTicket, _ outcome: Result<Launched, SystemError>) {
        let waiting = pending.removeValue(forKey: ticket)
        switch outcome {
        case .failure(let error):
            waiting?.started(.failure(error))
        case .success(let launched):
            let process = WatchedProcess(
                pid: launched.pid, pidFD: launched.pidFD, outputFD: launched.outputFD,
                outputLimit: waiting?.outputLimit ?? 0)
            running[process.pid] = process
            do {
                try reactor.register(process.pidFD, for: .readable) { [weak self] _ in
                    guard let self else { return }
                    self.reap(process)
                }
                try reactor.register(process.outputFD, for: .readable) { [weak self] _ in
                    guard let self else { return }
                    self.readOutput(of: process)
                }
            } catch {
                kill(process)
                waiting?.started(.failure(error))
                return
            }
            guard let waiting else {
                kill(process)
                return
            }
            waiting.started(.success(process))
        }
    }

    /// A started child, as the spawn queue hands it to the loop.
    struct Launched: Sendable {
        var pid: pid_t
        var pidFD: Int32
        var outputFD: Int32
    }

    /// The child started by ``Spawner`` (in its own process group, marked as a check's), a
    /// pidfd to notice its exit and a pipe for its output. Thread-safe: plain system calls on
    /// values.
    private static func launch(_ executable: String, arguments: [String]) -> Result<Launched, SystemError> {
        let readEnd: Int32
        let writeEnd: Int32
        switch Spawner.pipe() {
        case .success(let ends): (readEnd, writeEnd) = ends
        case .failure(let error): return .failure(error)
        }
        // Only our end is non-blocking: the child's stdout must block like any pipe.
        _ = fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK)
        let spawned = Spawner.spawn(
            [executable] + arguments,
            .init(
                output: writeEnd, searchPath: true, newProcessGroup: true,
                extraEnvironment: [ChildProcesses.checkMarker]))
        Glibc.close(writeEnd)
        let pid: pid_t
        switch spawned {
        case .success(let child): pid = child
        case .failure(let error):
            Glibc.close(readEnd)
            return .failure(error)
        }

        let pidFD = pidfd_open(pid, 0)
        guard pidFD >= 0 else {
            let error = SystemError("pidfd_open")
            Glibc.kill(-pid, SIGKILL)
            Glibc.kill(pid, SIGKILL)
            Glibc.close(readEnd)
            // Without a pidfd the exit cannot be noticed on the loop; reaping a just-killed
            // child here (on the spawn queue) does not wait long.
            _ = Spawner.wait(for: pid)
            return .failure(error)
        }
        return .success(Launched(pid: pid, pidFD: pidFD, outputFD: readEnd))
    }

    /// Kills the process and its process group now. Nobody is told of its exit; the watcher
    /// still reaps it.
    func kill(_ process: WatchedProcess) {
        process.onExit = nil
        _ = pidfd_send_signal(process.pidFD, SIGKILL, nil, 0)
        // The group too: a shell script's own children (curl, nc, sleep) die with it.
        _ = Glibc.kill(-process.pid, SIGKILL)
    }

    /// Kills every running child (at shutdown) and reaps those already gone.
    func killAll() {
        for process in running.values {
            kill(process)
            var status: Int32 = 0
            if waitpid(process.pid, &status, WNOHANG) == process.pid { forget(process) }
        }
    }

    var runningCount: Int { running.count }

    // MARK: Events

    private func readOutput(of process: WatchedProcess) {
        guard process.outputFD >= 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<16 {
            let count = buffer.withUnsafeMutableBytes { raw in
                retryingInterrupts { read(process.outputFD, raw.baseAddress, raw.count) }
            }
            if count > 0 {
                process.append(buffer[0..<count])
                continue
            }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            // End of output (or a read error): the process may still run; its exit decides.
            closeOutput(of: process)
            return
        }
    }

    private func reap(_ process: WatchedProcess) {
        // The command is a zombie now, so its pid (its group's id) cannot be reused yet: what
        // it left running in its group goes with it. A check's processes end with the check.
        _ = Glibc.kill(-process.pid, SIGKILL)
        var status: Int32 = 0
        let result = retryingInterrupts { waitpid(process.pid, &status, WNOHANG) }
        let exit: ProcessExit
        if result == process.pid {
            guard let ended = ProcessExit(waitStatus: status) else { return }  // stopped or continued
            exit = ended
        } else if result == 0 {
            return  // not yet: a spurious wake-up
        } else {
            exit = .unknown("its exit status was collected elsewhere (\(errnoText(errno)))")
        }
        // Whatever the child wrote before exiting is in the pipe now; a grandchild that keeps
        // the pipe open must not delay the verdict.
        readOutput(of: process)
        closeOutput(of: process)
        forget(process)
        sweepOrphans()
        // An orphan whose own parent exits a moment later is adopted then.
        _ = reactor.schedule(after: .seconds(1)) { [weak self] in self?.sweepOrphans() }
        let onExit = process.onExit
        process.onExit = nil
        onExit?(exit, process.output)
    }

    private func closeOutput(of process: WatchedProcess) {
        guard process.outputFD >= 0 else { return }
        reactor.unregister(process.outputFD)
        Glibc.close(process.outputFD)
        process.outputFD = -1
    }

    private func forget(_ process: WatchedProcess) {
        closeOutput(of: process)
        reactor.unregister(process.pidFD)
        Glibc.close(process.pidFD)
        running[process.pid] = nil
        ChildProcesses.unregister(process.pid)
    }

    /// Orphans a check left (a `setsid` child escapes its group's kill) are ours as subreaper:
    /// killed with their own group, and reaped; so are orphans of any origin that have exited,
    /// where ``ChildProcesses/becomeSubreaper(reapStrays:)`` allows it.
    func sweepOrphans() {
        guard ChildProcesses.isSubreaper else { return }
        // A child spawned this very moment is not registered yet: look again shortly.
        guard !ChildProcesses.isSpawning else {
            _ = reactor.schedule(after: .milliseconds(50)) { [weak self] in self?.sweepOrphans() }
            return
        }
        let candidates = ChildProcesses.children().filter { !ChildProcesses.isOwned($0) }
        // Spawned and registered between the listing and now: ours, not an orphan.
        for pid in candidates where !ChildProcesses.isOwned(pid) && !ChildProcesses.isSpawning {
            if ChildProcesses.cameFromCheck(pid) {
                _ = Glibc.kill(-pid, SIGKILL)
                _ = Glibc.kill(pid, SIGKILL)
                orphans.insert(pid)
            } else if ChildProcesses.reapsStrays && ChildProcesses.isZombie(pid) {
                orphans.insert(pid)
            }
        }
        for pid in orphans {
            var status: Int32 = 0
            let result = retryingInterrupts { waitpid(pid, &status, WNOHANG) }
            if result == pid || (result < 0 && errno == ECHILD) { orphans.remove(pid) }
        }
        if !orphans.isEmpty {
            _ = reactor.schedule(after: .milliseconds(200)) { [weak self] in self?.sweepOrphans() }
        }
    }
}
