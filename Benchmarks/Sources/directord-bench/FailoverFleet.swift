import ArgumentParser
import CSystemShims
import DirectordSystem
import Glibc

/// What one real server of the fleet does with a check.
enum FleetMode: String, CaseIterable, Sendable {
    /// Answers `200 OK` with the body "OK".
    case ok
    /// Its listener is closed: a connection attempt is refused (RST).
    case refuse
    /// Accepts, reads the request and never answers, until the client gives up.
    case hang
    /// Answers `500 Internal Server Error`.
    case error500 = "500"
}

/// `directord-bench fleet`: the failover benchmark's real servers, N ports of one local HTTP
/// server, each switchable at run time between answering, refusing, hanging and answering 500.
///
/// One thread and one epoll instance, so that 10,000 checks a second cost little next to the
/// checkers (its CPU time is measured and printed apart). It counts every accepted connection
/// per port (one check), and the longest time a port went unchecked, so the benchmark can say
/// how many checks each tool made and whether every real server was checked every interval,
/// counted the same way for every tool.
///
/// Control is line by line on standard input; each command gets one line on standard output:
///
/// - `mode INDEX ok|refuse|hang|500` → `ok T`: the server at INDEX (0-based) changes mode; T is
///   CLOCK_MONOTONIC in nanoseconds just after the change took effect.
/// - `reset` → `ok T`: every server answers again.
/// - `window` → `ok T`: restarts the per-port counters (checks, longest gap) at T.
/// - `stats GAP_NS` → `stats WINDOW_NS TOTAL MIN MAX MAXGAP_NS OVER ZERO`: checks since
///   `window` in all, fewest and most on one port, the longest gap on any port (including the
///   time since its last check), the ports whose longest gap exceeds GAP_NS, ports never
///   checked.
/// - `quit`, or the end of standard input: exits.
struct FleetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet", abstract: "The failover benchmark's real servers (started by `failover`).",
        shouldDisplay: false)

    @Option(help: "First port (127.0.0.1).")
    var basePort = 20000

    @Option(help: "Ports: one real server each, consecutive from --base-port.")
    var count = 100

    @Option(help: "The fleet's first server (a fleet too large for one process's descriptors is several).")
    var firstIndex = 0

    func run() throws {
        raiseFileLimit()
        signal(SIGPIPE, SIG_IGN)
        var fleet = try FleetServer(basePort: basePort, count: count, firstIndex: firstIndex)
        fleet.run()
    }
}

/// The fleet's state; all on one thread.
struct FleetServer {
    private static let okResponse = Array(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nOK\n".utf8)
    private static let errorResponse = Array(
        ("HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n"
            + "Connection: close\r\n\r\nerror\n").utf8)

    private enum Role: UInt8 {
        case none = 0
        case listener
        case connection
        case hungConnection
        case control
    }

    private let basePort: Int
    /// The whole fleet's index of this process's first server.
    private let firstIndex: Int
    private let epollFD: Int32
    private var modes: [FleetMode]
    private var listeners: [Int32]
    /// Per descriptor: what it is, and the server (index) it belongs to.
    private var roles: [Role]
    private var owners: [Int32]
    // Per server, since `window`.
    private var windowStart: UInt64 = 0
    private var checks: [UInt32]
    private var lastCheck: [UInt64]
    private var longestGap: [UInt64]
    private var control: [UInt8] = []
    private var buffer = [UInt8](repeating: 0, count: 4096)

    init(basePort: Int, count: Int, firstIndex: Int = 0) throws {
        guard count > 0, basePort > 0, basePort < 65536,
            firstIndex + count <= FleetLayout.portsPerAddress(basePort: basePort) * 254
        else {
            throw ValidationError("\(count) servers from port \(basePort) do not fit in 127.0.0.1 to 127.0.0.254")
        }
        self.basePort = basePort
        self.firstIndex = firstIndex
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        modes = [FleetMode](repeating: .ok, count: count)
        listeners = [Int32](repeating: -1, count: count)
        roles = [Role](repeating: .none, count: 1 << 20)
        owners = [Int32](repeating: -1, count: 1 << 20)
        checks = [UInt32](repeating: 0, count: count)
        lastCheck = [UInt64](repeating: 0, count: count)
        longestGap = [UInt64](repeating: 0, count: count)
        for index in 0..<count {
            guard openListener(index) else {
                throw ValidationError("cannot listen on \(endpointText(index)): \(String(cString: strerror(errno)))")
            }
        }
        _ = fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK)
        watch(0, role: .control, owner: -1)
        windowStart = monotonicNanoseconds()
    }

