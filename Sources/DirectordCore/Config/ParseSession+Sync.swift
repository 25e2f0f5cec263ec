/// directord's connection-sync directives: the kernel's sync daemons, as `ipvsadm
/// --start-daemon` takes them, run by the daemon itself so that a director pair needs nothing
/// else to keep connections across a failover.
extension ParseSession {
    mutating func readSyncDirective(_ line: ConfigLine) {
        warnOwnDirective(line)
        syncLines[line.name] = line
        guard let text = unquoted(line) else { return }
        var sync = globals.connectionSync
        switch line.name {
        case "syncdaemon":
            guard let mode = ConnectionSync.Mode(rawValue: String(text)) else {
                invalid(line, "invalid sync daemon \"\(text)\"", expected: "master, backup or both")
                return
            }
            sync.mode = mode
        case "syncinterface":
            // What the kernel takes as a name (dev_valid_name): at most IFNAMSIZ less the
            // terminating NUL, no "/", ":" or blank, not "." or "..".
            guard (1...15).contains(text.utf8.count), text != ".", text != "..",
                !text.contains(where: { $0 == "/" || $0 == ":" || $0.isWhitespace })
            else {
                invalid(line, "invalid sync interface \"\(text)\"", expected: "a network interface name (eth0)")
                return
            }
            sync.interface = String(text)
        case "syncgroup":
            guard let address = IPAddress(text), address.isMulticast else {
                invalid(
                    line, "invalid sync group \"\(text)\"",
                    expected: "a multicast address, IPv4 (224.0.0.81) or IPv6 (ff02::81)")
                return
            }
            sync.group = address
        case "syncid", "syncport", "syncttl", "syncmaxlen":
            guard let (range, expected) = Self.syncNumbers[line.name],
                let value = strictNumber(line, text, range: range, expected: expected)
            else { return }
            switch line.name {
            case "syncid": sync.syncID = UInt8(value)
            case "syncport": sync.port = UInt16(value)
            case "syncttl": sync.ttl = UInt8(value)
            default: sync.maxLength = UInt16(value)
            }
        default:
            return
        }
        globals.connectionSync = sync
    }

    /// The numeric sync directives: what the kernel takes. A message length is fitted by the
    /// kernel to the interface's MTU; below a header and one connection it is refused.
    static let syncNumbers: [Substring: (ClosedRange<Int>, String)] = [
        "syncid": (0...255, "a sync ID from 0 to 255"),
        "syncport": (1...65535, "a UDP port from 1 to 65535"),
        "syncttl": (1...255, "a multicast TTL from 1 to 255"),
        "syncmaxlen": (100...65507, "a sync message length in bytes, 100 to 65507"),
    ]

    /// A number of directord's own directives: digits only, within range (no ldirectord
    /// reading to be faithful to, so nothing is guessed).
    mutating func strictNumber(
        _ line: ConfigLine, _ text: Substring, range: ClosedRange<Int>, expected: String
    ) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 6, text.allSatisfy(\.isASCIIDigit), let value = Int(text),
            range.contains(value)
        else {
            invalid(line, "invalid \(line.name) \"\(text)\"", expected: expected)
            return nil
        }
        return value
    }

    /// What only the directives together tell: a daemon needs an interface, and the others
    /// mean nothing without `syncdaemon`.
    mutating func checkSyncDirectives() {
        if let line = syncLines["syncdaemon"], globals.connectionSync.mode != nil,
            globals.connectionSync.interface == nil, syncLines["syncinterface"] == nil
        {
            invalid(
                line, "syncdaemon needs syncinterface",
                expected: "syncinterface=IFNAME: the interface the sync messages use")
        }
        if syncLines["syncdaemon"] == nil {
            for (name, line) in syncLines.sorted(by: { $0.value.number < $1.value.number }) {
                warn(line, "\(name) has no effect without syncdaemon=master, backup or both")
            }
        }
    }
}
