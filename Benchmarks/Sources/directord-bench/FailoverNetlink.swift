import ArgumentParser
import Dispatch
import Glibc
import Synchronization

// The failover benchmark's two views of the kernel, both independent of the tool being
// measured:
//
// - `IPVSWatcher` dumps the destinations of single virtual services, many times a second, to
//   time when a real server leaves or re-enters the table. DirectordIPVS's client reads the
//   whole table (every service, every destination with its counters); at 10,000 real servers
//   that is megabytes a poll in an emulated machine whose two CPUs the tools need, so the
//   watcher asks only for the services whose servers it is waiting on.
// - `NetlinkTap` counts the generic netlink messages the tool (and the processes it runs)
//   exchange with the kernel, through an nlmon device: nothing to attach to the tool, and the
//   same count for directord's netlink client, keepalived's libnl and ldirectord's ipvsadm.

/// Socket constants Glibc's module does not export (sys/socket.h, linux/if_packet.h).
enum SocketConstant {
    static let datagram: Int32 = 2  // SOCK_DGRAM
    static let raw: Int32 = 3  // SOCK_RAW
    static let closeOnExec: Int32 = 0o2_000_000  // SOCK_CLOEXEC
    static let receiveBufferForce: Int32 = 33  // SO_RCVBUFFORCE
    static let packetLevel: Int32 = 263  // SOL_PACKET
    static let packetStatistics: Int32 = 6  // PACKET_STATISTICS
    static let allProtocols: UInt16 = 3  // ETH_P_ALL
}

/// Netlink and generic netlink constants (linux/netlink.h, linux/genetlink.h, linux/ip_vs.h).
enum NetlinkConstant {
    static let generic: Int32 = 16  // NETLINK_GENERIC
    static let flagRequest: UInt16 = 0x1  // NLM_F_REQUEST
    static let flagAck: UInt16 = 0x4  // NLM_F_ACK
    static let flagDump: UInt16 = 0x300  // NLM_F_DUMP
    static let typeError: UInt16 = 2  // NLMSG_ERROR
    static let typeDone: UInt16 = 3  // NLMSG_DONE
    static let controllerID: UInt16 = 0x10  // GENL_ID_CTRL
    static let controllerGetFamily: UInt8 = 3  // CTRL_CMD_GETFAMILY
    static let controllerFamilyID: UInt16 = 1  // CTRL_ATTR_FAMILY_ID
    static let controllerFamilyName: UInt16 = 2  // CTRL_ATTR_FAMILY_NAME
    static let ipvsGetDestination: UInt8 = 8  // IPVS_CMD_GET_DEST
    static let ipvsCommandService: UInt16 = 1  // IPVS_CMD_ATTR_SERVICE
    static let ipvsCommandDestination: UInt16 = 2  // IPVS_CMD_ATTR_DEST
    static let ipvsServiceFamily: UInt16 = 1  // IPVS_SVC_ATTR_AF
    static let ipvsServiceProtocol: UInt16 = 2  // IPVS_SVC_ATTR_PROTOCOL
    static let ipvsServiceAddress: UInt16 = 3  // IPVS_SVC_ATTR_ADDR
    static let ipvsServicePort: UInt16 = 4  // IPVS_SVC_ATTR_PORT
    static let ipvsDestinationAddress: UInt16 = 1  // IPVS_DEST_ATTR_ADDR
    static let ipvsDestinationPort: UInt16 = 2  // IPVS_DEST_ATTR_PORT
    static let ipvsDestinationWeight: UInt16 = 4  // IPVS_DEST_ATTR_WEIGHT
}

/// A little-endian (host order) netlink message being built.
struct NetlinkBuilder {
    var bytes: [UInt8] = []

    mutating func u16(_ value: UInt16) { bytes += withUnsafeBytes(of: value.littleEndian, Array.init) }
    mutating func u32(_ value: UInt32) { bytes += withUnsafeBytes(of: value.littleEndian, Array.init) }
    mutating func pad() { while bytes.count % 4 != 0 { bytes.append(0) } }

