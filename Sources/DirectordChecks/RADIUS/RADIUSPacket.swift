import DirectordCore

/// RADIUS Access-Request and its reply (RFC 2865, Message-Authenticator from RFC 3579), as
/// bytes. No I/O.
enum RADIUSPacket {
    enum Code: UInt8 {
        case accessRequest = 1
        case accessAccept = 2
        case accessReject = 3
        case accessChallenge = 11

        var name: String {
            switch self {
            case .accessRequest: "Access-Request"
            case .accessAccept: "Access-Accept"
            case .accessReject: "Access-Reject"
            case .accessChallenge: "Access-Challenge"
            }
        }
    }

    /// What Authen::Radius's `check_pwd` sends: User-Name, User-Password and the NAS address
    /// (NAS-IP-Address, or NAS-IPv6-Address for IPv6), plus a Message-Authenticator, first,
    /// which servers hardened against BlastRADIUS require.
    static func accessRequest(
        id: UInt8, authenticator: [UInt8], user: String, password: String, secret: String, nasAddress: IPAddress?
    ) -> [UInt8] {
        let secretBytes = Array(secret.utf8)
        var attributes: [UInt8] = [80, 18] + [UInt8](repeating: 0, count: 16)
        attributes += attribute(1, Array(user.utf8))
        attributes += attribute(2, hide(Array(password.utf8), secret: secretBytes, authenticator: authenticator))
        switch nasAddress {
        case .v4?: attributes += attribute(4, nasAddress!.bytes)
        case .v6?: attributes += attribute(95, nasAddress!.bytes)
        case nil: break
        }
        let length = 20 + attributes.count
        var packet = [Code.accessRequest.rawValue, id, UInt8(length >> 8), UInt8(length & 0xff)] + authenticator
        packet += attributes
        let signature = hmacMD5(key: secretBytes, message: packet)
        packet.replaceSubrange(22..<38, with: signature)
        return packet
    }

    /// A string attribute, cut to the 253 bytes an attribute can hold.
    private static func attribute(_ type: UInt8, _ value: [UInt8]) -> [UInt8] {
        let value = Array(value.prefix(253))
        return [type, UInt8(value.count + 2)] + value
    }

    /// User-Password hiding (RFC 2865 §5.2): padded to 16-byte blocks (at most 128 bytes), each
    /// block XORed with MD5(secret + previous block), the first with the request authenticator.
    static func hide(_ password: [UInt8], secret: [UInt8], authenticator: [UInt8]) -> [UInt8] {
        var padded = Array(password.prefix(128))
        padded += [UInt8](repeating: 0, count: (16 - padded.count % 16) % 16)
        if padded.isEmpty { padded = [UInt8](repeating: 0, count: 16) }
        var hidden: [UInt8] = []
        var previous = authenticator
        for start in stride(from: 0, to: padded.count, by: 16) {
            let mask = MD5.digest(secret + previous)
            let block = (0..<16).map { padded[start + $0] ^ mask[$0] }
            hidden += block
            previous = block
        }
        return hidden
    }

    struct Reply: Equatable {
        var code: UInt8
        var id: UInt8
        /// The Response Authenticator proves the server knows the shared secret.
        var isAuthentic: Bool
        /// Reply-Message attributes, joined.
        var message: String?

        var codeName: String { Code(rawValue: code)?.name ?? "RADIUS code \(code)" }
    }

    /// Parses a reply to the request whose authenticator is `requestAuthenticator`; nil when it
    /// is not a well-formed RADIUS packet.
    static func parseReply(_ bytes: [UInt8], requestAuthenticator: [UInt8], secret: String) -> Reply? {
        guard bytes.count >= 20 else { return nil }
        let length = Int(bytes[2]) << 8 | Int(bytes[3])
        guard length >= 20, length <= bytes.count else { return nil }
        let packet = Array(bytes[0..<length])
        let expected = MD5.digest(
            Array(packet[0..<4]) + requestAuthenticator + Array(packet[20...]) + Array(secret.utf8))
        var messages: [String] = []
        var offset = 20
        while offset + 2 <= packet.count {
            let type = packet[offset]
            let attributeLength = Int(packet[offset + 1])
            guard attributeLength >= 2, offset + attributeLength <= packet.count else { return nil }
            if type == 18 {
                messages.append(String(decoding: packet[(offset + 2)..<(offset + attributeLength)], as: UTF8.self))
            }
            offset += attributeLength
        }
        return Reply(
            code: packet[0], id: packet[1], isAuthentic: Array(packet[4..<20]) == expected,
            message: messages.isEmpty ? nil : messages.joined(separator: " "))
    }
}
