public import Glibc

/// A failed system call, with the C library's own text for its errno: the one error type for
/// the operating system, in every module.
public struct SystemError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What was being done, such as "socket", "epoll_ctl" or "cannot run /bin/check".
    public var operation: String
    public var code: Int32

    public init(_ operation: String, code: Int32 = errno) {
        self.operation = operation
        self.code = code
    }

    /// The text a person reads, without the operation: "Connection refused".
    public var reason: String { errnoText(code) }

    public var description: String { "\(operation): \(reason)" }
}

/// `strerror` for a code (errno by default); glibc's table strings are immutable, so this is
/// thread-safe.
public func errnoText(_ code: Int32 = errno) -> String {
    guard let text = strerror(code) else { return "error \(code)" }
    return String(cString: text)
}

/// Runs a system call until it is not interrupted by a signal: the one EINTR loop.
@inline(__always)
public func retryingInterrupts<Result: BinaryInteger>(_ call: () -> Result) -> Result {
    while true {
        let result = call()
        if result >= 0 || errno != EINTR { return result }
    }
}