    mutating func attribute(_ type: UInt16, _ payload: [UInt8]) {
        u16(UInt16(4 + payload.count))
        u16(type)
        bytes += payload
        pad()
    }

    /// A generic netlink request: nlmsghdr + genlmsghdr + the attributes.
    static func request(
        type: UInt16, flags: UInt16, sequence: UInt32, portID: UInt32, command: UInt8, version: UInt8,
        attributes: [UInt8]
    ) -> [UInt8] {
        var message = NetlinkBuilder()
        message.u32(UInt32(16 + 4 + attributes.count))
        message.u16(type)
        message.u16(flags)
        message.u32(sequence)
        message.u32(portID)
        message.bytes += [command, version, 0, 0]
        message.bytes += attributes
        return message.bytes
    }
}

/// Reading netlink bytes (host order).
enum NetlinkBytes {
    static func u16(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt16 {
        UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }
    static func u32(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
        UInt32(u16(bytes, offset)) | UInt32(u16(bytes, offset + 2)) << 16
    }

    /// Calls `body(type, payloadStart, payloadEnd)` for each attribute in `start..<end`.
    static func attributes(
        _ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int, _ body: (UInt16, Int, Int) -> Void
    ) {
        var offset = start
        while offset + 4 <= end {
            let length = Int(u16(bytes, offset))
            guard length >= 4, offset + length <= end else { return }
            body(u16(bytes, offset + 2) & 0x3fff, offset + 4, offset + length)
            offset += (length + 3) & ~3
        }
    }
}

/// Dumps single IPVS services' destinations over its own generic netlink socket.
final class IPVSWatcher {
    private let fd: Int32
    /// The socket's netlink port, to tell the watcher's traffic from the tool's.
    let portID: UInt32
    private(set) var family: UInt16 = 0
    private var sequence: UInt32 = 0
    private var buffer = [UInt8](repeating: 0, count: 1 << 17)
    /// Dumps made and the time they took, to report the watcher's own cost.
    private(set) var dumps = 0
    private(set) var dumpNanoseconds: UInt64 = 0

    init() throws {
        let fd = socket(AF_NETLINK, SocketConstant.raw | SocketConstant.closeOnExec, NetlinkConstant.generic)
        self.fd = fd
        guard fd >= 0 else { throw ValidationError("netlink socket: \(String(cString: strerror(errno)))") }
        // struct sockaddr_nl: nl_family, nl_pad, nl_pid, nl_groups. Port 0: the kernel picks one.
        var address = Self.netlinkAddress()
        var length = socklen_t(12)
        let bound = address.withUnsafeMutableBytes { bytes in
            let pointer = bytes.baseAddress!.assumingMemoryBound(to: sockaddr.self)
            return bind(fd, pointer, 12) == 0 && getsockname(fd, pointer, &length) == 0
        }
        guard bound else { throw ValidationError("netlink bind: \(String(cString: strerror(errno)))") }
        portID = address.withUnsafeBytes { NetlinkBytes.u32($0, 4) }
        var size: Int32 = 4 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        family = try resolveFamily("IPVS")
    }

    deinit { close(fd) }

    /// A sockaddr_nl for port 0 (the kernel, as a destination; "pick one", to bind).
    private static func netlinkAddress() -> [UInt8] {
        var address = [UInt8](repeating: 0, count: 12)
        address[0] = UInt8(AF_NETLINK & 0xff)
        return address
    }

    private func nextSequence() -> UInt32 {
        sequence &+= 1
        return sequence
    }

