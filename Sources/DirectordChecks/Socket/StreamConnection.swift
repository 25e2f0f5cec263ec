import DirectordCore
import DirectordSystem
import Glibc

/// A non-blocking TCP connection (or connected UDP socket) on the loop's ``Reactor``.
///
/// Callbacks run on the loop. After ``close()`` no callback runs again, so an owner may close
/// from inside any callback.
final class StreamConnection {
    enum Transport {
        case tcp
        case udp
    }

    let reactor: Reactor
    let address: IPAddress
    let port: UInt16
    let transport: Transport
    private(set) var fd: Int32 = -1
    private var pendingOutput: [UInt8] = []
    private var shutdownAfterFlush = false
    private var isConnected = false
    private(set) var isClosed = false
    /// What epoll watches for now, so that an unchanged interest costs no system call.
    private var interest: PollEvents = []

    private var onConnected: (() -> Void)?
    /// Bytes received, one call per read.
    var onData: (([UInt8]) -> Void)?
    /// The peer closed its side (end of file).
    var onEnd: (() -> Void)?
    /// A read or write failed; the text is the C library's ("Connection reset by peer").
    var onFailure: ((SystemError) -> Void)?

    /// Bytes a single read asks for.
    private static let readSize = 16 * 1024

    /// `checkpath=forwarding`: the socket carries this firewall mark, connects to the virtual
    /// address (``address``), and leaves from the director's address toward this real server.
    private var forwarding: (mark: UInt32, realServer: IPAddress)?

    init(reactor: Reactor, address: IPAddress, port: UInt16, transport: Transport = .tcp) {
        self.reactor = reactor
        self.address = address
        self.port = port
        self.transport = transport
    }

    /// A TCP connection for a check of `check.address`: directly, or through the forwarding
    /// path to the virtual address when the check has one.
    convenience init(reactor: Reactor, check: HealthCheck, port: UInt16) {
        guard let path = check.forwardingPath else {
            self.init(reactor: reactor, address: check.address, port: port)
            return
        }
        self.init(reactor: reactor, address: path.virtualAddress, port: port)
        forwarding = (path.mark, check.address)
    }

    deinit {
        close()
    }

    /// "10.0.0.1:80", "[::1]:80": how reasons name the peer; through the forwarding path,
    /// "10.0.0.10:80 (forwarded to 10.1.0.2)".
    var endpoint: String {
        "\(address.bracketed):\(port)" + (forwarding.map { " (forwarded to \($0.realServer.bracketed))" } ?? "")
    }

