import Glibc

/// The few file operations directord needs, with errno turned into messages once, here.
public enum FileSystem {
    public struct Problem: Error, CustomStringConvertible {
        public var errno: Int32
        public var description: String { errnoText(errno) }
    }

    /// The whole file as text (invalid UTF-8 replaced, never trapping).
    public static func readFile(_ path: String) -> Result<String, Problem> {
        readBytes(path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Why `path` cannot be read as a configuration file, as words that follow "it" (nil when
    /// it can): "does not exist", "is a directory", "is a FIFO ...", "is a loop of symbolic
    /// links", "cannot be read: Permission denied".
    public static func problemReading(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            switch errno {
            case ENOENT: return "does not exist"
            case ELOOP: return "is a loop of symbolic links"
            default: return "cannot be reached: \(errnoText())"
            }
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return access(path, R_OK) == 0 ? nil : "cannot be read: \(errnoText())"
        case S_IFDIR: return "is a directory"
        case S_IFIFO: return "is a FIFO (named pipe), not a file"
        case S_IFSOCK: return "is a socket, not a file"
        case S_IFCHR, S_IFBLK: return "is a device, not a file"
        default: return "is not a regular file"
        }
    }

    /// The whole file as bytes, or its first `limit` bytes.
    public static func readBytes(_ path: String, limit: Int = .max) -> Result<[UInt8], Problem> {
        let descriptor = retryingInterrupts { open(path, O_RDONLY | O_CLOEXEC) }
        guard descriptor >= 0 else { return .failure(Problem(errno: errno)) }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while bytes.count < limit {
            let count = chunk.withUnsafeMutableBytes { raw in
                retryingInterrupts { read(descriptor, raw.baseAddress, min(raw.count, limit - bytes.count)) }
            }
            if count < 0 { return .failure(Problem(errno: errno)) }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return .success(bytes)
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

    /// Replaces the file with `text`, owner-only: written to `PATH.tmp` and renamed over the
    /// file, so a reader sees the old file or the new one, never half of one. False when it
    /// could not be written.
    @discardableResult
    public static func replace(_ path: String, with text: String) -> Bool {
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return false }
        FileDescriptorOutput(descriptor: descriptor).write(text)
        close(descriptor)
        return rename(temporary, path) == 0
    }
}
