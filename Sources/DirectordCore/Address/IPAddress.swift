/// The address family of a virtual service, a real server or a kernel table entry.
///
/// The corresponding C constants are `AF_INET` and `AF_INET6`.
public enum AddressFamily: String, Hashable, Sendable, Codable, CaseIterable {
    case ipv4
    case ipv6
}

/// An IPv4 or IPv6 address, parsed and printed without the C library.
///
/// Parsing accepts exactly what `inet_pton` accepts. Printing matches glibc's `inet_ntop`
/// (RFC 5952 compression, IPv4-mapped and IPv4-compatible forms in dotted quad), so that
/// addresses directord prints are byte-for-byte those that `ipvsadm -Ln` and ldirectord print.
public enum IPAddress: Hashable, Sendable {
    /// An IPv4 address, in host byte order.
    case v4(UInt32)
    /// An IPv6 address as its high and low 64 bits, in host byte order.
    case v6(high: UInt64, low: UInt64)

    public var family: AddressFamily {
        switch self {
        case .v4: .ipv4
        case .v6: .ipv6
        }
    }

    /// A multicast group: 224.0.0.0/4 or ff00::/8.
    public var isMulticast: Bool {
        switch self {
        case .v4(let value): value >> 28 == 0xE
        case .v6(let high, _): high >> 56 == 0xFF
        }
    }