    /// This end's address and port once connected (`getsockname`).
    var localAddress: (address: IPAddress, port: UInt16)? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard result == 0 else { return nil }
        return SocketAddress.decode(storage)
    }

    /// ``localAddress`` as ``endpoint`` writes addresses.
    var localEndpoint: String {
        guard let (address, port) = localAddress else { return "0.0.0.0:0" }
        return "\(address.bracketed):\(port)"
    }

    /// Starts connecting. `connected` runs once the connection is up; a failure to connect
    /// arrives through ``onFailure``.
    func connect(_ connected: @escaping () -> Void) {
        onConnected = connected
        let target = SocketAddress(address, port: port)
        let type = (transport == .tcp ? SOCK_STREAM : SOCK_DGRAM).rawValue
        let fd = socket(target.protocolFamily, Int32(type) | Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            fail(SystemError("socket"))
            return
        }
        self.fd = fd
        if let forwarding,
            let problem = Self.prepareForwarding(fd, mark: forwarding.mark, toward: forwarding.realServer)
        {
            fail(problem)
            return
        }
        let result = target.withSockAddr { pointer, length in
            retryingInterrupts { Glibc.connect(fd, pointer, length) }
        }
        if result == 0 {
            watch(.readable)
            connectionEstablished()
        } else if errno == EINPROGRESS {
            watch(.writable)
        } else {
            fail(SystemError("connect"))
        }
    }

    /// Marks the socket, and binds it to the address this director would send from to the real
    /// server: the virtual address is the director's own, and a connection to it would
    /// otherwise leave from it, and the real server's answer go to itself.
    private static func prepareForwarding(_ fd: Int32, mark: UInt32, toward realServer: IPAddress) -> SystemError? {
        var value = mark
        guard setsockopt(fd, SOL_SOCKET, SO_MARK, &value, socklen_t(MemoryLayout<UInt32>.size)) == 0 else {
            return SystemError("setsockopt SO_MARK")
        }
        guard let source = AcceptLocal.sourceAddress(toward: realServer) else {
            return SystemError("no route to \(realServer.bracketed)", code: ENETUNREACH)
        }
        let bound = SocketAddress(source).withSockAddr { Glibc.bind(fd, $0, $1) }
        return bound == 0 ? nil : SystemError("bind")
    }

    /// Queues bytes and writes what the socket takes now.
    func send(_ bytes: [UInt8]) {
        guard !isClosed else { return }
        pendingOutput += bytes
        if isConnected { flush() }
    }

    /// Sends end-of-file to the peer once everything queued is written (TCP only).
    func shutdownWriteAfterFlush() {
        shutdownAfterFlush = true
        if isConnected { flush() }
    }

    /// Close with a reset (`SO_LINGER` of 0) instead of a FIN: for a check whose verdict is in,
    /// so nothing this end still has to send is lost. Neither end keeps the connection in
    /// TIME_WAIT or FIN_WAIT: one reset segment ends it, not a FIN and its acknowledgement.
    var resetOnClose = false

    /// Stops watching and closes the socket. Idempotent.
    func close() {
        guard !isClosed else { return }
        isClosed = true
        onConnected = nil
        onData = nil
        onEnd = nil
        onFailure = nil
        if fd >= 0 {
            reactor.forgetBeforeClosing(fd)
            if resetOnClose {
                var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            }
            Glibc.close(fd)
            fd = -1
        }
    }

    // MARK: Events

    private func watch(_ interest: PollEvents) {
        self.interest = interest
        do {
            try reactor.register(fd, for: interest) { [weak self] events in
                guard let self else { return }
                self.handle(events)
            }
        } catch {
            fail(error)
        }
    }

    private func handle(_ events: PollEvents) {
        guard !isClosed else { return }
        if !isConnected {
            // Linux reports a failed connect as an error or hang-up beside writable: only then
            // is SO_ERROR asked for its reason, not at every connect (one system call a check).
            if !events.isDisjoint(with: [.error, .hangup]) {
                var code: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length)
                if code != 0 {
                    fail(SystemError("connect", code: code))
                    return
                }
            }
            guard events.contains(.writable) else { return }
            connectionEstablished()
            return
        }
        if events.contains(.writable) { flush() }
        if !isClosed && !events.isDisjoint(with: [.readable, .hangup, .error]) { readAvailable() }
    }

    private func connectionEstablished() {
        isConnected = true
        let connected = onConnected
        onConnected = nil
        connected?()
        guard !isClosed else { return }
        // Writing first means a request queued before the connection was up usually leaves at
        // once, and the interest changes once (to readable), not twice.
        if !pendingOutput.isEmpty || shutdownAfterFlush { flush() } else { updateInterest() }
    }

    private func readAvailable() {
        let buffer = UnsafeMutableRawBufferPointer(rebasing: reactor.readBuffer.prefix(Self.readSize))
        // A bounded number of reads per event keeps one fast sender from starving the loop.
        for _ in 0..<8 {
            let count = retryingInterrupts { recv(fd, buffer.baseAddress, buffer.count, 0) }
            if count > 0 {
                onData?(Array(UnsafeRawBufferPointer(rebasing: buffer.prefix(count))))
                if isClosed { return }
                if transport == .tcp && count < buffer.count { return }
            } else if count == 0 {
                if transport == .udp { return }
                let end = onEnd
                onEnd = nil
                reactor.unregister(fd)
                end?()
                return
            } else {
                if errno == EAGAIN || errno == EWOULDBLOCK { return }
                fail(SystemError("recv"))
                return
            }
        }
    }

    private func flush() {
        while !pendingOutput.isEmpty {
            let written = pendingOutput.withUnsafeBytes { raw in
                retryingInterrupts { Glibc.send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL)) }
            }
            if written < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK { break }
                fail(SystemError("send"))
                return
            }
            pendingOutput.removeFirst(written)
        }
        if pendingOutput.isEmpty && shutdownAfterFlush && transport == .tcp {
            shutdownAfterFlush = false
            shutdown(fd, Int32(SHUT_WR))
        }
        updateInterest()
    }

    private func updateInterest() {
        guard !isClosed, isConnected else { return }
        var wanted: PollEvents = .readable
        if !pendingOutput.isEmpty { wanted.insert(.writable) }
        guard wanted != interest else { return }
        interest = wanted
        do { try reactor.setInterest(fd, wanted) } catch { fail(error) }
    }

    private func fail(_ error: SystemError) {
        let failure = onFailure
        onFailure = nil
        close()
        failure?(error)
    }
}
