import DirectordCore
import DirectordSystem
import Glibc

/// The loop's one ICMP socket for an address family: it sends echo requests for every ping
/// check and hands each reply to the check waiting for it, matched by identifier, sequence and
/// source address.
///
/// Raw sockets first, ping sockets second. directord runs as root (it must, to program IPVS),
/// and a raw socket works for root whatever `net.ipv4.ping_group_range` says; that sysctl is
/// "1 0" (no group may open ping sockets) on many systems and containers, including the
/// machines this was built on. A kernel filter (`ICMP_FILTER`, `ICMP6_FILTER`) lets only echo
/// replies reach the raw socket, so the loop does not wake for the host's other ICMP traffic.
/// Without CAP_NET_RAW an unprivileged ping socket (`SOCK_DGRAM`) is used where the sysctl
/// allows it; the kernel then sets the identifier and delivers only this socket's replies.
final class ICMPEndpoint {
    let family: AddressFamily
    private let reactor: Reactor
    private var fd: Int32
    /// Raw socket (true) or ping socket (false).
    private let isRaw: Bool
    private let identifier: UInt16
    private var nextSequence: UInt16
    private var waiting: [UInt16: (address: IPAddress, handler: () -> Void)] = [:]
    /// Requests the socket could not take yet, oldest first.
    private var queue: [(packet: [UInt8], address: IPAddress)] = []

    private static let payload = Array("directord health check".utf8)

