public import DirectordCore
public import DirectordSystem
public import Dispatch
import FoundationEssentials
import Glibc

/// The daemon's control socket, beside its pid file (`directord.NAME.sock`): the command line's
/// `status --verbose`, `drain` and `undrain` reach the running daemon here, one JSON request a
/// line and one JSON reply, instead of a signal and a file; `events` stays connected and gets
/// a JSON line per change (EventHub). Mode 0600 and a peer-credential
/// check: only root (the daemon's own user) is served.
///
/// Accepting and reading run on the given queue (the check loop's); a request is handed to
/// `handle`, and its reply is written from a queue of its own, so a client that does not read
/// never holds the loop.
public final class ControlSocket: @unchecked Sendable {
    public let path: String
    private let listener: Int32
    private let source: any DispatchSourceRead
    private let queue: DispatchQueue
    private let handle: @Sendable (ControlRequest) async -> ControlReply
    private let events: EventHub?
    /// Requests are a line of JSON; anything longer is not one.
    static let maximumRequestBytes = 64 << 10

    public static func path(for pidFile: PidFile) -> String {
        String(pidFile.path.dropLast(".pid".count)) + ".sock"
    }

    /// - Parameter events: where `events` followers go; that verb is refused without it.
    public init(
        path: String, queue: DispatchQueue, events: EventHub? = nil,
        handle: @escaping @Sendable (ControlRequest) async -> ControlReply
    ) throws(SystemError) {
        self.path = path
        self.queue = queue
        self.events = events
        self.handle = handle
        listener = try UnixSocket.listen(path: path).get()
        source = DispatchSource.makeReadSource(fileDescriptor: listener, queue: queue)
        source.setEventHandler { [unowned self] in self.acceptAll() }
        source.resume()
    }

    /// Stops serving and removes the socket file.
    public func close() {
        source.cancel()
        Glibc.close(listener)
        unlink(path)
    }

    private func acceptAll() {
        while let client = UnixSocket.accept(listener) {
            guard UnixSocket.peerUserID(client) == getuid() else {
                Glibc.close(client)
                continue
            }
            ControlConnection(fd: client, queue: queue, server: self).start()
        }
    }

    /// Serves one request line; false when the connection was handed to the event hub (its
    /// own socket can close at once, the follower has a duplicate), true when `reply` will be
    /// called.
    fileprivate func serve(
        _ line: [UInt8], fd: Int32, reply: @escaping @Sendable (ControlReply) -> Void
    ) -> Bool {
        guard let request = try? JSONDecoder().decode(ControlRequest.self, from: Data(line)) else {
            reply(ControlReply(ok: false, message: "not a request directord understands"))
            return true
        }
        let handle = self.handle
        if request.verb == .events {
            guard let events else {
                reply(ControlReply(ok: false, message: "this daemon does not publish events"))
                return true
            }
            // The follower gets a socket of its own; this connection's closes at once.
            let follower = fcntl(fd, F_DUPFD_CLOEXEC, 0)
            Task {
                let answer = await handle(request)
                let first = answer.report?.stateEvents(time: Director.wallClockSeconds()) ?? []
                if follower >= 0 { events.follow(follower, first: first) }
            }
            return false
        }
        Task { reply(await handle(request)) }
        return true
    }
}

/// One client: reads its request line, answers once, closes.
private final class ControlConnection: @unchecked Sendable {
    private let fd: Int32
    private let source: any DispatchSourceRead
    private weak var server: ControlSocket?
    private var buffer: [UInt8] = []
    private var answered = false

    init(fd: Int32, queue: DispatchQueue, server: ControlSocket) {
        self.fd = fd
        self.server = server
        source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
    }

    func start() {
        source.setEventHandler { [self] in readAvailable() }
        source.setCancelHandler { [fd] in Glibc.close(fd) }
        source.resume()
    }

