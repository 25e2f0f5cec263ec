public import DirectordCore
public import DirectordSystem
public import Dispatch
import Glibc

/// `metrics=IP:PORT`: a small HTTP/1.x server for Prometheus, on a queue of its own (each
/// scrape asks the director, on the check loop, for its figures).
///
/// `GET /metrics` (or `HEAD`) answers with the text format; anything else with 404, 405 or
/// 400. One request a connection, then close: Prometheus opens a connection per scrape, or
/// keeps one, which then simply reconnects. It faces the network, so every cost is bounded: at
/// most ``maximumConnections`` open (more are closed at once), a request head of at most
/// ``maximumRequestBytes`` read within ``requestTimeout``, and the answer written off the loop
/// with a send time limit, as the control socket does.
public final class MetricsServer: @unchecked Sendable {
    public let address: ListenAddress
    private let listener: Int32
    private let source: any DispatchSourceRead
    private let queue: DispatchQueue
    private let scrape: @Sendable () async -> Response
    /// Open connections; touched on `queue` only.
    fileprivate var open = 0

    static let maximumConnections = 16
    static let maximumRequestBytes = 8 << 10
    static let requestTimeout = Duration.seconds(10)

    /// What a scrape gives: the text, or why there is none (503).
    public enum Response: Sendable {
        case metrics([UInt8])
        case unavailable(String)
    }

    public init(
        address: ListenAddress, queue: DispatchQueue, scrape: @escaping @Sendable () async -> Response
    ) throws(SystemError) {
        self.address = address
        self.queue = queue
        self.scrape = scrape
        listener = try TCPListener.listen(address).get()
        source = DispatchSource.makeReadSource(fileDescriptor: listener, queue: queue)
        source.setEventHandler { [unowned self] in self.acceptAll() }
        source.resume()
    }

    /// Stops listening; connections being answered finish.
    public func close() {
        source.cancel()
        Glibc.close(listener)
    }

    private func acceptAll() {
        while let fd = TCPListener.accept(listener) {
            guard open < Self.maximumConnections else {
                Glibc.close(fd)
                continue
            }
            open += 1
            MetricsConnection(fd: fd, server: self, queue: queue).start()
        }
    }

    fileprivate func closed() {
        open -= 1
    }

    /// The answer to one request head (its bytes up to the blank line).
    fileprivate func answer(_ head: [UInt8]) async -> [UInt8] {
        let request = HTTPRequestLine(head)
        switch request {
        case .none:
            return Self.response(status: "400 Bad Request", body: "not an HTTP request\n")
        case .some(let line) where line.method != "GET" && line.method != "HEAD":
            return Self.response(
                status: "405 Method Not Allowed", body: "only GET\n", extraHeaders: ["Allow: GET, HEAD"],
                head: false)
        case .some(let line) where line.path == "/metrics":
            switch await scrape() {
            case .metrics(let text):
                return Self.response(
                    status: "200 OK", body: text, contentType: "text/plain; version=0.0.4; charset=utf-8",
                    head: line.method == "HEAD")
            case .unavailable(let why):
                return Self.response(status: "503 Service Unavailable", body: Array((why + "\n").utf8))
            }
        case .some(let line) where line.path == "/":
            return Self.response(
                status: "200 OK", body: "directord: Prometheus metrics are at /metrics\n", head: line.method == "HEAD")
        case .some:
            return Self.response(status: "404 Not Found", body: "not found: directord serves /metrics\n")
        }
    }

    static func response(
        status: String, body: String, extraHeaders: [String] = [], head: Bool = false
    ) -> [UInt8] {
        response(
            status: status, body: Array(body.utf8), contentType: "text/plain; charset=utf-8",
            extraHeaders: extraHeaders, head: head)
    }

    static func response(
        status: String, body: [UInt8], contentType: String = "text/plain; charset=utf-8",
        extraHeaders: [String] = [], head: Bool = false
    ) -> [UInt8] {
        let headers =
            [
                "HTTP/1.1 \(status)", "Content-Type: \(contentType)", "Content-Length: \(body.count)",
                "Connection: close",
            ]
            + extraHeaders
        return Array((headers.joined(separator: "\r\n") + "\r\n\r\n").utf8) + (head ? [] : body)
    }
}

