import Glibc

/// A failed system call, with the C library's own text for its errno.
struct SystemError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What was being done, such as "socket" or "epoll_ctl".
    var operation: String
    var code: Int32

    init(_ operation: String, code: Int32 = errno) {
        self.operation = operation
        self.code = code
    }

    /// The text a person reads, without the operation: "Connection refused".
    var reason: String { errnoText(code) }

    var description: String { "\(operation): \(reason)" }
}

/// `strerror` for a code; glibc's table strings are immutable, so this is thread-safe.
func errnoText(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "error \(code)" }
    return String(cString: text)
}

/// Runs a system call until it is not interrupted by a signal.
@inline(__always)
func retryingInterrupts<Result: BinaryInteger>(_ call: () -> Result) -> Result {
    while true {
        let result = call()
        if result >= 0 || errno != EINTR { return result }
    }
}