    /// The address in network byte order, 4 or 16 bytes.
    public var bytes: [UInt8] {
        switch self {
        case .v4(let value):
            return (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) }
        case .v6(let high, let low):
            return (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * $0)) }
                + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * $0)) }
        }
    }

    /// Builds an address from 4 or 16 bytes in network byte order.
    public init?(bytes: some Collection<UInt8>) {
        switch bytes.count {
        case 4:
            self = .v4(bytes.reduce(0) { $0 << 8 | UInt32($1) })
        case 16:
            let high = bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let low = bytes.dropFirst(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            self = .v6(high: high, low: low)
        default:
            return nil
        }
    }

    /// Parses a numeric address of either family, as `inet_pton` does; IPv6 without brackets.
    public init?(_ text: some StringProtocol) {
        if let v4 = Self.parseIPv4(text.utf8) {
            self = .v4(v4)
        } else if let v6 = Self.parseIPv6(text.utf8) {
            self = .v6(high: v6.high, low: v6.low)
        } else {
            return nil
        }
    }

    /// Parses a numeric address of the given family only.
    public init?(_ text: some StringProtocol, family: AddressFamily) {
        switch family {
        case .ipv4:
            guard let v4 = Self.parseIPv4(text.utf8) else { return nil }
            self = .v4(v4)
        case .ipv6:
            guard let v6 = Self.parseIPv6(text.utf8) else { return nil }
            self = .v6(high: v6.high, low: v6.low)
        }
    }

    /// Strict dotted quad: four decimal numbers 0-255, as `inet_pton(AF_INET)`.
    static func parseIPv4(_ utf8: some Collection<UInt8>) -> UInt32? {
        var result: UInt32 = 0
        var octet: UInt32 = 0
        var digits = 0
        var dots = 0
        for byte in utf8 {
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                // inet_pton rejects leading zeros such as "01".
                if digits == 1 && octet == 0 { return nil }
                octet = octet * 10 + UInt32(byte - UInt8(ascii: "0"))
                digits += 1
                if octet > 255 { return nil }
            } else if byte == UInt8(ascii: ".") {
                if digits == 0 || dots == 3 { return nil }
                result = result << 8 | octet
                octet = 0
                digits = 0
                dots += 1
            } else {
                return nil
            }
        }
        guard dots == 3, digits > 0 else { return nil }
        return result << 8 | octet
    }

    static func parseIPv6(_ utf8: some Collection<UInt8>) -> (high: UInt64, low: UInt64)? {
        let bytes = Array(utf8)
        guard !bytes.isEmpty, bytes.count <= 45 else { return nil }
        var words: [UInt16] = []
        var gap: Int? = nil
        var index = 0
        if bytes.starts(with: [UInt8(ascii: ":"), UInt8(ascii: ":")]) {
            gap = 0
            index = 2
            if index == bytes.count {
                return (0, 0)
            }
        } else if bytes[0] == UInt8(ascii: ":") {
            return nil
        }
        while index < bytes.count {
            // A group is either hex digits or, in last position, a dotted quad.
            var end = index
            while end < bytes.count && bytes[end] != UInt8(ascii: ":") { end += 1 }
            let group = bytes[index..<end]
            if group.contains(UInt8(ascii: ".")) {
                guard end == bytes.count, let v4 = parseIPv4(group) else { return nil }
                words.append(UInt16(v4 >> 16))
                words.append(UInt16(v4 & 0xffff))
                index = end
                break
            }
            guard (1...4).contains(group.count) else { return nil }
            var word: UInt16 = 0
            for byte in group {
                guard let nibble = hexValue(byte) else { return nil }
                word = word << 4 | UInt16(nibble)
            }
            words.append(word)
            index = end
            if index < bytes.count {
                // Skip ':'; a second ':' marks the gap.
                index += 1
                if index < bytes.count && bytes[index] == UInt8(ascii: ":") {
                    guard gap == nil else { return nil }
                    gap = words.count
                    index += 1
                } else if index == bytes.count {
                    return nil  // trailing single ':'
                }
            }
        }
        if let gap {
            guard words.count <= 7 else { return nil }
            words.insert(contentsOf: repeatElement(0, count: 8 - words.count), at: gap)
        }
        guard words.count == 8 else { return nil }
        let high = words[0..<4].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        let low = words[4..<8].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        return (high, low)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension IPAddress: CustomStringConvertible {
    /// The address as `inet_ntop` prints it, IPv6 without brackets.
    public var description: String {
        switch self {
        case .v4(let value):
            return Self.dottedQuad(value)
        case .v6(let high, let low):
            let words =
                (0..<4).map { UInt16(truncatingIfNeeded: high >> (48 - 16 * $0)) }
                + (0..<4).map { UInt16(truncatingIfNeeded: low >> (48 - 16 * $0)) }
            return Self.formatIPv6(words)
        }
    }

    /// The address as it appears beside a port: IPv6 in brackets.
    public var bracketed: String {
        switch self {
        case .v4: description
        case .v6: "[\(description)]"
        }
    }

    /// Written byte by byte: every real server's check URL holds its address, and four
    /// interpolated integers cost more than the rest of reading its line.
    private static func dottedQuad(_ value: UInt32) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(15)
        for shift in [24, 16, 8, 0] as [UInt32] {
            if shift != 24 { bytes.append(UInt8(ascii: ".")) }
            let octet = UInt8(truncatingIfNeeded: value >> shift)
            if octet >= 100 { bytes.append(UInt8(ascii: "0") + octet / 100) }
            if octet >= 10 { bytes.append(UInt8(ascii: "0") + octet / 10 % 10) }
            bytes.append(UInt8(ascii: "0") + octet % 10)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func formatIPv6(_ words: [UInt16]) -> String {
        // The longest run of two or more zero words is compressed; the first wins a tie.
        var bestStart = -1
        var bestLength = 0
        var start = -1
        for (index, word) in words.enumerated() {
            if word == 0 {
                if start < 0 { start = index }
                let length = index - start + 1
                if length > bestLength {
                    bestStart = start
                    bestLength = length
                }
            } else {
                start = -1
            }
        }
        if bestLength < 2 { bestStart = -1 }

        // Mirrors glibc's inet_ntop6: the gap writes one ':', every other word a leading ':'.
        var out = ""
        for index in 0..<8 {
            if bestStart >= 0 && index >= bestStart && index < bestStart + bestLength {
                if index == bestStart { out += ":" }
                continue
            }
            if index != 0 { out += ":" }
            if index == 6 && bestStart == 0 && (bestLength == 6 || (bestLength == 5 && words[5] == 0xffff)) {
                out += dottedQuad(UInt32(words[6]) << 16 | UInt32(words[7]))
                return out
            }
            out += String(words[index], radix: 16)
        }
        if bestStart >= 0 && bestStart + bestLength == 8 { out += ":" }
        return out
    }
}

extension IPAddress: Comparable {
    /// IPv4 before IPv6, then numeric order, as `ipvsadm` sorts its listing.
    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        switch (lhs, rhs) {
        case (.v4(let a), .v4(let b)): a < b
        case (.v4, .v6): true
        case (.v6, .v4): false
        case (.v6(let ah, let al), .v6(let bh, let bl)): (ah, al) < (bh, bl)
        }
    }
}

extension IPAddress: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let address = IPAddress(text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "not an IPv4 or IPv6 address: \(text)")
        }
        self = address
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
