import DirectordChecks
import DirectordCore
public import DirectordSystem
import Glibc

/// ldirectord's `execute=`: one more daemon per named configuration file, started, stopped,
/// reloaded and asked for its status with the main one (ldirectord's `ld_cmd_children`).
///
/// As ldirectord, each instance is this same program run as `directord FILE VERB`, so each
/// is a daemon of its own with its own pid file and log, found as any file is (/etc/ha.d/FILE,
/// /etc/ha.d/conf/FILE, FILE). The main daemon waits for each verb to finish, off the check
/// loop.
public struct InstanceRunner: Sendable {
    /// This program, as the kernel knows it (so a relative argv[0] or a changed PATH does not
    /// matter).
    let executable: String
    /// Options the instances share with the main daemon: the run directory and a dry run.
    let sharedArguments: [String]

    public init(options: DaemonRunner.Options) {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        executable =
            length > 0
            ? String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            : CommandLine.arguments[0]
        var shared = ["--run-directory", options.runDirectory]
        if options.dryRun { shared.append("--dry-run") }
        sharedArguments = shared
    }

    /// The verbs ldirectord sends its children.
    public enum Verb: String, Sendable {
        case start, stop, status, reload
    }

    /// Runs `directord FILE VERB` for each file, one after the other, and waits for each.
    /// - Returns: each file's exit status (nil when it could not be run).
    public func run(_ verb: Verb, _ files: [String], log: DirectorLog) -> [String: Int32?] {
        var statuses: [String: Int32?] = [:]
        for file in files {
            let arguments = [executable] + sharedArguments + [file, verb.rawValue]
            switch ShellCommand.runAndWait(arguments: arguments, timeout: .seconds(120)) {
            case .success(let status)?:
                statuses[file] = status
                if status != 0 && verb != .status && verb != .reload {
                    log.log("execute=\(file): directord \(file) \(verb.rawValue) exited \(status)", priority: .error)
                }
            case .failure(let error)?:
                statuses[file] = .some(nil)
                log.log(
                    "execute=\(file): cannot run directord \(file) \(verb.rawValue): \(error.reason)", priority: .error)
            case nil:
                statuses[file] = .some(nil)
                log.log(
                    "execute=\(file): directord \(file) \(verb.rawValue) still running after 120 s", priority: .error)
            }
        }
        return statuses
    }

    /// After a reload: instances the new file dropped are stopped, kept ones reloaded (started
    /// if that fails, as ldirectord's `reload_or_start`), new ones started.
    public func follow(reloadFrom old: [String], to new: [String], log: DirectorLog) {
        _ = run(.stop, old.filter { !new.contains($0) }, log: log)
        for file in new where old.contains(file) {
            if run(.reload, [file], log: log)[file] != .some(0) { _ = run(.start, [file], log: log) }
        }
        _ = run(.start, new.filter { !old.contains($0) }, log: log)
    }
}

extension ConfigLoader {
    /// The loader the daemon and the command line use: with the checkers' own judgement of
    /// what cannot run (a `receive=` PCRE2 refuses).
    public static var standard: ConfigLoader {
        ConfigLoader(checkProblem: { $0.receiveProblem })
    }
}