/// The first line of a request: `GET /metrics HTTP/1.1`. The query string is not part of the
/// path (Prometheus may add one).
struct HTTPRequestLine: Equatable {
    var method: String
    var path: String

    init?(_ head: [UInt8]) {
        let line = head.prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }
        let words = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard words.count == 3, words[2].starts(with: Array("HTTP/1.".utf8)),
            words[0].allSatisfy({ $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }), !words[0].isEmpty,
            words[1].first == UInt8(ascii: "/")
        else { return nil }
        method = String(decoding: words[0], as: UTF8.self)
        let target = words[1].prefix { $0 != UInt8(ascii: "?") }
        path = String(decoding: target, as: UTF8.self)
    }
}

/// One client: its request head is read within the time limit, answered, and the socket closed.
private final class MetricsConnection: @unchecked Sendable {
    private let fd: Int32
    private let server: MetricsServer
    private let queue: DispatchQueue
    private let source: any DispatchSourceRead
    private let deadline: any DispatchSourceTimer
    private var buffer: [UInt8] = []
    private var finished = false

    init(fd: Int32, server: MetricsServer, queue: DispatchQueue) {
        self.fd = fd
        self.server = server
        self.queue = queue
        source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        deadline = DispatchSource.makeTimerSource(queue: queue)
    }

    func start() {
        source.setEventHandler { [self] in readAvailable() }
        source.setCancelHandler { [self] in
            Glibc.close(fd)
            server.closed()
        }
        deadline.setEventHandler { [self] in
            // A client that sends nothing, or drips its request, is dropped.
            guard !finished else { return }
            finished = true
            source.cancel()
        }
        deadline.schedule(deadline: .now() + MetricsServer.requestTimeout.dispatchInterval)
        source.resume()
        deadline.resume()
    }

    private func readAvailable() {
        guard !finished else { return }
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            if count < 0 && errno == EAGAIN { return }
            guard count > 0 else {
                // Hung up (or reset) before a whole request.
                finish()
                return
            }
            buffer += chunk[0..<count]
            if Self.headEnd(buffer) != nil || buffer.count > MetricsServer.maximumRequestBytes {
                break
            }
        }
        finished = true
        deadline.cancel()
        // Nothing more is read from this client: a hang-up or more bytes no longer wake the loop.
        source.suspend()
        let head = buffer.count > MetricsServer.maximumRequestBytes && Self.headEnd(buffer) == nil ? [] : buffer
        let server = self.server
        Task {
            let bytes = await server.answer(head)
            self.write(bytes)
        }
    }

    /// Where the head ends (after its blank line), if it has.
    static func headEnd(_ bytes: [UInt8]) -> Int? {
        var index = 0
        while index + 1 < bytes.count {
            if bytes[index] == UInt8(ascii: "\n") {
                if bytes[index + 1] == UInt8(ascii: "\n") { return index + 2 }
                if bytes[index + 1] == UInt8(ascii: "\r"), index + 2 < bytes.count,
                    bytes[index + 2] == UInt8(ascii: "\n")
                {
                    return index + 3
                }
            }
            index += 1
        }
        return nil
    }

    private func finish() {
        finished = true
        deadline.cancel()
        source.cancel()
    }

    /// Off the loop, with a send time limit: a scraper that does not read costs one thread
    /// five seconds at most.
    private func write(_ bytes: [UInt8]) {
        DispatchQueue.global(qos: .utility).async { [self] in
            BlockingWrite.write(bytes, to: fd, limit: .seconds(5))
            queue.async { [self] in
                source.resume()
                source.cancel()
            }
        }
    }
}

/// Writes all of `bytes` to a socket, blocking, within a send time limit per write.
enum BlockingWrite {
    static func write(_ bytes: [UInt8], to fd: Int32, limit: Duration) {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        var time = limit.timeval
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            written += count
        }
    }
}