    private func resolveFamily(_ name: String) throws -> UInt16 {
        var attributes = NetlinkBuilder()
        attributes.attribute(NetlinkConstant.controllerFamilyName, Array(name.utf8) + [0])
        let sequence = nextSequence()
        try send(
            NetlinkBuilder.request(
                type: NetlinkConstant.controllerID, flags: NetlinkConstant.flagRequest, sequence: sequence,
                portID: portID, command: NetlinkConstant.controllerGetFamily, version: 1,
                attributes: attributes.bytes))
        var family: UInt16?
        try receive(sequence: sequence) { bytes, start, end, type in
            guard type == NetlinkConstant.controllerID else { return }
            NetlinkBytes.attributes(bytes, from: start + 4, to: end) { attribute, from, _ in
                if attribute == NetlinkConstant.controllerFamilyID { family = NetlinkBytes.u16(bytes, from) }
            }
        }
        guard let family else { throw ValidationError("the kernel has no \(name) netlink family (load ip_vs)") }
        return family
    }

    /// The destinations of the TCP service `address:port` (IPv4, host order), as real port →
    /// weight; empty when the service is not in the table.
    func destinations(address: UInt32, port: UInt16) throws -> [UInt64: UInt32] {
        let started = monotonicNanoseconds()
        var service = NetlinkBuilder()
        service.attribute(
            NetlinkConstant.ipvsServiceFamily, withUnsafeBytes(of: UInt16(AF_INET).littleEndian, Array.init))
        service.attribute(NetlinkConstant.ipvsServiceProtocol, withUnsafeBytes(of: UInt16(6).littleEndian, Array.init))
        service.attribute(
            NetlinkConstant.ipvsServiceAddress,
            withUnsafeBytes(of: address.bigEndian, Array.init) + [UInt8](repeating: 0, count: 12))
        service.attribute(NetlinkConstant.ipvsServicePort, withUnsafeBytes(of: port.bigEndian, Array.init))
        var attributes = NetlinkBuilder()
        attributes.attribute(NetlinkConstant.ipvsCommandService, service.bytes)
        let sequence = nextSequence()
        try send(
            NetlinkBuilder.request(
                type: family, flags: NetlinkConstant.flagRequest | NetlinkConstant.flagDump, sequence: sequence,
                portID: portID, command: NetlinkConstant.ipvsGetDestination, version: 1, attributes: attributes.bytes))
        var result: [UInt64: UInt32] = [:]
        let family = self.family
        do {
            try receive(sequence: sequence) { bytes, start, end, type in
                guard type == family else { return }
                NetlinkBytes.attributes(bytes, from: start + 4, to: end) { attribute, from, to in
                    guard attribute == NetlinkConstant.ipvsCommandDestination else { return }
                    var address: UInt32?
                    var port: UInt16?
                    var weight: UInt32?
                    NetlinkBytes.attributes(bytes, from: from, to: to) { inner, at, _ in
                        if inner == NetlinkConstant.ipvsDestinationAddress {
                            // IPv4 in the first four bytes, network order.
                            address = bytes[at..<at + 4].reduce(0) { $0 << 8 | UInt32($1) }
                        } else if inner == NetlinkConstant.ipvsDestinationPort {
                            port = UInt16(bytes[at]) << 8 | UInt16(bytes[at + 1])
                        } else if inner == NetlinkConstant.ipvsDestinationWeight {
                            weight = NetlinkBytes.u32(bytes, at)
                        }
                    }
                    if let address, let port, let weight {
                        result[FleetLayout.key(address: address, port: port)] = weight
                    }
                }
            }
        } catch let error as KernelRefusal where error.errno == ESRCH {
            // No such service (yet, or any more).
        }
        dumps += 1
        dumpNanoseconds += monotonicNanoseconds() - started
        return result
    }

    struct KernelRefusal: Error, CustomStringConvertible {
        var errno: Int32
        var description: String { "the kernel refused the request: \(String(cString: strerror(errno)))" }
    }

