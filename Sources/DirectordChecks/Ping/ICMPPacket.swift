import DirectordCore

/// ICMP and ICMPv6 echo messages: built and parsed as bytes, no I/O.
enum ICMPPacket {
    /// ICMP echo request / reply types (RFC 792, RFC 4443).
    static func requestType(_ family: AddressFamily) -> UInt8 { family == .ipv4 ? 8 : 128 }
    static func replyType(_ family: AddressFamily) -> UInt8 { family == .ipv4 ? 0 : 129 }

    /// An echo request. The checksum is filled in for ICMPv4; for ICMPv6 the kernel computes it
    /// (it covers a pseudo-header only the kernel knows the source of).
    static func echoRequest(family: AddressFamily, identifier: UInt16, sequence: UInt16, payload: [UInt8]) -> [UInt8] {
        var packet: [UInt8] = [
            requestType(family), 0, 0, 0,
            UInt8(identifier >> 8), UInt8(identifier & 0xff),
            UInt8(sequence >> 8), UInt8(sequence & 0xff),
        ]
        packet += payload
        if family == .ipv4 {
            let sum = checksum(packet)
            packet[2] = UInt8(sum >> 8)
            packet[3] = UInt8(sum & 0xff)
        }
        return packet
    }

    /// The identifier and sequence of an echo reply, or nil for anything else.
    ///
    /// - Parameter includesIPHeader: true for raw IPv4 sockets, which receive the IP header
    ///   before the ICMP message.
    static func parseEchoReply(_ bytes: some Collection<UInt8>, family: AddressFamily, includesIPHeader: Bool)
        -> (identifier: UInt16, sequence: UInt16)?
    {
        var message = Array(bytes)
        if includesIPHeader {
            guard let first = message.first, first >> 4 == 4 else { return nil }
            let headerLength = Int(first & 0x0f) * 4
            guard headerLength >= 20, message.count >= headerLength else { return nil }
            message.removeFirst(headerLength)
        }
        guard message.count >= 8, message[0] == replyType(family), message[1] == 0 else { return nil }
        let identifier = UInt16(message[4]) << 8 | UInt16(message[5])
        let sequence = UInt16(message[6]) << 8 | UInt16(message[7])
        return (identifier, sequence)
    }

    /// The Internet checksum (RFC 1071).
    static func checksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var index = 0
        while index + 1 < bytes.count {
            sum += UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
            index += 2
        }
        if index < bytes.count { sum += UInt32(bytes[index]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
        return ~UInt16(sum)
    }
}