    private func readAvailable() {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while !answered {
            let count = read(fd, &chunk, chunk.count)
            if count < 0 && (errno == EAGAIN || errno == EINTR) { return }
            guard count > 0 else {
                source.cancel()
                return
            }
            buffer += chunk[0..<count]
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                // One request a connection: nothing more is read, and a client that hangs up
                // or writes on does not wake the loop again (until the reply is out and the
                // source is cancelled, which closes the socket).
                answered = true
                source.suspend()
                let line = Array(buffer[..<newline])
                guard let server, server.serve(line, fd: fd, reply: { [self] reply in write(reply) }) else {
                    finish()
                    return
                }
            } else if buffer.count > ControlSocket.maximumRequestBytes {
                answered = true
                source.suspend()
                write(ControlReply(ok: false, message: "request too long"))
            }
        }
    }

    /// Closes this connection's socket (through the source's cancel handler).
    private func finish() {
        source.resume()
        source.cancel()
    }

    /// Off the loop: the socket goes blocking with a time limit, so a client that never reads
    /// costs this one thread five seconds at most.
    private func write(_ reply: ControlReply) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes = Array((try? encoder.encode(reply)) ?? Data()) + [UInt8(ascii: "\n")]
        DispatchQueue.global(qos: .utility).async { [self] in
            BlockingWrite.write(bytes, to: fd, limit: .seconds(5))
            finish()
        }
    }
}

/// The command line's side: one request, one reply.
public enum ControlClient {
    public enum Failure: Error, CustomStringConvertible {
        /// No daemon listens there (not running, or an older one without the socket).
        case notListening(SystemError)
        case noAnswer(String)

        public var description: String {
            switch self {
            case .notListening(let error): "\(error)"
            case .noAnswer(let why): why
            }
        }
    }

    public static func send(_ request: ControlRequest, to path: String, timeout: Duration = .seconds(30))
        -> Result<ControlReply, Failure>
    {
        let fd: Int32
        switch UnixSocket.connect(path: path, timeout: timeout) {
        case .success(let connected): fd = connected
        case .failure(let error): return .failure(.notListening(error))
        }
        defer { close(fd) }
        guard let encoded = try? JSONEncoder().encode(request) else { return .failure(.noAnswer("cannot encode")) }
        let bytes = Array(encoded) + [UInt8(ascii: "\n")]
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return .failure(.noAnswer("cannot send to \(path): \(errnoText())")) }
            written += count
        }
        var answer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while !answer.contains(UInt8(ascii: "\n")) {
            let count = read(fd, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                return .failure(
                    .noAnswer(count == 0 ? "the daemon closed the connection" : "no answer: \(errnoText())"))
            }
            answer += chunk[0..<count]
        }
        let line = answer.prefix { $0 != UInt8(ascii: "\n") }
        guard let reply = try? JSONDecoder().decode(ControlReply.self, from: Data(line)) else {
            return .failure(.noAnswer("an answer directord does not understand"))
        }
        return .success(reply)
    }

    /// `directord events`: sends the request and hands every line the daemon sends to `line`,
    /// until the daemon closes the connection (it stopped) or `line` returns false.
    public static func follow(_ request: ControlRequest, to path: String, line: (String) -> Bool) -> Failure? {
        let fd: Int32
        switch UnixSocket.connect(path: path, timeout: .seconds(30)) {
        case .success(let connected): fd = connected
        case .failure(let error): return .notListening(error)
        }
        defer { close(fd) }
        // Events come when they happen: no time limit on reading.
        var forever = Duration.zero.timeval
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &forever, socklen_t(MemoryLayout<timeval>.size))
        guard let encoded = try? JSONEncoder().encode(request) else { return .noAnswer("cannot encode") }
        let bytes = Array(encoded) + [UInt8(ascii: "\n")]
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            return .noAnswer("cannot send to \(path): \(errnoText())")
        }
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return nil }
            pending += chunk[0..<count]
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let text = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                if !line(text) { return nil }
            }
        }
    }
}