    private func send(_ bytes: [UInt8]) throws {
        let address = Self.netlinkAddress()
        let sent = bytes.withUnsafeBytes { buffer in
            address.withUnsafeBytes {
                sendto(
                    fd, buffer.baseAddress, buffer.count, 0, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), 12)
            }
        }
        guard sent == bytes.count else { throw ValidationError("netlink send: \(String(cString: strerror(errno)))") }
    }

    /// Reads the answer to `sequence` up to its end (NLMSG_DONE, or an acknowledgement or a
    /// single reply for a request that is not a dump), handing each message to `body` as
    /// (bytes, start of the generic netlink header, end, type).
    private func receive(
        sequence: UInt32, _ body: (UnsafeRawBufferPointer, Int, Int, UInt16) -> Void
    ) throws {
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count < 0 {
                if errno == EINTR { continue }
                throw ValidationError("netlink receive: \(String(cString: strerror(errno)))")
            }
            var finished = false
            var refusal: Int32 = 0
            buffer.withUnsafeBytes { bytes in
                var offset = 0
                while offset + 16 <= count {
                    let length = Int(NetlinkBytes.u32(bytes, offset))
                    guard length >= 16, offset + length <= count else { break }
                    let type = NetlinkBytes.u16(bytes, offset + 4)
                    let flags = NetlinkBytes.u16(bytes, offset + 6)
                    if NetlinkBytes.u32(bytes, offset + 8) == sequence {
                        switch type {
                        case NetlinkConstant.typeDone:
                            finished = true
                        case NetlinkConstant.typeError:
                            let code = Int32(bitPattern: NetlinkBytes.u32(bytes, offset + 16))
                            if code != 0 { refusal = -code }
                            finished = true
                        default:
                            body(bytes, offset + 16, offset + length, type)
                            if flags & 0x2 == 0 { finished = true }  // not NLM_F_MULTI: a single reply
                        }
                    }
                    offset += (length + 3) & ~3
                }
            }
            if refusal != 0 { throw KernelRefusal(errno: refusal) }
            if finished { return }
        }
    }
}

/// Counts generic netlink traffic through an nlmon device (`ip link add nlmon0 type nlmon`).
///
/// The device copies every netlink message of the network namespace to packet sockets while
/// it is up, in the sending process's time; so it is brought up only around the windows that
/// count (fault phases, a quiet window), never during the CPU measurement. Messages whose
/// netlink port is the watcher's are not counted (the kernel stamps its answers with the
/// requester's port, and the watcher stamps its requests); everything else of the generic
/// netlink family is the tool's or its children's.
final class NetlinkTap: @unchecked Sendable {
    static let deviceName = "nlmon0"
    /// IPVS_CMD_NEW/SET/DEL_SERVICE, NEW/SET/DEL_DEST, NEW/DEL_DAEMON, SET_CONFIG, ZERO, FLUSH.
    static let changingCommands: Set<UInt8> = [1, 2, 3, 5, 6, 7, 9, 10, 12, 16, 17]

    struct Counts: Sendable {
        /// Requests to the kernel that change the table (IPVS NEW/SET/DEL of a service,
        /// destination or daemon, SET_CONFIG, ZERO, FLUSH).
        var changeRequests = 0
        /// Other requests: reads (GET_*, dumps) and family look-ups.
        var readRequests = 0
        /// Messages from the kernel: acknowledgements, replies, dump entries.
        var answers = 0
        /// Of those, the acknowledgements (or refusals) of changing requests, matched by sequence number.
        var changeAnswers = 0
        /// Packets (datagrams) either way.
        var packets = 0
        var dropped = 0

        var messages: Int { changeRequests + readRequests + answers }

        static func - (lhs: Counts, rhs: Counts) -> Counts {
            Counts(
                changeRequests: lhs.changeRequests - rhs.changeRequests,
                readRequests: lhs.readRequests - rhs.readRequests,
                answers: lhs.answers - rhs.answers, changeAnswers: lhs.changeAnswers - rhs.changeAnswers,
                packets: lhs.packets - rhs.packets, dropped: lhs.dropped - rhs.dropped)
        }