    mutating func run() {
        reply("ready \(listeners.count)")
        var events = [epoll_event](repeating: epoll_event(), count: 1024)
        while true {
            let ready = epoll_wait(epollFD, &events, Int32(events.count), -1)
            if ready < 0 { continue }
            for index in 0..<Int(ready) {
                let fd = events[index].data.fd
                switch roles[Int(fd)] {
                case .listener: accept(on: fd)
                case .connection, .hungConnection: serve(fd)
                case .control: if !readControl() { return }
                case .none: break
                }
            }
        }
    }

    // MARK: Real servers

    private mutating func openListener(_ index: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        let endpoint = FleetLayout.endpoint(of: firstIndex + index, basePort: basePort)
        address.sin_port = endpoint.port.bigEndian
        address.sin_addr.s_addr = endpoint.address.bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 4096) == 0 else {
            let saved = errno
            close(fd)
            errno = saved
            return false
        }
        listeners[index] = fd
        watch(fd, role: .listener, owner: Int32(index))
        return true
    }

    private func endpointText(_ index: Int) -> String {
        let endpoint = FleetLayout.endpoint(of: firstIndex + index, basePort: basePort)
        return "\(FleetLayout.text(of: endpoint.address)):\(endpoint.port)"
    }

    private mutating func watch(_ fd: Int32, role: Role, owner: Int32) {
        roles[Int(fd)] = role
        owners[Int(fd)] = owner
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = fd
        epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event)
    }

    private mutating func drop(_ fd: Int32) {
        roles[Int(fd)] = .none
        owners[Int(fd)] = -1
        close(fd)
    }

    private mutating func accept(on listener: Int32) {
        let index = Int(owners[Int(listener)])
        while true {
            let client = Glibc.accept(listener, nil, nil)
            if client < 0 { break }
            _ = fcntl(client, F_SETFL, O_NONBLOCK)
            let now = monotonicNanoseconds()
            let since = lastCheck[index] != 0 ? lastCheck[index] : windowStart
            if now > since { longestGap[index] = max(longestGap[index], now - since) }
            lastCheck[index] = now
            checks[index] &+= 1
            watch(client, role: .connection, owner: Int32(index))
        }
    }

    private mutating func serve(_ fd: Int32) {
        let count = read(fd, &buffer, buffer.count)
        if count == 0 || (count < 0 && errno != EAGAIN && errno != EINTR) {
            drop(fd)
            return
        }
        guard count > 0, roles[Int(fd)] == .connection else { return }
        // Requests are small and arrive in one read; every answer closes the connection.
        switch modes[Int(owners[Int(fd)])] {
        case .ok:
            _ = write(fd, Self.okResponse, Self.okResponse.count)
            drop(fd)
        case .error500:
            _ = write(fd, Self.errorResponse, Self.errorResponse.count)
            drop(fd)
        case .hang:
            roles[Int(fd)] = .hungConnection
        case .refuse:
            drop(fd)
        }
    }

    private mutating func setMode(_ index: Int, _ mode: FleetMode) -> Bool {
        let old = modes[index]
        guard old != mode else { return true }
        if mode == .refuse, listeners[index] >= 0 {
            // Closing a listener resets the connections still in its queue, as a server that
            // dies does.
            drop(listeners[index])
            listeners[index] = -1
        }
        if old == .refuse, listeners[index] < 0 {
            guard openListener(index) else { return false }
        }
        modes[index] = mode
        return true
    }

    // MARK: Control

    /// Reads and runs the commands that arrived; false at the end of input or on `quit`.
    private mutating func readControl() -> Bool {
        while true {
            let count = read(0, &buffer, buffer.count)
            if count == 0 { return false }
            if count < 0 { break }
            control += buffer[0..<count]
        }
        while let newline = control.firstIndex(of: UInt8(ascii: "\n")) {
            let line = String(decoding: control[..<newline], as: UTF8.self)
            control.removeSubrange(...newline)
            let words = line.split(separator: " ")
            switch words.first {
            case "mode":
                guard words.count == 3, let index = Int(words[1]), modes.indices.contains(index),
                    let mode = FleetMode(rawValue: String(words[2]))
                else {
                    reply("error bad mode command: \(line)")
                    continue
                }
                if setMode(index, mode) {
                    reply("ok \(monotonicNanoseconds())")
                } else {
                    reply("error cannot listen on \(endpointText(index)) again: \(String(cString: strerror(errno)))")
                }
            case "reset":
                var failed = false
                for index in modes.indices where !setMode(index, .ok) { failed = true }
                reply(
                    failed
                        ? "error cannot listen again: \(String(cString: strerror(errno)))"
                        : "ok \(monotonicNanoseconds())")
            case "window":
                windowStart = monotonicNanoseconds()
                for index in checks.indices {
                    checks[index] = 0
                    lastCheck[index] = 0
                    longestGap[index] = 0
                }
                reply("ok \(windowStart)")
            case "stats":
                let threshold = words.count > 1 ? UInt64(words[1]) ?? UInt64.max : UInt64.max
                reply(stats(threshold: threshold))
            case "quit":
                return false
            default:
                reply("error unknown command: \(line)")
            }
        }
        return true
    }

    private func stats(threshold: UInt64) -> String {
        let now = monotonicNanoseconds()
        var total: UInt64 = 0
        var fewest = UInt32.max
        var most: UInt32 = 0
        var longest: UInt64 = 0
        var over = 0
        var never = 0
        for index in checks.indices {
            total += UInt64(checks[index])
            fewest = min(fewest, checks[index])
            most = max(most, checks[index])
            let since = lastCheck[index] != 0 ? lastCheck[index] : windowStart
            let gap = max(longestGap[index], now - since)
            longest = max(longest, gap)
            if gap > threshold { over += 1 }
            if checks[index] == 0 { never += 1 }
        }
        return "stats \(now - windowStart) \(total) \(fewest) \(most) \(longest) \(over) \(never)"
    }

    private func reply(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return
            }
            written += count
        }
    }
}

