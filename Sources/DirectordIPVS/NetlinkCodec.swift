// Netlink framing in plain Swift: message headers, generic netlink headers and attributes,
// written into and read from byte arrays. No C, no pointers, so every byte is testable on the
// host against libnl's own encoding and against captured kernel replies.
//
// Layouts (linux/netlink.h, linux/genetlink.h), all integers in host byte order:
//   struct nlmsghdr { u32 len; u16 type; u16 flags; u32 seq; u32 pid; }     16 bytes
//   struct genlmsghdr { u8 cmd; u8 version; u16 reserved; }                  4 bytes
//   struct nlattr { u16 len; u16 type; } + payload, padded to 4 bytes
//   struct nlmsgerr { s32 error; struct nlmsghdr msg; ... }

/// Netlink constants this module uses, with the C names they stand for.
enum Netlink {
    /// `NLM_F_REQUEST`
    static let flagRequest: UInt16 = 0x1
    /// `NLM_F_MULTI`
    static let flagMulti: UInt16 = 0x2
    /// `NLM_F_ACK`
    static let flagAck: UInt16 = 0x4
    /// `NLM_F_DUMP_INTR`: the dump changed under us; its content may be inconsistent.
    static let flagDumpInterrupted: UInt16 = 0x10
    /// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`)
    static let flagDump: UInt16 = 0x300
    /// `NLM_F_CAPPED` in an error message: the original request is not echoed in full.
    static let flagCapped: UInt16 = 0x100
    /// `NLM_F_ACK_TLVS`: extended acknowledgement attributes follow.
    static let flagAckTLVs: UInt16 = 0x200

    /// `NLMSG_NOOP`
    static let typeNoop: UInt16 = 1
    /// `NLMSG_ERROR` (an acknowledgement when its error is 0)
    static let typeError: UInt16 = 2
    /// `NLMSG_DONE`
    static let typeDone: UInt16 = 3
    /// `NLMSG_OVERRUN`
    static let typeOverrun: UInt16 = 4

    /// `NLA_F_NESTED`
    static let attributeNested: UInt16 = 0x8000
    /// `NLA_F_NESTED | NLA_F_NET_BYTEORDER`: flag bits of an attribute type.
    static let attributeTypeFlags: UInt16 = 0xc000
    /// `NLMSGERR_ATTR_MSG`: the kernel's extended-ack error text.
    static let errorAttributeMessage: UInt16 = 1

    static let headerSize = 16
    static let genericHeaderSize = 4
    static let attributeHeaderSize = 4

    /// `NLMSG_ALIGN` / `NLA_ALIGN`: round up to 4 bytes.
    static func align(_ length: Int) -> Int { (length + 3) & ~3 }
}

// MARK: Writing

/// Builds one or more netlink messages into a byte buffer, back to back, as `sendmsg` takes
/// them (several requests in one datagram are processed by the kernel one after another).
struct NetlinkWriter {
    private(set) var bytes: [UInt8] = []
    private var messageStart: Int?
    private var nestStarts: [Int] = []

