import DirectordSystem
import Dispatch
import Glibc

/// Runs a command line through `/bin/sh -c`, as ldirectord's `system_wrapper` runs
/// `fallbackcommand` and `callback`, or a program with its arguments (`execute=` instances),
/// without blocking the caller.
enum ShellCommand {
    /// Starts the command; `completion` gets its exit status (or a spawn error) on a global
    /// queue. Rare (a service losing or regaining all its servers, a file change), so waiting
    /// on a pool thread is fine.
    static func run(_ commandLine: String, completion: @escaping @Sendable (Result<Int32, SystemError>) -> Void) {
        run(arguments: ["/bin/sh", "-c", commandLine], completion: completion)
    }

    /// Starts `arguments[0]` (a path) with the arguments, without a shell.
    static func run(arguments: [String], completion: @escaping @Sendable (Result<Int32, SystemError>) -> Void) {
        switch Spawner.spawn(arguments) {
        case .failure(let error): completion(.failure(error))
        case .success(let child):
            DispatchQueue.global().async { completion(.success(Spawner.wait(for: child).shellCode)) }
        }
    }

    /// Runs the command and waits for it, at most `timeout`; for shutdown.
    static func runAndWait(_ commandLine: String, timeout: Duration) -> Result<Int32, SystemError>? {
        runAndWait(arguments: ["/bin/sh", "-c", commandLine], timeout: timeout)
    }

    /// Runs the program and waits for it, at most `timeout`.
    static func runAndWait(arguments: [String], timeout: Duration) -> Result<Int32, SystemError>? {
        let done = DispatchSemaphore(value: 0)
        let outcome = OutcomeBox()
        run(arguments: arguments) { result in
            outcome.set(result)
            done.signal()
        }
        guard done.wait(timeout: .now() + timeout.dispatchInterval) == .success else { return nil }
        return outcome.value
    }

    private final class OutcomeBox: @unchecked Sendable {
        // Written once before the semaphore is signalled, read after it was waited on.
        var value: Result<Int32, SystemError>?
        func set(_ result: Result<Int32, SystemError>) { value = result }
    }
}
