import Glibc

/// The few file operations directord needs, with errno turned into messages once, here.
public enum FileSystem {
    public struct Problem: Error, CustomStringConvertible {
        public var errno: Int32
        public var description: String { String(cString: strerror(errno)) }
    }

    /// The whole file as text (invalid UTF-8 replaced, never trapping).
    public static func readFile(_ path: String) -> Result<String, Problem> {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return .failure(Problem(errno: errno)) }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(Problem(errno: errno))
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return .success(String(decoding: bytes, as: UTF8.self))
    }

    public static func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    public static func mode(of path: String) -> UInt32? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return UInt32(info.st_mode & 0o7777)
    }

    /// Whether the file could be opened for appending, as ldirectord tests log and monitor
    /// files, without creating it: an existing file must be writable, a new one's directory.
    public static func canAppend(_ path: String) -> Bool {
        if access(path, F_OK) == 0 { return access(path, W_OK) == 0 }
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast()
            .joined(separator: "/")
        let parent = directory.isEmpty ? (path.hasPrefix("/") ? "/" : ".") : directory
        return access(parent, W_OK | X_OK) == 0
    }
}
