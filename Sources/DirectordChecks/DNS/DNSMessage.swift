import DirectordCore

/// The few DNS messages ldirectord's `check_dns` needs (RFC 1035): one question of type A or
/// PTR, and the A and PTR records of the answer. Bytes in, values out; no I/O.
enum DNSMessage {
    enum RecordType: UInt16 {
        case a = 1
        case ptr = 12
    }

    /// What Net::DNS's `search` asks for a name: an address is looked up backwards (PTR in
    /// in-addr.arpa or ip6.arpa), anything else as an A record.
    static func question(for name: String) -> (name: String, type: RecordType) {
        let bare = name.hasSuffix(".") ? String(name.dropLast()) : name
        guard let address = IPAddress(bare) else { return (bare, .a) }
        switch address {
        case .v4:
            return (address.bytes.reversed().map(String.init).joined(separator: ".") + ".in-addr.arpa", .ptr)
        case .v6:
            let nibbles = address.bytes.flatMap { [$0 >> 4, $0 & 0x0f] }
            return (nibbles.reversed().map { String($0, radix: 16) }.joined(separator: ".") + ".ip6.arpa", .ptr)
        }
    }

    /// A recursive query for one name (RD set, class IN).
    static func query(id: UInt16, name: String, type: RecordType) -> [UInt8]? {
        var message: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        for label in name.split(separator: ".", omittingEmptySubsequences: true) {
            let bytes = Array(label.utf8)
            guard (1...63).contains(bytes.count) else { return nil }
            message.append(UInt8(bytes.count))
            message += bytes
        }
        message.append(0)
        guard message.count - 12 <= 255 else { return nil }
        message += [UInt8(type.rawValue >> 8), UInt8(type.rawValue & 0xff), 0, 1]
        return message
    }

    struct Response: Equatable {
        var id: UInt16
        /// The server cut the answer short (over UDP): ask again over TCP.
        var truncated: Bool
        /// RCODE: 0 no error, 2 SERVFAIL, 3 NXDOMAIN ...
        var responseCode: UInt8
        /// A records as dotted quads, PTR records as names without the final dot, in order.
        var answers: [(type: RecordType, value: String)]

        static func == (lhs: Response, rhs: Response) -> Bool {
            lhs.id == rhs.id && lhs.truncated == rhs.truncated && lhs.responseCode == rhs.responseCode
                && lhs.answers.map(\.value) == rhs.answers.map(\.value)
        }

        var responseCodeText: String {
            switch responseCode {
            case 1: "FORMERR"
            case 2: "SERVFAIL"
            case 3: "NXDOMAIN"
            case 4: "NOTIMP"
            case 5: "REFUSED"
            default: "RCODE \(responseCode)"
            }
        }
    }

    /// Parses a response; nil when it is not a well-formed DNS response.
    static func parse(_ bytes: [UInt8]) -> Response? {
        guard bytes.count >= 12, bytes[2] & 0x80 != 0 else { return nil }
        var reader = Reader(bytes: bytes, offset: 12)
        let id = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        let questions = Int(UInt16(bytes[4]) << 8 | UInt16(bytes[5]))
        let answerCount = Int(UInt16(bytes[6]) << 8 | UInt16(bytes[7]))
        for _ in 0..<questions {
            guard reader.name() != nil, reader.skip(4) else { return nil }
        }
        var answers: [(type: RecordType, value: String)] = []
        for _ in 0..<answerCount {
            guard reader.name() != nil, let type = reader.uint16(), reader.skip(6), let length = reader.uint16() else {
                return nil
            }
            let end = reader.offset + Int(length)
            guard end <= bytes.count else { return nil }
            switch RecordType(rawValue: type) {
            case .a where length == 4:
                answers.append((.a, bytes[reader.offset..<end].map(String.init).joined(separator: ".")))
            case .ptr:
                var target = Reader(bytes: bytes, offset: reader.offset)
                guard let name = target.name() else { return nil }
                answers.append((.ptr, name))
            default:
                break
            }
            reader.offset = end
        }
        return Response(
            id: id, truncated: bytes[2] & 0x02 != 0, responseCode: bytes[3] & 0x0f, answers: answers)
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset: Int

        mutating func skip(_ count: Int) -> Bool {
            guard offset + count <= bytes.count else { return false }
            offset += count
            return true
        }

        mutating func uint16() -> UInt16? {
            guard offset + 2 <= bytes.count else { return nil }
            defer { offset += 2 }
            return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
        }

        /// A domain name, following compression pointers (RFC 1035 §4.1.4), without the final
        /// dot; leaves `offset` after the name as written here.
        mutating func name() -> String? {
            var labels: [String] = []
            var position = offset
            var jumped = false
            var jumps = 0
            while true {
                guard position < bytes.count else { return nil }
                let length = Int(bytes[position])
                if length & 0xc0 == 0xc0 {
                    guard position + 1 < bytes.count, jumps < 32 else { return nil }
                    if !jumped { offset = position + 2 }
                    jumped = true
                    jumps += 1
                    position = (length & 0x3f) << 8 | Int(bytes[position + 1])
                    continue
                }
                guard length & 0xc0 == 0 else { return nil }
                if length == 0 {
                    if !jumped { offset = position + 1 }
                    return labels.joined(separator: ".")
                }
                guard position + 1 + length <= bytes.count else { return nil }
                labels.append(String(decoding: bytes[(position + 1)...(position + length)], as: UTF8.self))
                position += 1 + length
            }
        }
    }
}
