import Glibc

/// Unbuffered writes to a file descriptor, for messages that must not interleave or wait.
public struct FileDescriptorOutput: Sendable {
    public let descriptor: Int32

    public init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    public static let standardError = FileDescriptorOutput(descriptor: 2)
    public static let standardOutput = FileDescriptorOutput(descriptor: 1)

    public func write(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { raw in
                retryingInterrupts { Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset) }
            }
            if written < 0 { return }
            offset += written
        }
    }
}
