public import DirectordCore
import DirectordSystem
import FoundationEssentials
import Glibc

/// Where the daemon leaves its status report: beside its pid file, `.status.json` for `.pid`.
public struct StatusReportFile: Sendable {
    public let path: String

    public init(pidFile: PidFile) {
        path = String(pidFile.path.dropLast(".pid".count)) + ".status.json"
    }

    /// Written to a temporary file and renamed, so a reader never sees half of it.
    public func write(_ report: StatusReport) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard let data = try? encoder.encode(report) else { return }
        FileSystem.replace(path, with: String(decoding: data, as: UTF8.self) + "\n")
    }

    public func read() -> StatusReport? {
        guard case .success(let text) = FileSystem.readFile(path) else { return nil }
        return try? JSONDecoder().decode(StatusReport.self, from: Data(text.utf8))
    }

    /// The file's modification time in nanoseconds, or 0.
    public var modified: Int {
        var info = stat()
        guard stat(path, &info) == 0 else { return 0 }
        return Int(info.st_mtim.tv_sec) * 1_000_000_000 + Int(info.st_mtim.tv_nsec)
    }
}
