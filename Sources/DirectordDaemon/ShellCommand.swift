import CDirectordShims
import DirectordChecks
import DirectordSystem
import Dispatch
import Glibc

/// Runs a command line through `/bin/sh -c`, as ldirectord's `system_wrapper` runs
/// `fallbackcommand` and `callback`, or a program with its arguments (`execute=` instances),
/// without blocking the caller.
enum ShellCommand {
    /// Starts the command; `completion` gets its exit status (or a spawn error) on a global
    /// queue. Rare (a service losing or regaining all its servers, a file change), so waiting
    /// on a pool thread is fine.
    static func run(_ commandLine: String, completion: @escaping @Sendable (Result<Int32, SpawnError>) -> Void) {
        run(arguments: ["/bin/sh", "-c", commandLine], completion: completion)
    }

    /// Starts `arguments[0]` (a path) with the arguments, without a shell.
    static func run(arguments: [String], completion: @escaping @Sendable (Result<Int32, SpawnError>) -> Void) {
        var pid: pid_t = 0
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        // A clean signal state (see CleanSpawnAttributes), and none of the daemon's sockets.
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        _ = CDirectord_posix_spawn_file_actions_addclosefrom_np(&actions, 3)
        let status = ChildProcesses.spawning {
            let status = CleanSpawnAttributes.with { attributes in
                posix_spawn(&pid, arguments[0], &actions, &attributes, &argv, CDirectord_environ())
            }
            if status == 0 { ChildProcesses.register(pid) }
            return status
        }
        guard status == 0 else {
            completion(.failure(SpawnError(errno: status)))
            return
        }
        let child = pid
        DispatchQueue.global().async {
            var exitStatus: Int32 = 0
            while waitpid(child, &exitStatus, 0) < 0 && errno == EINTR {}
            ChildProcesses.unregister(child)
            // WIFEXITED / WEXITSTATUS, which are macros.
            let code = (exitStatus & 0x7f) == 0 ? (exitStatus >> 8) & 0xff : 128 + (exitStatus & 0x7f)
            completion(.success(code))
        }
    }

    /// Runs the command and waits for it, at most `timeout`; for shutdown.
    static func runAndWait(_ commandLine: String, timeout: Duration) -> Result<Int32, SpawnError>? {
        runAndWait(arguments: ["/bin/sh", "-c", commandLine], timeout: timeout)
    }

    /// Runs the program and waits for it, at most `timeout`.
    static func runAndWait(arguments: [String], timeout: Duration) -> Result<Int32, SpawnError>? {
        let done = DispatchSemaphore(value: 0)
        let outcome = OutcomeBox()
        run(arguments: arguments) { result in
            outcome.set(result)
            done.signal()
        }
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        guard done.wait(timeout: .now() + seconds) == .success else { return nil }
        return outcome.value
    }

    struct SpawnError: Error, CustomStringConvertible {
        var errno: Int32
        var description: String { String(cString: strerror(errno)) }
    }

    private final class OutcomeBox: @unchecked Sendable {
        // Written once before the semaphore is signalled, read after it was waited on.
        var value: Result<Int32, SpawnError>?
        func set(_ result: Result<Int32, SpawnError>) { value = result }
    }
}
