import CSystemShims
import Glibc

/// How a child process ended.
public enum ProcessExit: Equatable, Sendable {
    case exited(Int32)
    case signalled(Int32)
    /// The status could not be collected (someone else reaped the child).
    case unknown(String)

    /// Decodes a `waitpid` status; nil for a stopped or continued child, which has not ended.
    public init?(waitStatus status: Int32) {
        if CSystem_WIFEXITED(status) != 0 {
            self = .exited(CSystem_WEXITSTATUS(status))
        } else if CSystem_WIFSIGNALED(status) != 0 {
            self = .signalled(CSystem_WTERMSIG(status))
        } else {
            return nil
        }
    }

    /// As a shell reports it: the exit code, or 128 + the signal's number.
    public var shellCode: Int32 {
        switch self {
        case .exited(let code): code
        case .signalled(let signal): 128 + signal
        case .unknown: -1
        }
    }
}

/// Starts every child process directord runs (external checks, `fallbackcommand`, `callback`,
/// sendmail, `execute=` instances) the one way they must all be started:
/// - with every signal at its default action and none blocked: children are spawned from
///   Dispatch threads, which block most signals, by a daemon that ignores SIGHUP, SIGTERM and
///   SIGPIPE, and both survive `exec` (a child so started could not be stopped);
/// - with none of the daemon's descriptors (libcurl's and libmariadb's sockets are not all
///   close-on-exec), standard input from /dev/null unless given;
/// - registered with ``ChildProcesses`` before any orphan sweep can see it.
public enum Spawner {
    public struct Options: Sendable {
        /// Standard input: /dev/null when nil.
        public var input: Int32?
        /// Standard output and standard error: the daemon's own when nil.
        public var output: Int32?
        /// Look the program up in PATH when it has no slash, as `execvp` does.
        public var searchPath = false
        /// A process group of its own, so it can be killed with everything it starts.
        public var newProcessGroup = false
        /// Added to the inherited environment ("NAME=value").
        public var extraEnvironment: [String] = []

        public init(
            input: Int32? = nil, output: Int32? = nil, searchPath: Bool = false, newProcessGroup: Bool = false,
            extraEnvironment: [String] = []
        ) {
            self.input = input
            self.output = output
            self.searchPath = searchPath
            self.newProcessGroup = newProcessGroup
            self.extraEnvironment = extraEnvironment
        }
    }

    /// Starts `arguments[0]` with `arguments` as its argv. Thread-safe; it waits until the
    /// child has called `execve`, so callers keep it off the check loop.
    public static func spawn(_ arguments: [String], _ options: Options = Options()) -> Result<Int32, SystemError> {
        precondition(!arguments.isEmpty, "a program to run")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let input = options.input {
            posix_spawn_file_actions_adddup2(&actions, input, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        if let output = options.output {
            posix_spawn_file_actions_adddup2(&actions, output, 1)
            posix_spawn_file_actions_adddup2(&actions, output, 2)
        }
        _ = CSystem_posix_spawn_file_actions_addclosefrom_np(&actions, 3)

        let argv = arguments.map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        let extra = options.extraEnvironment.map { strdup($0) }
        defer { for entry in extra { free(entry) } }
        var environment: [UnsafeMutablePointer<CChar>?] = extra
        if var cursor = CSystem_environ() {
            while let entry = cursor.pointee {
                environment.append(entry)
                cursor += 1
            }
        }
        environment.append(nil)

        var pid: pid_t = 0
        let status = ChildProcesses.spawning {
            let status = withCleanAttributes(newProcessGroup: options.newProcessGroup) { attributes in
                options.searchPath
                    ? posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, environment)
                    : posix_spawn(&pid, arguments[0], &actions, &attributes, argv, environment)
            }
            if status == 0 { ChildProcesses.register(pid) }
            return status
        }
        guard status == 0 else { return .failure(SystemError("cannot run \(arguments[0])", code: status)) }
        return .success(pid)
    }

    /// Waits for a child ``spawn(_:_:)`` started, and forgets it.
    public static func wait(for pid: Int32) -> ProcessExit {
        defer { ChildProcesses.unregister(pid) }
        var status: Int32 = 0
        while true {
            guard retryingInterrupts({ waitpid(pid, &status, 0) }) == pid else {
                return .unknown("its exit status was collected elsewhere (\(errnoText()))")
            }
            if let exit = ProcessExit(waitStatus: status) { return exit }
        }
    }

    /// A pipe whose both ends close on `exec`: the child gets its end through dup2.
    public static func pipe() -> Result<(read: Int32, write: Int32), SystemError> {
        var ends: [Int32] = [-1, -1]
        guard CSystem_pipe2(&ends, O_CLOEXEC) == 0 else { return .failure(SystemError("pipe2")) }
        return .success((ends[0], ends[1]))
    }

    private static func withCleanAttributes<T>(newProcessGroup: Bool, _ body: (inout posix_spawnattr_t) -> T) -> T {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var flags = Int32(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)
        if newProcessGroup {
            posix_spawnattr_setpgroup(&attributes, 0)
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        return body(&attributes)
    }
}