/// The fleet as child processes of the benchmark, driven through pipes: one process for up to
/// ``FleetProcess/perProcess`` servers, since a process may hold no more descriptors than its
/// hard limit (20,000 on some hosts, which root cannot raise without CAP_SYS_RESOURCE).
final class FleetProcess {
    static let perProcess = 15_000
    let count: Int
    let basePort: Int
    private let parts: [Part]

    var pids: [pid_t] { parts.map(\.pid) }

    init(executable: String, basePort: Int, count: Int) throws {
        self.count = count
        self.basePort = basePort
        var parts: [Part] = []
        do {
            for first in stride(from: 0, to: count, by: Self.perProcess) {
                parts.append(
                    try Part(
                        executable: executable, basePort: basePort, first: first,
                        count: min(Self.perProcess, count - first)))
            }
        } catch {
            for part in parts { part.stop() }
            throw error
        }
        self.parts = parts
    }

    /// CPU ticks of every process of the fleet.
    var ownTicks: Int { parts.reduce(0) { $0 + (ProcessTable.sample($1.pid)?.ownTicks ?? 0) } }

    /// Changes a server's mode; returns when it took effect (CLOCK_MONOTONIC ns).
    func set(_ index: Int, _ mode: FleetMode) throws -> UInt64 {
        let part = parts[index / Self.perProcess]
        let answer = try part.send("mode \(index - part.first) \(mode.rawValue)")
        guard let time = answer.split(separator: " ").last.flatMap({ UInt64($0) }) else {
            throw ValidationError("fleet: unexpected answer \(answer)")
        }
        return time
    }

    func startWindow() throws { for part in parts { _ = try part.send("window") } }

    /// Every server back to answering.
    func reset() throws { for part in parts { _ = try part.send("reset") } }

