import DirectordSystem
import Glibc

/// The pid file of one configuration, `/run/directord.<config name>.pid` (ldirectord:
/// `/var/run/ldirectord.<config name>.pid`), and the lock that makes its daemon the only one.
///
/// ldirectord trusts a pid file whose process has "ldirectord" in its command line, so two
/// `start`s at once both run, and a stale file pointing at, say, `less ldirectord.log` gets that
/// process signalled. Here the daemon holds a POSIX write lock on the file for its whole life:
/// a second daemon cannot take it, and `F_GETLK` names the process that holds it, so `stop`,
/// `reload` and `status` only ever signal the process the kernel says holds the lock. The lock
/// goes with the process, whatever way it dies, so a file left by `kill -9` is known stale.
public struct PidFile: Sendable {
    public let path: String

    public init(configName: String, directory: String = "/run") {
        path = "\(directory)/directord.\(configName).pid"
    }

    public enum Status: Equatable, Sendable {
        /// A daemon holds the file's lock; its pid.
        case running(pid: Int32)
        /// The file exists and no daemon holds it (the pid it names, 0 when unreadable).
        case stale(pid: Int32)
        case absent
    }

    public var status: Status {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return .absent }
        defer { close(descriptor) }
        // F_GETLK with a read lock asks "who would stop me reading?": the write lock's holder.
        var probe = flock()
        probe.l_type = Int16(F_RDLCK)
        probe.l_whence = Int16(SEEK_SET)
        if fcntl(descriptor, F_GETLK, &probe) == 0, probe.l_type != Int16(F_UNLCK), probe.l_pid > 0 {
            return .running(pid: probe.l_pid)
        }
        guard case .success(let text) = FileSystem.readFile(path), let pid = Int32(text.trimmingWhitespace()), pid > 0
        else { return .stale(pid: 0) }
        return .stale(pid: pid)
    }

    /// The pid file, locked by this process for as long as this value lives.
    public final class Lock: Sendable {
        let descriptor: Int32

        init(descriptor: Int32) { self.descriptor = descriptor }

        /// Writes `pid` into the locked file.
        public func write(pid: Int32? = nil) -> Bool {
            let pid = pid ?? getpid()
            guard ftruncate(descriptor, 0) == 0 else { return false }
            let text = Array("\(pid)\n".utf8)
            return text.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) } == text.count
        }

        deinit { close(descriptor) }
    }

    public enum LockError: Error, Equatable, CustomStringConvertible {
        /// Another daemon holds the lock.
        case held(by: Int32)
        case cannotOpen(path: String, errno: Int32)

        public var description: String {
            switch self {
            case .held(let pid): "already running with pid: \(pid)"
            case .cannotOpen(let path, let errno): "Can not open \(path): \(errnoText(errno))"
            }
        }
    }

    /// Takes the lock and writes this process's pid. POSIX locks are not inherited across
    /// `fork`: call it in the process that will run the daemon.
    public func lock() -> Result<Lock, LockError> {
        // 0644: a pid is no secret, and `status` may run as any user.
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard descriptor >= 0 else { return .failure(.cannotOpen(path: path, errno: errno)) }
        var request = flock()
        request.l_type = Int16(F_WRLCK)
        request.l_whence = Int16(SEEK_SET)
        guard fcntl(descriptor, F_SETLK, &request) == 0 else {
            defer { close(descriptor) }
            var probe = flock()
            probe.l_type = Int16(F_WRLCK)
            probe.l_whence = Int16(SEEK_SET)
            _ = fcntl(descriptor, F_GETLK, &probe)
            return .failure(.held(by: probe.l_type == Int16(F_UNLCK) ? 0 : probe.l_pid))
        }
        let lock = Lock(descriptor: descriptor)
        guard lock.write() else { return .failure(.cannotOpen(path: path, errno: errno)) }
        return .success(lock)
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
