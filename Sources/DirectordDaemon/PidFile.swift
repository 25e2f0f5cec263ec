import DirectordSystem
import Glibc

/// The pid file of one configuration, `/run/directord.<config name>.pid` (ldirectord:
/// `/var/run/ldirectord.<config name>.pid`), and what it says about a running daemon.
public struct PidFile: Sendable {
    public let path: String

    public init(configName: String, directory: String = "/run") {
        path = "\(directory)/directord.\(configName).pid"
    }

    public enum Status: Equatable, Sendable {
        /// A directord process with this pid is running.
        case running(pid: Int32)
        /// The file names a process that is gone, or is not directord.
        case stale(pid: Int32)
        case absent
    }

    public var status: Status {
        guard case .success(let text) = FileSystem.readFile(path) else { return .absent }
        guard let pid = Int32(text.trimmingWhitespace()), pid > 0 else { return .stale(pid: 0) }
        // ldirectord checks /proc/PID/cmdline for its name, so a recycled pid is stale.
        guard case .success(let commandLine) = FileSystem.readFile("/proc/\(pid)/cmdline"),
            commandLine.contains("directord")
        else { return .stale(pid: pid) }
        return .running(pid: pid)
    }

    /// Writes this process's pid atomically (a temporary file renamed into place).
    public func write(pid: Int32? = nil) -> Bool {
        let pid = pid ?? getpid()
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { return false }
        FileDescriptorOutput(descriptor: descriptor).write("\(pid)\n")
        close(descriptor)
        return rename(temporary, path) == 0
    }

    public func remove() { unlink(path) }
}

extension String {
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = lastIndex(where: { !isSpace($0) })!
        return String(self[first...last])
    }
}
