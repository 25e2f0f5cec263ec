public import Foundation

/// One of the fake servers of Servers/test_servers.py as a child process: the one set of
/// fake servers every test suite uses (the checkers' faults, hostile backends, a static web
/// server, an SMTP recorder).
///
/// The script prints one JSON line once it listens; ``init(_:_:)`` returns after reading it, so
/// a test never polls for a port. The server runs until ``stop()`` (or deinit, or the test
/// process's end) closes its standard input.
public final class TestServerProcess: @unchecked Sendable {
    /// The JSON line the server printed: `ports` and whatever else that kind says.
    public let announcement: Data
    /// The ports it listens on, by name.
    public let ports: [String: UInt16]

    private let process: Process
    private let input: Pipe
    private let lock = NSLock()
    private var stopped = false

    /// Starts `test_servers.py KIND ARGUMENTS...` and waits until it listens.
    public init(_ kind: String, _ arguments: [String] = []) throws {
        guard let script = Bundle.module.url(forResource: "test_servers", withExtension: "py", subdirectory: "Servers")
        else { throw TestServerError("Servers/test_servers.py is not in DirectordTestSupport's bundle") }
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, kind] + arguments
        input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        do {
            try process.run()
        } catch {
            throw TestServerError("cannot start python3 \(script.path): \(error)")
        }
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty {
                process.waitUntilExit()
                let said = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                throw TestServerError("test_servers.py \(kind) exited before it listened: \(said)")
            }
            line += chunk
        }
        announcement = line
        struct Ports: Decodable { var ports: [String: UInt16] }
        do {
            ports = try JSONDecoder().decode(Ports.self, from: line).ports
        } catch {
            throw TestServerError("test_servers.py \(kind) said \(String(decoding: line, as: UTF8.self))")
        }
    }

    /// A static web server whose `/health` page says `body`, from a directory of its own, on
    /// `port` (any free one when nil); its port is `port("web")`.
    public static func healthPage(_ body: String = "OK\n", port: UInt16? = nil) throws -> TestServerProcess {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("directord-web-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try body.write(to: directory.appendingPathComponent("health"), atomically: true, encoding: .utf8)
        return try TestServerProcess("web", [directory.path] + (port.map { ["\($0)"] } ?? []))
    }

    /// The port of the server named `name`; a test asking for one that does not exist is wrong.
    public func port(_ name: String) -> UInt16 {
        guard let port = ports[name] else { preconditionFailure("no test server \(name) in \(ports)") }
        return port
    }

    /// Waits until a server that ends by itself (the SMTP recorder, after its session) has ended.
    public func waitForExit() {
        process.waitUntilExit()
    }

    /// Stops the server and waits for it; a second call does nothing.
    public func stop() {
        let first = lock.withLock {
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        try? input.fileHandleForWriting.close()
        // SIGKILL as well: a child Foundation spawns from a Dispatch thread inherits that
        // thread's blocked signals, SIGTERM among them, and a server mid-response must not
        // keep a port the next test wants.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// A fake server that could not be started.
public struct TestServerError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