    init(reservingCapacity capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    /// Starts a generic netlink message: `nlmsghdr` then `genlmsghdr`.
    mutating func beginGenericMessage(
        family: UInt16, flags: UInt16, sequence: UInt32, port: UInt32 = 0, command: UInt8, version: UInt8
    ) {
        precondition(messageStart == nil, "a netlink message is already open")
        messageStart = bytes.count
        append(UInt32(0))  // length, patched by endMessage
        append(family)
        append(flags)
        append(sequence)
        append(port)
        bytes.append(command)
        bytes.append(version)
        append(UInt16(0))
    }

    /// A bare `NLMSG_NOOP` request asking for an acknowledgement. The kernel handles a
    /// datagram's messages in order and acknowledges a no-op without calling any family, so
    /// its acknowledgement proves every earlier request of the datagram has been handled, even
    /// one whose acknowledgement the kernel skipped (it skips it when a handler returns
    /// `-EINTR`).
    mutating func appendBarrier(sequence: UInt32) {
        precondition(messageStart == nil, "a netlink message is already open")
        append(UInt32(Netlink.headerSize))
        append(Netlink.typeNoop)
        append(Netlink.flagRequest | Netlink.flagAck)
        append(sequence)
        append(UInt32(0))
    }

    /// Closes the open message, writing its length.
    mutating func endMessage() {
        guard let start = messageStart else { preconditionFailure("no open netlink message") }
        precondition(nestStarts.isEmpty, "a nested attribute is still open")
        patch(UInt32(bytes.count - start), at: start)
        messageStart = nil
    }

    mutating func appendAttribute(_ type: UInt16, _ payload: some Collection<UInt8>) {
        let length = Netlink.attributeHeaderSize + payload.count
        precondition(length <= Int(UInt16.max), "netlink attribute too long")
        append(UInt16(length))
        append(type)
        bytes.append(contentsOf: payload)
        padToAlignment()
    }

    mutating func appendAttribute(_ type: UInt16, u8 value: UInt8) {
        appendHeader(type, payload: 1)
        bytes.append(value)
        padToAlignment()
    }

    mutating func appendAttribute(_ type: UInt16, u16 value: UInt16) { appendInteger(type, value) }
    mutating func appendAttribute(_ type: UInt16, u32 value: UInt32) { appendInteger(type, value) }
    mutating func appendAttribute(_ type: UInt16, u64 value: UInt64) { appendInteger(type, value) }

    /// A 16-bit value in network byte order (`nla_put_be16`), as ports travel.
    mutating func appendAttribute(_ type: UInt16, be16 value: UInt16) {
        appendHeader(type, payload: 2)
        bytes.append(UInt8(value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
        padToAlignment()
    }

    private mutating func appendInteger<T: FixedWidthInteger>(_ type: UInt16, _ value: T) {
        appendHeader(type, payload: MemoryLayout<T>.size)
        append(value)
        padToAlignment()
    }

    private mutating func appendHeader(_ type: UInt16, payload: Int) {
        append(UInt16(Netlink.attributeHeaderSize + payload))
        append(type)
    }

    /// A NUL-terminated string (`nla_put_string`).
    mutating func appendAttribute(_ type: UInt16, string: String) {
        appendAttribute(type, Array(string.utf8) + [0])
    }

    /// Opens a nested attribute, flagged `NLA_F_NESTED` as libnl 3.7's `nla_nest_start` does
    /// (the kernel's own IPVS replies leave the flag off; its parser accepts both).
    mutating func beginNested(_ type: UInt16) {
        nestStarts.append(bytes.count)
        append(UInt16(0))
        append(type | Netlink.attributeNested)
    }

    mutating func endNested() {
        guard let start = nestStarts.popLast() else { preconditionFailure("no open nested attribute") }
        patch(UInt16(bytes.count - start), at: start)
    }

    private mutating func padToAlignment() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }

    /// Appends an integer in host byte order, without an intermediate array (the writer is on
    /// the hot path of a batch).
    private mutating func append<T: FixedWidthInteger>(_ value: T) {
        let size = MemoryLayout<T>.size
        #if _endian(big)
            for index in (0..<size).reversed() { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * index))) }
        #else
            for index in 0..<size { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * index))) }
        #endif
    }

    private mutating func patch<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        let size = MemoryLayout<T>.size
        for index in 0..<size {
            #if _endian(big)
                bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * (size - 1 - index)))
            #else
                bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index))
            #endif
        }
    }

    /// The bytes of an integer in host byte order.
    static func native<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        let little = value.littleEndian
        let size = MemoryLayout<T>.size
        var result = [UInt8](repeating: 0, count: size)
        for index in 0..<size {
            result[index] = UInt8(truncatingIfNeeded: little >> (8 * index))
        }
        #if _endian(big)
            result.reverse()
        #endif
        return result
    }
}

// MARK: Reading

/// Why bytes could not be read as netlink.
struct NetlinkDecodingError: Error, Equatable, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Reads integers in host byte order from a byte slice.
enum NativeBytes {
    static func read<T: FixedWidthInteger>(_: T.Type, from bytes: ArraySlice<UInt8>, at offset: Int) -> T? {
        let size = MemoryLayout<T>.size
        let start = bytes.startIndex + offset
        guard offset >= 0, start + size <= bytes.endIndex else { return nil }
        var little: T = 0
        for index in 0..<size {
            #if _endian(big)
                let byte = bytes[start + size - 1 - index]
            #else
                let byte = bytes[start + index]
            #endif
            little |= T(truncatingIfNeeded: byte) << (8 * index)
        }
        return little
    }
}

/// One netlink message of a received datagram.
struct NetlinkMessage: Equatable {
    var type: UInt16
    var flags: UInt16
    var sequence: UInt32
    var port: UInt32
    /// Everything after the 16-byte header.
    var payload: ArraySlice<UInt8>

    /// Splits a datagram into its messages.
    static func parse(_ datagram: ArraySlice<UInt8>) throws(NetlinkDecodingError) -> [NetlinkMessage] {
        var messages: [NetlinkMessage] = []
        var offset = 0
        while datagram.count - offset >= Netlink.headerSize {
            let start = datagram.startIndex + offset
            let slice = datagram[start...]
            guard let length = NativeBytes.read(UInt32.self, from: slice, at: 0),
                let type = NativeBytes.read(UInt16.self, from: slice, at: 4),
                let flags = NativeBytes.read(UInt16.self, from: slice, at: 6),
                let sequence = NativeBytes.read(UInt32.self, from: slice, at: 8),
                let port = NativeBytes.read(UInt32.self, from: slice, at: 12)
            else { throw NetlinkDecodingError("truncated message header") }
            guard Int(length) >= Netlink.headerSize, Int(length) <= datagram.count - offset else {
                throw NetlinkDecodingError(
                    "message length \(length) does not fit the \(datagram.count - offset) bytes left")
            }
            messages.append(
                NetlinkMessage(
                    type: type, flags: flags, sequence: sequence, port: port,
                    payload: datagram[(start + Netlink.headerSize)..<(start + Int(length))]))
            offset += Netlink.align(Int(length))
        }
        return messages
    }