    /// Checks counted by the fleet since ``startWindow()``.
    struct Stats {
        var window: Double
        var total: Int
        var fewest: Int
        var most: Int
        var longestGap: Double
        var portsOverGap: Int
        var neverChecked: Int

        /// Two parts of the fleet as one.
        func merged(with other: Stats) -> Stats {
            Stats(
                window: max(window, other.window), total: total + other.total, fewest: min(fewest, other.fewest),
                most: max(most, other.most), longestGap: max(longestGap, other.longestGap),
                portsOverGap: portsOverGap + other.portsOverGap, neverChecked: neverChecked + other.neverChecked)
        }
    }

    func stats(gapThreshold: Double) throws -> Stats {
        var merged: Stats?
        for part in parts {
            let answer = try part.send("stats \(UInt64(gapThreshold * 1e9))")
            let words = answer.split(separator: " ").dropFirst().compactMap { UInt64($0) }
            guard words.count == 7 else { throw ValidationError("fleet: unexpected answer \(answer)") }
            let stats = Stats(
                window: Double(words[0]) / 1e9, total: Int(words[1]), fewest: Int(words[2]), most: Int(words[3]),
                longestGap: Double(words[4]) / 1e9, portsOverGap: Int(words[5]), neverChecked: Int(words[6]))
            merged = merged.map { $0.merged(with: stats) } ?? stats
        }
        return merged!
    }

    func stop() { for part in parts { part.stop() } }

    /// One process of the fleet: servers `first..<first + count` of the whole.
    private final class Part {
        let pid: pid_t
        let first: Int
        private let input: Int32
        private let output: Int32
        private var pending: [UInt8] = []

        init(executable: String, basePort: Int, first: Int, count: Int) throws {
            let toChild = try Spawner.pipe().get()
            let fromChild: (read: Int32, write: Int32)
            do {
                fromChild = try Spawner.pipe().get()
            } catch {
                close(toChild.read)
                close(toChild.write)
                throw error
            }
            let spawned = Spawner.spawn(
                [
                    executable, "fleet", "--base-port", "\(basePort)", "--count", "\(count)", "--first-index",
                    "\(first)",
                ],
                Spawner.Options(input: toChild.read, output: fromChild.write))
            close(toChild.read)
            close(fromChild.write)
            guard case .success(let pid) = spawned else {
                close(toChild.write)
                close(fromChild.read)
                throw ValidationError("cannot start the fleet: \(spawned)")
            }
            self.pid = pid
            self.first = first
            input = toChild.write
            output = fromChild.read
            let answer = try readLine()
            guard answer == "ready \(count)" else {
                stop()
                throw ValidationError("the fleet did not start: \(answer)")
            }
        }

        /// Sends one command and returns its one-line answer.
        func send(_ command: String) throws -> String {
            let bytes = Array((command + "\n").utf8)
            var written = 0
            while written < bytes.count {
                let count = bytes[written...].withUnsafeBytes { write(input, $0.baseAddress, $0.count) }
                guard count > 0 else {
                    throw ValidationError("the fleet is gone (write: \(String(cString: strerror(errno))))")
                }
                written += count
            }
            let answer = try readLine()
            if answer.hasPrefix("error") { throw ValidationError("fleet: \(answer)") }
            return answer
        }

        func stop() {
            close(input)
            close(output)
            kill(pid, SIGKILL)
            _ = Spawner.wait(for: pid)
        }

        private func readLine() throws -> String {
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: pending[..<newline], as: UTF8.self)
                    pending.removeSubrange(...newline)
                    return line
                }
                let count = read(output, &chunk, chunk.count)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { throw ValidationError("the fleet is gone") }
                pending += chunk[0..<count]
            }
        }
    }
}

/// Many sockets at once need more than the default 1024 (or 20000) descriptors; root may
/// raise its hard limit too.
func raiseFileLimit(to wanted: rlim_t = 1 << 20) {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    var raised = rlimit(rlim_cur: wanted, rlim_max: max(wanted, limit.rlim_max))
    if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) != 0 {
        raised = rlimit(rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max)
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised)
    }
}
