public import DirectordCore
import DirectordSystem
import FoundationEssentials
import Glibc

/// Where the daemon keeps its drains, beside its pid file (`.drains.json` for `.pid`): under
/// /run they outlive a restart and a `kill -9`, and go with a reboot, as the kernel's table does.
public struct DrainFile: Sendable {
    public let path: String

    public init(pidFile: PidFile) {
        path = String(pidFile.path.dropLast(".pid".count)) + ".drains.json"
    }

    public init(path: String) {
        self.path = path
    }

    /// The drains saved; none when the file is missing or unreadable (a drain is then lost,
    /// never invented).
    public func read() -> [DirectorState.SavedDrain] {
        guard case .success(let text) = FileSystem.readFile(path) else { return [] }
        return (try? JSONDecoder().decode([DirectorState.SavedDrain].self, from: Data(text.utf8))) ?? []
    }

    /// Written to a temporary file and renamed; the file goes when there is no drain.
    public func write(_ drains: [DirectorState.SavedDrain]) {
        guard !drains.isEmpty else {
            unlink(path)
            return
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard let data = try? encoder.encode(drains) else { return }
        FileSystem.replace(path, with: String(decoding: data, as: UTF8.self) + "\n")
    }
}
