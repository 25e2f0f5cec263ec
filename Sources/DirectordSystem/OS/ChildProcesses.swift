import CSystemShims
import Glibc
import Synchronization

/// The processes this process started and waits for itself, and what to do with the others
/// that end up its children.
///
/// A check command that leaves a background process behind, or starts one in a session of
/// its own (`setsid`), escapes its process group's kill. As a child subreaper
/// (`PR_SET_CHILD_SUBREAPER`), the daemon becomes the parent of every such orphan, and
/// ``ProcessWatcher`` ends the ones that came from a check (their environment carries
/// ``checkMarker``) and reaps them. Every spawner registers the children it waits for, so that
/// nobody else's child is touched.
public enum ChildProcesses {
    private static let owned = Mutex<Set<Int32>>([])
    private static let flags = Mutex<(subreaper: Bool, reapStrays: Bool)>((false, false))

    /// In the environment of every check command, inherited by what it starts.
    public static let checkMarker = "DIRECTORD_CHECK=1"

    /// Held from before a spawn until its child is registered: until then a sweep could take
    /// the new child for an orphan.
    private static let spawning = Mutex<Int>(0)

    /// Runs a spawn that registers its child; sweeps wait for none and skip while one runs.
    public static func spawning<T>(_ body: () -> T) -> T {
        spawning.withLock { $0 += 1 }
        defer { spawning.withLock { $0 -= 1 } }
        return body()
    }

    public static var isSpawning: Bool { spawning.withLock { $0 > 0 } }

    public static func register(_ pid: Int32) { owned.withLock { _ = $0.insert(pid) } }
    public static func unregister(_ pid: Int32) { owned.withLock { _ = $0.remove(pid) } }
    public static func isOwned(_ pid: Int32) -> Bool { owned.withLock { $0.contains(pid) } }

    /// Makes this process the parent of its descendants' orphans. `reapStrays` also reaps
    /// an orphan of any other origin once it has exited (a `fallbackcommand`'s background
    /// server, say, which runs on), which only a process whose every spawner registers its
    /// children may do: the daemon, not a test runner with other child processes.
    /// - Returns: false when the kernel refuses.
    @discardableResult
    public static func becomeSubreaper(reapStrays: Bool) -> Bool {
        guard CSystem_set_child_subreaper() == 0 else { return false }
        flags.withLock { $0 = (true, reapStrays) }
        return true
    }

    public static var isSubreaper: Bool { flags.withLock { $0.subreaper } }
    public static var reapsStrays: Bool { flags.withLock { $0.reapStrays } }

    /// Reaps orphans of any origin that have exited (a detached `execute=` daemon stopped, a
    /// `fallbackcommand`'s background server ended), where allowed; the daemon calls it
    /// every check interval.
    public static func reapExitedOrphans() {
        guard isSubreaper, reapsStrays, !isSpawning else { return }
        // Nearly always no child has exited: one system call says so, where the sweep reads a
        // file of /proc per thread (22 system calls a second, dearest in an emulated machine).
        guard CSystem_exited_child() != 0 else { return }
        for pid in children() where !isOwned(pid) && isZombie(pid) && !isSpawning {
            var status: Int32 = 0
            _ = waitpid(pid, &status, WNOHANG)
        }
    }

    /// This process's children, from /proc/self/task/*/children.
    public static func children() -> [Int32] {
        guard let tasks = opendir("/proc/self/task") else { return [] }
        defer { closedir(tasks) }
        var result: [Int32] = []
        while let entry = readdir(tasks) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard Int32(name) != nil else { continue }
            let text = readSmallFile("/proc/self/task/\(name)/children")
            result += text.split(separator: " ").compactMap { Int32($0.filter(\.isNumber)) }
        }
        return result
    }

    /// Whether a process's environment carries ``checkMarker`` (false once it is a zombie).
    public static func cameFromCheck(_ pid: Int32) -> Bool {
        readSmallFile("/proc/\(pid)/environ", limit: 1 << 20).split(separator: "\0").contains { $0 == checkMarker }
    }

    /// Whether the process has exited and waits to be reaped.
    public static func isZombie(_ pid: Int32) -> Bool {
        let stat = readSmallFile("/proc/\(pid)/stat")
        guard let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].trimmingPrefix(" ").first == "Z"
    }

    private static func readSmallFile(_ path: String, limit: Int = 65536) -> String {
        (try? FileSystem.readBytes(path, limit: limit).get()).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }
}