    /// For an `NLMSG_ERROR` message: the error (0 for an acknowledgement, else a negated errno),
    /// the sequence number of the request it answers, and the kernel's extended-ack text if any.
    func errorReply() throws(NetlinkDecodingError) -> (error: Int32, sequence: UInt32, message: String?) {
        guard let error = NativeBytes.read(Int32.self, from: payload, at: 0),
            let sequence = NativeBytes.read(UInt32.self, from: payload, at: 4 + 8)
        else { throw NetlinkDecodingError("truncated error message") }
        var text: String?
        if flags & Netlink.flagAckTLVs != 0, let echoedLength = NativeBytes.read(UInt32.self, from: payload, at: 4) {
            // The echoed request: its header only when capped, else all of it.
            let echoed = flags & Netlink.flagCapped != 0 ? Netlink.headerSize : Netlink.align(Int(echoedLength))
            let tlvStart = payload.startIndex + 4 + echoed
            if tlvStart <= payload.endIndex,
                let attributes = try? NetlinkAttributes(payload[tlvStart...]),
                let message = attributes[Netlink.errorAttributeMessage]
            {
                text = message.string
            }
        }
        return (error, sequence, text)
    }

    /// For an `NLMSG_DONE` message: the dump's final status (0, or a negated errno).
    var doneStatus: Int32 {
        NativeBytes.read(Int32.self, from: payload, at: 0) ?? 0
    }

    /// For a generic netlink message: its command and its top-level attributes.
    func genericPayload() throws(NetlinkDecodingError) -> (command: UInt8, attributes: NetlinkAttributes) {
        guard payload.count >= Netlink.genericHeaderSize else {
            throw NetlinkDecodingError("generic netlink message without its header")
        }
        let command = payload[payload.startIndex]
        return (command, try NetlinkAttributes(payload.dropFirst(Netlink.genericHeaderSize)))
    }
}

/// One attribute: its type (flag bits removed) and payload.
struct NetlinkAttribute: Equatable {
    var type: UInt16
    var payload: ArraySlice<UInt8>

    var u8: UInt8? { payload.first }
    var u16: UInt16? { payload.count == 2 ? NativeBytes.read(UInt16.self, from: payload, at: 0) : nil }
    var u32: UInt32? { payload.count == 4 ? NativeBytes.read(UInt32.self, from: payload, at: 0) : nil }
    var u64: UInt64? { payload.count == 8 ? NativeBytes.read(UInt64.self, from: payload, at: 0) : nil }

    /// A 16-bit value in network byte order.
    var be16: UInt16? {
        guard payload.count == 2 else { return nil }
        return UInt16(payload[payload.startIndex]) << 8 | UInt16(payload[payload.startIndex + 1])
    }

    /// A 32-bit value in network byte order.
    var be32: UInt32? {
        guard payload.count == 4 else { return nil }
        return payload.reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// A string, up to its NUL.
    var string: String {
        String(decoding: payload.prefix { $0 != 0 }, as: UTF8.self)
    }

    func nested() throws(NetlinkDecodingError) -> NetlinkAttributes {
        try NetlinkAttributes(payload)
    }
}

/// The attributes of a message or nested attribute, by type (the last of a repeated type wins,
/// as with libnl's `nla_parse`).
struct NetlinkAttributes {
    private(set) var byType: [UInt16: NetlinkAttribute] = [:]

    init(_ bytes: ArraySlice<UInt8>) throws(NetlinkDecodingError) {
        var offset = 0
        while bytes.count - offset >= Netlink.attributeHeaderSize {
            let start = bytes.startIndex + offset
            guard let length = NativeBytes.read(UInt16.self, from: bytes, at: offset),
                let rawType = NativeBytes.read(UInt16.self, from: bytes, at: offset + 2)
            else { throw NetlinkDecodingError("truncated attribute header") }
            guard Int(length) >= Netlink.attributeHeaderSize, Int(length) <= bytes.count - offset else {
                throw NetlinkDecodingError(
                    "attribute length \(length) does not fit the \(bytes.count - offset) bytes left")
            }
            let type = rawType & ~Netlink.attributeTypeFlags
            byType[type] = NetlinkAttribute(
                type: type, payload: bytes[(start + Netlink.attributeHeaderSize)..<(start + Int(length))])
            offset += Netlink.align(Int(length))
        }
    }

    subscript(type: UInt16) -> NetlinkAttribute? { byType[type] }
}