        static func + (lhs: Counts, rhs: Counts) -> Counts {
            Counts(
                changeRequests: lhs.changeRequests + rhs.changeRequests,
                readRequests: lhs.readRequests + rhs.readRequests,
                answers: lhs.answers + rhs.answers, changeAnswers: lhs.changeAnswers + rhs.changeAnswers,
                packets: lhs.packets + rhs.packets, dropped: lhs.dropped + rhs.dropped)
        }
    }

    private let fd: Int32
    private let ignoredPort: UInt32
    private let family: UInt16
    private let changeRequests = Atomic<Int>(0)
    private let readRequests = Atomic<Int>(0)
    private let answers = Atomic<Int>(0)
    private let changeAnswers = Atomic<Int>(0)
    private let packets = Atomic<Int>(0)
    private let control: Int32

    /// Creates the nlmon device (down) and a packet socket on it, and starts counting on a
    /// thread of its own.
    init(ignoringPort: UInt32, family: UInt16) throws {
        ignoredPort = ignoringPort
        self.family = family
        if if_nametoindex(Self.deviceName) == 0 {
            let status = try spawnAndWait(["/sbin/ip", "link", "add", Self.deviceName, "type", "nlmon"])
            guard status == 0 else { throw ValidationError("cannot create the nlmon device (is nlmon.ko there?)") }
        }
        let index = if_nametoindex(Self.deviceName)
        guard index != 0 else { throw ValidationError("no \(Self.deviceName) device") }
        control = socket(AF_INET, SocketConstant.datagram | SocketConstant.closeOnExec, 0)
        let fd = socket(
            AF_PACKET, SocketConstant.raw | SocketConstant.closeOnExec, Int32(SocketConstant.allProtocols.bigEndian))
        self.fd = fd
        guard fd >= 0 else { throw ValidationError("packet socket: \(String(cString: strerror(errno)))") }
        var size: Int32 = 64 << 20
        setsockopt(fd, SOL_SOCKET, SocketConstant.receiveBufferForce, &size, socklen_t(MemoryLayout<Int32>.size))
        // struct sockaddr_ll: family, protocol (network order), ifindex, hatype, pkttype, halen, addr[8].
        var address = [UInt8](repeating: 0, count: 20)
        address.withUnsafeMutableBytes { bytes in
            bytes.storeBytes(of: UInt16(AF_PACKET), toByteOffset: 0, as: UInt16.self)
            bytes.storeBytes(of: SocketConstant.allProtocols.bigEndian, toByteOffset: 2, as: UInt16.self)
            bytes.storeBytes(of: Int32(index), toByteOffset: 4, as: Int32.self)
        }
        let bound = address.withUnsafeBytes {
            bind(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), 20)
        }
        guard bound == 0 else {
            throw ValidationError("bind to \(Self.deviceName): \(String(cString: strerror(errno)))")
        }
        try setUp(false)
        let tap = self
        DispatchQueue.global().async { tap.count() }
    }

    /// Brings the device up (counting, at some cost to every netlink user) or down.
    func setUp(_ up: Bool) throws {
        // struct ifreq: name[16], then ifr_flags (short).
        var request = [UInt8](repeating: 0, count: 40)
        for (offset, byte) in Self.deviceName.utf8.enumerated() { request[offset] = byte }
        let getFlags: UInt = 0x8913  // SIOCGIFFLAGS
        let setFlags: UInt = 0x8914  // SIOCSIFFLAGS
        guard ioctl(control, getFlags, &request) == 0 else {
            throw ValidationError("SIOCGIFFLAGS: \(String(cString: strerror(errno)))")
        }
        var flags = UInt16(request[16]) | UInt16(request[17]) << 8
        flags = up ? flags | 1 : flags & ~1  // IFF_UP
        request[16] = UInt8(flags & 0xff)
        request[17] = UInt8(flags >> 8)
        guard ioctl(control, setFlags, &request) == 0 else {
            throw ValidationError("SIOCSIFFLAGS: \(String(cString: strerror(errno)))")
        }
    }

    var counts: Counts {
        Counts(
            changeRequests: changeRequests.load(ordering: .relaxed),
            readRequests: readRequests.load(ordering: .relaxed),
            answers: answers.load(ordering: .relaxed), changeAnswers: changeAnswers.load(ordering: .relaxed),
            packets: packets.load(ordering: .relaxed), dropped: droppedSoFar())
    }

    private let dropped = Mutex(0)

    /// PACKET_STATISTICS resets the kernel's counters on every read; keep the sum.
    private func droppedSoFar() -> Int {
        var statistics: (UInt32, UInt32) = (0, 0)  // tp_packets, tp_drops
        var length = socklen_t(8)
        getsockopt(fd, SocketConstant.packetLevel, SocketConstant.packetStatistics, &statistics, &length)
        return dropped.withLock {
            $0 += Int(statistics.1)
            return $0
        }
    }

    private func count() {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var address = [UInt8](repeating: 0, count: 20)
        // Sequence numbers of changing requests not answered yet (one counting thread).
        var pendingChanges = Set<UInt32>()
        while true {
            var length = socklen_t(20)
            let count = address.withUnsafeMutableBytes { addressBytes in
                recvfrom(
                    fd, &buffer, buffer.count, 0, addressBytes.baseAddress!.assumingMemoryBound(to: sockaddr.self),
                    &length)
            }
            if count < 0 {
                // ENETDOWN reports (once) that the device went down; it may come up again.
                if errno == EINTR || errno == ENETDOWN { continue }
                log("the netlink tap stopped: \(String(cString: strerror(errno)))")
                return
            }
            // sll_protocol: the netlink protocol. (sll_pkttype is PACKET_OUTGOING either way, the
            // nlmon device's transmission; a message to the kernel is one with NLM_F_REQUEST.)
            let protocolNumber = UInt16(address[2]) << 8 | UInt16(address[3])
            guard protocolNumber == UInt16(NetlinkConstant.generic) else { continue }
            var changes = 0
            var reads = 0
            var replies = 0
            var changeReplies = 0
            buffer.withUnsafeBytes { bytes in
                var offset = 0
                while offset + 16 <= count {
                    let length = Int(NetlinkBytes.u32(bytes, offset))
                    guard length >= 16, offset + length <= count else { break }
                    if NetlinkBytes.u32(bytes, offset + 12) != ignoredPort {
                        let sequence = NetlinkBytes.u32(bytes, offset + 8)
                        if NetlinkBytes.u16(bytes, offset + 6) & NetlinkConstant.flagRequest == 0 {
                            replies += 1
                            if NetlinkBytes.u16(bytes, offset + 4) == NetlinkConstant.typeError,
                                pendingChanges.remove(sequence) != nil
                            {
                                changeReplies += 1
                            }
                        } else if NetlinkBytes.u16(bytes, offset + 4) == family, length > 16,
                            Self.changingCommands.contains(bytes[offset + 16])
                        {
                            changes += 1
                            // A request without NLM_F_ACK gets an answer only when refused.
                            if pendingChanges.count > 100_000 { pendingChanges.removeAll() }
                            pendingChanges.insert(sequence)
                        } else {
                            reads += 1
                        }
                    }
                    offset += (length + 3) & ~3
                }
            }
            guard changes + reads + replies > 0 else { continue }
            packets.add(1, ordering: .relaxed)
            changeRequests.add(changes, ordering: .relaxed)
            readRequests.add(reads, ordering: .relaxed)
            answers.add(replies, ordering: .relaxed)
            changeAnswers.add(changeReplies, ordering: .relaxed)
        }
    }
}
