public import DirectordCore
import Glibc
public import Logging
import Synchronization

/// Talks to the kernel's IPVS table over the generic netlink family "IPVS".
///
/// One netlink socket per client, kept behind a mutex, so a client can be shared between tasks
/// and calls are serialised (libnl sockets are not thread-safe). Every call is synchronous:
/// the kernel handles IPVS requests while they are being sent.
///
/// ``apply(_:)`` batches: up to ``batchWindow`` requests go to the kernel in one `send`, each
/// asking for an acknowledgement, and the acknowledgements come back with one `recvmmsg`; so a
/// batch of 10,000 operations costs about 160 system calls where `ipvsadm` needs a process per
/// operation.
public final class NetlinkIPVSClient: IPVSControl {
    /// Requests per datagram in ``apply(_:)``. Each acknowledgement takes about 1 KiB of the
    /// socket's receive buffer until read; 128 fit the kernel's default `rmem_max` with room
    /// to spare, so none is ever dropped.
    public static let batchWindow = 128

    private let connection: Mutex<IPVSConnection>
    /// Debug lines for each exchange with the kernel (`directord -d`); silent by default.
    private let logger: Logger

    /// Opens a netlink socket and resolves the IPVS family.
    ///
    /// - Parameters:
    ///   - networkNamespace: a name under /run/netns or a path to a namespace file, to manage
    ///     the IPVS table of that network namespace; nil for this process's own.
    ///   - receiveTimeout: how long to wait for the kernel before a call fails.
    /// - Throws: ``IPVSError/familyMissing`` when the ip_vs module is not loaded; other cases
    ///   when the socket cannot be opened.
    ///   - logger: where the exchanges are traced, at debug level.
    public init(
        networkNamespace: String? = nil, receiveTimeout: Duration = .seconds(30),
        logger: Logger = Logger(label: "directord.netlink", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws(IPVSError) {
        let socket = try NetlinkSocket(networkNamespace: networkNamespace, receiveTimeout: receiveTimeout)
        connection = Mutex(IPVSConnection(socket: socket))
        self.logger = logger
    }

    public func info() throws(IPVSError) -> IPVSInfo {
        try connection.withLock { (connection: inout IPVSConnection) throws(IPVSError) -> IPVSInfo in
            try connection.info()
        }
    }

    public func snapshot() throws(IPVSError) -> IPVSSnapshot {
        let started = ContinuousClock.now
        let snapshot = try connection.withLock { (connection: inout IPVSConnection) throws(IPVSError) -> IPVSSnapshot in
            try connection.snapshot()
        }
        logger.debug(
            "netlink: read the table",
            metadata: [
                "services": "\(snapshot.services.count)",
                "destinations": "\(snapshot.services.reduce(0) { $0 + $1.destinations.count })",
                "took": "\(ContinuousClock.now - started)",
            ])
        return snapshot
    }

    public func apply(_ operations: [TableOperation]) throws(IPVSError) {
        guard !operations.isEmpty else { return }
        for operation in operations { logger.debug("netlink: \(operation)") }
        do {
            try connection.withLock { (connection: inout IPVSConnection) throws(IPVSError) in
                try connection.apply(operations)
            }
            logger.debug("netlink: acknowledged", metadata: ["operations": "\(operations.count)"])
        } catch {
            logger.debug("netlink: refused", metadata: ["error": "\(error)"])
            throw error
        }
    }

    public func flush() throws(IPVSError) {
        try connection.withLock { (connection: inout IPVSConnection) throws(IPVSError) in
            try connection.simpleCommand(operation: "flush the IPVS table") { encoder, sequence, writer in
                encoder.encodeBare(.flush, sequence: sequence, flags: IPVSConnection.requestFlags, into: &writer)
            }
        }
    }

    public func syncDaemons() throws(IPVSError) -> [IPVSSyncDaemon] {
        try connection.withLock { (connection: inout IPVSConnection) throws(IPVSError) -> [IPVSSyncDaemon] in
            try connection.syncDaemons()
        }
    }

    public func startSyncDaemon(_ daemon: IPVSSyncDaemon) throws(IPVSError) {
        try connection.withLock { (connection: inout IPVSConnection) throws(IPVSError) in
            try connection.simpleCommand(
                operation: "start the \(daemon.role.rawValue) sync daemon",
                errors: [EEXIST: .syncDaemonRunning(daemon.role), ENODEV: .interfaceNotFound(daemon.interface)]
            ) { encoder, sequence, writer in
                encoder.encodeStartDaemon(daemon, sequence: sequence, flags: IPVSConnection.requestFlags, into: &writer)
            }
        }
    }

    public func stopSyncDaemon(_ role: IPVSSyncDaemon.Role) throws(IPVSError) {
        try connection.withLock { (connection: inout IPVSConnection) throws(IPVSError) in
            do throws(IPVSError) {
                try connection.simpleCommand(
                    operation: "stop the \(role.rawValue) sync daemon", errors: [ESRCH: .syncDaemonNotRunning(role)]
                ) { encoder, sequence, writer in
                    encoder.encodeStopDaemon(
                        role, sequence: sequence, flags: IPVSConnection.requestFlags, into: &writer)
                }
            } catch .kernel(errno: EINTR, _, _) {
                // kthread_stop() on a sync thread that has not run yet returns -EINTR, and the
                // kernel then sends no acknowledgement although the daemon is stopped.
                if try connection.syncDaemons().contains(where: { $0.role == role }) {
                    throw .kernel(
                        errno: EINTR, message: "the kernel was interrupted stopping it",
                        operation: "stop the \(role.rawValue) sync daemon")
                }
            }
        }
    }

    /// Datagrams and system calls this client has used so far, to show what batching saves.
    public var transportStatistics: TransportStatistics {
        connection.withLock { $0.statistics }
    }

    /// Counts of the client's traffic with the kernel.
    public struct TransportStatistics: Hashable, Sendable {
        /// Netlink requests sent.
        public var requests = 0
        /// `send` calls (each carries one or more requests).
        public var sendCalls = 0
        /// `recvmmsg` calls.
        public var receiveCalls = 0
        /// Datagrams received.
        public var datagramsReceived = 0
    }
}

/// The protocol over one socket: request, acknowledgement and dump handling.
struct IPVSConnection: ~Copyable {
    private var socket: NetlinkSocket
    private var sequence: UInt32 = 0
    var statistics = NetlinkIPVSClient.TransportStatistics()
    /// `DIRECTORD_NETLINK_TRACE=1` writes every message header sent and received to standard
    /// error, for debugging a conversation with the kernel.
    private let tracing = getenv("DIRECTORD_NETLINK_TRACE").map { String(cString: $0) == "1" } ?? false

    static let requestFlags = Netlink.flagRequest | Netlink.flagAck

    init(socket: consuming NetlinkSocket) {
        self.socket = socket
    }

    private var encoder: IPVSRequestEncoder { IPVSRequestEncoder(family: socket.family) }

    private mutating func nextSequence() -> UInt32 {
        sequence &+= 1
        if sequence == 0 { sequence = 1 }
        return sequence
    }

    // MARK: Queries

    mutating func info() throws(IPVSError) -> IPVSInfo {
        let messages = try exchange(operation: "read IPVS info", dump: false) { encoder, sequence, writer in
            encoder.encodeBare(.getInfo, sequence: sequence, flags: Self.requestFlags, into: &writer)
        }
        guard let reply = messages.first else { throw .malformedReply("no answer to IPVS_CMD_GET_INFO") }
        return try decode { () throws(NetlinkDecodingError) in
            try IPVSReplyDecoder.info(reply.genericPayload().attributes)
        }
    }

    mutating func snapshot() throws(IPVSError) -> IPVSSnapshot {
        let info = try info()
        let serviceMessages = try exchange(operation: "list IPVS services", dump: true) { encoder, sequence, writer in
            encoder.encodeBare(
                .getService, sequence: sequence, flags: Netlink.flagRequest | Netlink.flagDump, into: &writer)
        }
        var services = try decode { () throws(NetlinkDecodingError) in
            try serviceMessages.map { message throws(NetlinkDecodingError) in
                try IPVSReplyDecoder.service(message.genericPayload().attributes)
            }
        }
        for index in services.indices {
            let key = services[index].service.key
            let messages = try exchange(operation: "list destinations of \(key.listingName)", dump: true) {
                encoder, sequence, writer in
                encoder.encodeDestinationDump(of: key, sequence: sequence, into: &writer)
            }
            services[index].destinations = try decode { () throws(NetlinkDecodingError) in
                try messages.map { message throws(NetlinkDecodingError) in
                    try IPVSReplyDecoder.destination(message.genericPayload().attributes, serviceFamily: key.family)
                }
            }
        }
        return IPVSSnapshot(info: info, services: services)
    }

    mutating func syncDaemons() throws(IPVSError) -> [IPVSSyncDaemon] {
        let messages = try exchange(operation: "list sync daemons", dump: true) { encoder, sequence, writer in
            encoder.encodeBare(
                .getDaemon, sequence: sequence, flags: Netlink.flagRequest | Netlink.flagDump, into: &writer)
        }
        return try decode { () throws(NetlinkDecodingError) in
            try messages.map { message throws(NetlinkDecodingError) in
                try IPVSReplyDecoder.daemon(message.genericPayload().attributes)
            }
        }
    }

    // MARK: Changes

    mutating func apply(_ operations: [TableOperation]) throws(IPVSError) {
        guard !operations.isEmpty else { return }
        var failures: [IPVSOperationFailure] = []
        var sent: [Int] = []
        for (index, operation) in operations.enumerated() {
            if let refusal = operation.refusal {
                failures.append(IPVSOperationFailure(index: index, operation: operation, error: refusal))
            } else {
                sent.append(index)
            }
        }
        let encoder = self.encoder
        let outcomes = try execute(count: sent.count) { position, sequence, writer in
            encoder.encode(operations[sent[position]], sequence: sequence, flags: Self.requestFlags, into: &writer)
        }
        for (position, outcome) in outcomes.enumerated() where outcome.error != 0 {
            let index = sent[position]
            let operation = operations[index]
            failures.append(
                IPVSOperationFailure(
                    index: index, operation: operation,
                    error: IPVSErrorMapping.error(-outcome.error, for: operation, kernelMessage: outcome.message)))
        }
        if !failures.isEmpty {
            throw .operationsFailed(failures.sorted { $0.index < $1.index }, attempted: operations.count)
        }
    }

    /// One request answered by an acknowledgement; errors mapped by `errors`, else generically.
    mutating func simpleCommand(
        operation: String, errors: [Int32: IPVSError] = [:],
        encode: (IPVSRequestEncoder, UInt32, inout NetlinkWriter) -> Void
    ) throws(IPVSError) {
        let encoder = self.encoder
        let outcome = try execute(count: 1) { _, sequence, writer in encode(encoder, sequence, &writer) }[0]
        guard outcome.error != 0 else { return }
        let code = -outcome.error
        if let error = errors[code] { throw error }
        throw IPVSErrorMapping.generic(code, operation: operation, kernelMessage: outcome.message)
    }

    // MARK: Transport

    /// Sends `count` requests, each asking for an acknowledgement, `batchWindow` per datagram,
    /// and returns each request's outcome (error 0 for success, else a negated errno).
    ///
    /// Each datagram ends with a no-op barrier (see ``NetlinkWriter/appendBarrier(sequence:)``):
    /// once its acknowledgement is in, every request before it has been handled, and one
    /// without an acknowledgement was interrupted (`EINTR`). So a skipped acknowledgement can
    /// never leave the client waiting.
    private mutating func execute(
        count: Int, encode: (Int, UInt32, inout NetlinkWriter) -> Void
    ) throws(IPVSError) -> [(error: Int32, message: String?)] {
        var outcomes = [(error: Int32, message: String?)?](repeating: nil, count: count)
        var start = 0
        while start < count {
            let end = min(start + NetlinkIPVSClient.batchWindow, count)
            var writer = NetlinkWriter(reservingCapacity: (end - start) * 160 + Netlink.headerSize)
            var sequenceToIndex: [UInt32: Int] = [:]
            for index in start..<end {
                let sequence = nextSequence()
                sequenceToIndex[sequence] = index
                encode(index, sequence, &writer)
            }
            let barrier = nextSequence()
            writer.appendBarrier(sequence: barrier)
            try send(writer.bytes)
            statistics.sendCalls += 1
            statistics.requests += end - start

            var barrierSeen = false
            while !barrierSeen {
                let datagrams = try receive(slots: sequenceToIndex.count + 1, slotSize: NetlinkSocket.smallDatagram)
                statistics.receiveCalls += 1
                statistics.datagramsReceived += datagrams.count
                for datagram in datagrams {
                    let messages = try decode { () throws(NetlinkDecodingError) in
                        try NetlinkMessage.parse(datagram[...])
                    }
                    for message in messages where message.type == Netlink.typeError {
                        let reply = try decode { () throws(NetlinkDecodingError) in try message.errorReply() }
                        if reply.sequence == barrier {
                            barrierSeen = true
                        } else if let index = sequenceToIndex.removeValue(forKey: reply.sequence) {
                            outcomes[index] = (reply.error, reply.message)
                        }
                        // Anything else answers an earlier, abandoned request: not ours.
                    }
                }
            }
            start = end
        }
        return outcomes.map {
            $0 ?? (-EINTR, "the kernel handled the request but did not acknowledge it (interrupted)")
        }
    }

    /// Sends one request and collects the messages that answer it: for a dump, everything up to
    /// `NLMSG_DONE` (restarting a dump the kernel marks as interrupted); otherwise the reply
    /// messages up to the acknowledgement.
    private mutating func exchange(
        operation: String, dump: Bool, encode: (IPVSRequestEncoder, UInt32, inout NetlinkWriter) -> Void
    ) throws(IPVSError) -> [NetlinkMessage] {
        var attempts = 0
        while true {
            attempts += 1
            var writer = NetlinkWriter()
            let sequence = nextSequence()
            encode(encoder, sequence, &writer)
            try send(writer.bytes)
            statistics.sendCalls += 1
            statistics.requests += 1

            var replies: [NetlinkMessage] = []
            var interrupted = false
            receiving: while true {
                let datagrams = try receive(slots: 4, slotSize: NetlinkSocket.largeDatagram)
                statistics.receiveCalls += 1
                statistics.datagramsReceived += datagrams.count
                for datagram in datagrams {
                    let messages = try decode { () throws(NetlinkDecodingError) in
                        try NetlinkMessage.parse(datagram[...])
                    }
                    for message in messages where message.sequence == sequence {
                        if message.flags & Netlink.flagDumpInterrupted != 0 { interrupted = true }
                        switch message.type {
                        case Netlink.typeError:
                            let reply = try decode { () throws(NetlinkDecodingError) in try message.errorReply() }
                            if reply.error != 0 {
                                throw IPVSErrorMapping.generic(
                                    -reply.error, operation: operation, kernelMessage: reply.message)
                            }
                            if !dump { break receiving }
                        case Netlink.typeDone:
                            if message.doneStatus < 0 {
                                throw IPVSErrorMapping.generic(
                                    -message.doneStatus, operation: operation, kernelMessage: nil)
                            }
                            break receiving
                        case Netlink.typeNoop:
                            continue
                        case Netlink.typeOverrun:
                            throw .kernel(errno: ENOBUFS, message: "netlink overrun", operation: operation)
                        default:
                            replies.append(message)
                        }
                    }
                }
            }
            if interrupted && attempts < 5 { continue }
            if interrupted {
                throw .kernel(errno: EAGAIN, message: "the table kept changing during the dump", operation: operation)
            }
            return replies
        }
    }

    private func send(_ bytes: [UInt8]) throws(IPVSError) {
        if tracing { trace("send", bytes) }
        try socket.send(bytes)
    }

    private mutating func receive(slots: Int, slotSize: Int) throws(IPVSError) -> [[UInt8]] {
        let datagrams = try socket.receive(slots: slots, slotSize: slotSize)
        if tracing { for datagram in datagrams { trace("recv", datagram) } }
        return datagrams
    }

    private func trace(_ direction: String, _ datagram: [UInt8]) {
        var line = "netlink \(direction) \(datagram.count) bytes:"
        for message in (try? NetlinkMessage.parse(datagram[...])) ?? [] {
            line += " [type \(message.type) flags 0x\(String(message.flags, radix: 16)) seq \(message.sequence)"
            if message.type == Netlink.typeError, let reply = try? message.errorReply() {
                line += " error \(reply.error) for seq \(reply.sequence)"
            } else if message.type >= 0x10, let command = message.payload.first {
                line += " cmd \(command)"
            }
            line += "]"
        }
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    private func decode<T>(_ body: () throws(NetlinkDecodingError) -> T) throws(IPVSError) -> T {
        do {
            return try body()
        } catch {
            throw .malformedReply(error.description)
        }
    }
}