    init(family: AddressFamily, reactor: Reactor) throws(SystemError) {
        self.family = family
        self.reactor = reactor
        let domain = family == .ipv4 ? AF_INET : AF_INET6
        let proto = Int32(family == .ipv4 ? IPPROTO_ICMP : IPPROTO_ICMPV6)
        let flags = Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue)
        var fd = socket(domain, Int32(SOCK_RAW.rawValue) | flags, proto)
        var isRaw = true
        if fd < 0 {
            let rawError = SystemError("raw ICMP socket")
            fd = socket(domain, Int32(SOCK_DGRAM.rawValue) | flags, proto)
            guard fd >= 0 else {
                throw SystemError(
                    "cannot open an ICMP socket (needs root or CAP_NET_RAW, or net.ipv4.ping_group_range)",
                    code: rawError.code)
            }
            isRaw = false
        }
        self.fd = fd
        self.isRaw = isRaw
        // Distinct per endpoint, so two loops in one process (tests) tell their replies apart.
        self.identifier = UInt16.random(in: 1...UInt16.max)
        self.nextSequence = UInt16.random(in: 0...UInt16.max)
        if isRaw { installFilter() }
        // Replies to thousands of checks started at once arrive together, while the loop may
        // still be sending; the default buffer (about 200 KiB, some 300 replies) would drop the
        // rest. Root may exceed net.core.rmem_max with SO_RCVBUFFORCE.
        var bufferSize: Int32 = 8 << 20
        if setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufferSize, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufferSize, socklen_t(MemoryLayout<Int32>.size))
        }
        do {
            try reactor.register(fd, for: .readable) { [weak self] events in
                guard let self else { return }
                if events.contains(.writable) { self.flushQueue() }
                if events.contains(.readable) { self.receiveReplies() }
            }
        } catch {
            Glibc.close(fd)
            self.fd = -1
            throw error
        }
    }

    deinit {
        close()
    }

    func close() {
        guard fd >= 0 else { return }
        reactor.unregister(fd)
        Glibc.close(fd)
        fd = -1
        waiting.removeAll()
        queue.removeAll()
    }

    /// Sends one echo request to `address`; `handler` runs on the loop when its reply arrives.
    ///
    /// When the socket's send buffer is full (thousands of checks starting at once), the
    /// request waits in a queue that is written as the socket drains; the check's own timer
    /// keeps running meanwhile.
    ///
    /// - Returns: the sequence number, to ``forget(_:)`` the request.
    /// - Throws: when the kernel refuses the request outright (no route to the address).
    func sendEcho(to address: IPAddress, handler: @escaping () -> Void) throws(SystemError) -> UInt16 {
        guard fd >= 0 else { throw SystemError("ICMP socket closed", code: EBADF) }
        // Skip sequence numbers still awaiting a reply (only after 65536 requests in flight).
        var sequence = nextSequence
        while waiting[sequence] != nil { sequence &+= 1 }
        nextSequence = sequence &+ 1
        let packet = ICMPPacket.echoRequest(
            family: family, identifier: identifier, sequence: sequence, payload: Self.payload)
        if queue.isEmpty {
            switch write(packet, to: address) {
            case .sent:
                break
            case .wouldBlock:
                enqueue(packet, to: address)
            case .failed(let error):
                throw error
            }
        } else {
            enqueue(packet, to: address)
        }
        waiting[sequence] = (address, handler)
        return sequence
    }

    private enum WriteOutcome {
        case sent
        case wouldBlock
        case failed(SystemError)
    }

    private func write(_ packet: [UInt8], to address: IPAddress) -> WriteOutcome {
        let target = SocketAddress(address, port: 0)
        let sent = packet.withUnsafeBytes { raw in
            target.withSockAddr { pointer, length in
                retryingInterrupts { sendto(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL), pointer, length) }
            }
        }
        if sent >= 0 { return .sent }
        if errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS { return .wouldBlock }
        return .failed(SystemError("sendto"))
    }

    private func enqueue(_ packet: [UInt8], to address: IPAddress) {
        queue.append((packet, address))
        if queue.count == 1 { try? reactor.setInterest(fd, [.readable, .writable]) }
    }

    /// Writes queued requests while the socket takes them. A request that fails now (its
    /// route went away) is dropped; its check's timer ends the attempt.
    private func flushQueue() {
        while let (packet, address) = queue.first {
            if case .wouldBlock = write(packet, to: address) { return }
            queue.removeFirst()
        }
        try? reactor.setInterest(fd, .readable)
    }

    /// Drops a request whose check has ended; a late reply is then ignored.
    func forget(_ sequence: UInt16) {
        waiting[sequence] = nil
    }

    private func receiveReplies() {
        var buffer = [UInt8](repeating: 0, count: 1500)
        // Bounded, so a flood of replies cannot hold the loop.
        for _ in 0..<256 {
            var source = sockaddr_storage()
            var sourceLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let count = buffer.withUnsafeMutableBytes { raw in
                withUnsafeMutablePointer(to: &source) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                        retryingInterrupts { recvfrom(fd, raw.baseAddress, raw.count, 0, address, &sourceLength) }
                    }
                }
            }
            guard count > 0 else { return }
            guard
                let reply = ICMPPacket.parseEchoReply(
                    buffer[0..<count], family: family, includesIPHeader: isRaw && family == .ipv4),
                !isRaw || reply.identifier == identifier,
                let from = SocketAddress.decode(source)?.address,
                let request = waiting[reply.sequence], request.address == from
            else { continue }
            waiting[reply.sequence] = nil
            request.handler()
            if fd < 0 { return }
        }
    }

    private func installFilter() {
        if family == .ipv4 {
            // linux/icmp.h: ICMP_FILTER (1) at SOL_RAW; a set bit drops that ICMP type.
            var mask: UInt32 = ~(UInt32(1) << UInt32(ICMPPacket.replyType(.ipv4)))
            _ = setsockopt(fd, Int32(SOL_RAW), 1, &mask, socklen_t(MemoryLayout<UInt32>.size))
        } else {
            // netinet/icmp6.h: ICMP6_FILTER (1) at IPPROTO_ICMPV6; eight words, a set bit blocks.
            var filter = [UInt32](repeating: .max, count: 8)
            let type = Int(ICMPPacket.replyType(.ipv6))
            filter[type >> 5] &= ~(UInt32(1) << UInt32(type & 31))
            _ = filter.withUnsafeBytes { raw in
                setsockopt(fd, Int32(IPPROTO_ICMPV6), 1, raw.baseAddress, socklen_t(raw.count))
            }
        }
    }
}
