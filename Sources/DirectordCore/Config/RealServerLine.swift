/// A `real=` value split into its parts, names not yet resolved.
///
/// The grammar is ldirectord's, read strictly: `ADDRESS[->ADDRESS][:PORT] gate|masq|ipip
/// [WEIGHT] ["REQUEST", "RECEIVE"] [l:N] [u:N]`. ldirectord matches each part with an
/// unanchored regular expression, so it silently skips what it does not understand:
/// `real=10.0.0.1::5060 gate` becomes the bogus address 0.0.19.196, and `gate -w 1` drops
/// `-w`. Here anything out of place is an error.
struct RealServerLine {
    var first: Substring
    var last: Substring?
    var port: Substring?
    var forwarding: ForwardingMethod
    var weight: Int?
    var request: Substring?
    var receive: Substring?
    var lowerThreshold: UInt32?
    var upperThreshold: UInt32?
    /// `u:` was written before `l:`, which ldirectord reads as if `u:` were absent.
    var thresholdsReversed = false

    enum Problem: Error {
        case format(String)
    }

    static let expectedAddress =
        "ADDRESS[:PORT], HOST[:PORT] or [IPv6][:PORT] (or a range FIRST->LAST), then gate, masq or ipip"

    init(_ value: Substring) throws(Problem) {
        var rest = value[...]
        (first, last, port) = try Self.addressPart(&rest)
        guard rest.first == " " || rest.first == "\t" else {
            if rest.isEmpty {
                throw .format("no forwarding method: expected gate, masq or ipip after the address")
            }
            throw .format("invalid address for real server (wrong format) at \"\(rest)\": expected \(Self.expectedAddress)")
        }
        rest = rest.trimmingSpaces
        let method = Self.token(&rest)
        guard let forwarding = ForwardingMethod(rawValue: String(method)),
            ForwardingMethod.configurable.contains(forwarding)
        else {
            throw .format("forward method must be gate, masq or ipip, not \"\(method)\"")
        }
        self.forwarding = forwarding
        if rest.first?.isASCIIDigit == true {
            let word = Self.token(&rest)
            guard word.isAllDigits, let weight = Int(word.prefix(7)), word.count <= 7, weight <= 65535 else {
                throw .format("invalid weight \"\(word)\": expected a whole number from 0 to 65535")
            }
            self.weight = weight
        }
        if rest.first == "\"" {
            (request, receive) = try Self.requestAndReceive(&rest)
        }
        while !rest.isEmpty {
            let word = Self.token(&rest)
            let isLower = word.hasPrefix("l:")
            guard isLower || word.hasPrefix("u:") else {
                throw .format(
                    "unexpected \"\(word)\" on the real server line: after the forwarding method come an optional weight, \"REQUEST\", \"RECEIVE\", l:N and u:N"
                )
            }
            let digits = word.dropFirst(2)
            guard digits.isAllDigits, digits.count <= 10, let value = UInt32(digits), value <= Int32.max else {
                throw .format("invalid threshold \"\(word)\": expected l:N or u:N with N from 0 to 2147483647")
            }
            if isLower {
                guard lowerThreshold == nil else { throw .format("l: is given twice") }
                lowerThreshold = value
                thresholdsReversed = upperThreshold != nil
            } else {
                guard upperThreshold == nil else { throw .format("u: is given twice") }
                upperThreshold = value
            }
        }
    }

    /// The next blank-separated word; `rest` then starts at the following word.
    private static func token(_ rest: inout Substring) -> Substring {
        let word = rest.prefix { $0 != " " && $0 != "\t" }
        rest = rest.dropFirst(word.count).trimmingSpaces
        return word
    }

    private static func addressPart(_ rest: inout Substring) throws(Problem) -> (
        Substring, Substring?, Substring?
    ) {
        let first = try host(&rest)
        var last: Substring?
        if rest.hasPrefix("->") {
            rest = rest.dropFirst(2)
            last = try host(&rest)
        }
        var port: Substring?
        if rest.first == ":" {
            let portCharacter: (Character) -> Bool = {
                $0.isASCIIDigit || $0.isASCIILetter || $0 == "-" || $0 == "_"
            }
            let text = rest.dropFirst().prefix(while: portCharacter)
            guard !text.isEmpty else {
                throw .format("invalid port at \"\(rest)\": expected a port number or service name after \":\"")
            }
            port = text
            rest = rest.dropFirst(1 + text.count)
        }
        return (first, last, port)
    }

    private static func host(_ rest: inout Substring) throws(Problem) -> Substring {
        if rest.first == "[" {
            guard let close = rest.firstIndex(of: "]") else {
                throw .format("missing \"]\" after the IPv6 address")
            }
            let inner = rest[rest.index(after: rest.startIndex)..<close]
            rest = rest[rest.index(after: close)...]
            return inner
        }
        let hostCharacter: (Character) -> Bool = { $0.isASCIIDigit || $0.isASCIILetter || $0 == "." || $0 == "-" }
        var name = rest.prefix(while: hostCharacter)
        // In "a->b" the '-' of "->" is not part of the first host.
        if name.hasSuffix("-") && rest.dropFirst(name.count).first == ">" { name = name.dropLast() }
        guard !name.isEmpty else {
            throw .format("invalid address for real server (wrong format) at \"\(rest)\": expected \(expectedAddress)")
        }
        rest = rest.dropFirst(name.count)
        if rest.first == ":" && rest.dropFirst().first == ":" {
            throw .format(
                "\"::\" after \(name): an IPv6 address must be written in brackets in a real6 line, and a port follows a single \":\""
            )
        }
        return name
    }

    /// ldirectord's `/\s+"(.*)"[, ]\s*"(.*)"(.*)/`: greedy, so the request ends at the last
    /// `"` followed by `,` or a blank and an opening quote, and the receive string ends at the
    /// last quote of the line.
    private static func requestAndReceive(_ rest: inout Substring) throws(Problem) -> (Substring, Substring) {
        let expected = "per-real request and receive must be written \"REQUEST\", \"RECEIVE\""
        let body = rest.dropFirst()
        guard let lastQuote = body.lastIndex(of: "\"") else {
            throw .format("missing closing quote: \(expected)")
        }
        var separator: (request: Substring.Index, receive: Substring.Index)?
        var index = body.startIndex
        while index < lastQuote {
            if body[index] == "\"" {
                let next = body.index(after: index)
                if next < body.endIndex && (body[next] == "," || body[next] == " ") {
                    var open = body.index(after: next)
                    while open < body.endIndex && (body[open] == " " || body[open] == "\t") {
                        open = body.index(after: open)
                    }
                    if open < lastQuote && body[open] == "\"" {
                        separator = (index, open)
                    }
                }
            }
            index = body.index(after: index)
        }
        guard let separator else { throw .format(expected) }
        let request = body[..<separator.request]
        let receive = body[body.index(after: separator.receive)..<lastQuote]
        let after = body[body.index(after: lastQuote)...]
        guard after.isEmpty || after.first == " " || after.first == "\t" else {
            throw .format("unexpected \"\(after)\" after the receive string: \(expected)")
        }
        rest = after.trimmingSpaces
        return (request, receive)
    }
}

/// A `fallback=` value: `ADDRESS[:PORT] [gate|masq|ipip]`, names not yet resolved.
struct FallbackSpec {
    var host: Substring
    var port: Substring?
    var forwarding: ForwardingMethod
}

extension ParseSession {
    /// ldirectord's `parse_fallback`, strict about extra words (ldirectord keeps the last two).
    mutating func parseFallback(_ line: ConfigLine) -> FallbackSpec? {
        guard let value = unquoted(line) else { return nil }
        let expected = "ADDRESS[:PORT] [gate|masq|ipip], IPv6 as [ADDRESS][:PORT]"
        let words = value.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard (1...2).contains(words.count) else {
            invalid(line, "invalid fallback server: \(value)", expected: expected)
            return nil
        }
        var forwarding = ForwardingMethod.gate
        if words.count == 2 {
            guard let method = ForwardingMethod(rawValue: String(words[1])),
                ForwardingMethod.configurable.contains(method)
            else {
                invalid(line, "forward method must be gate, masq or ipip", expected: "gate, masq or ipip")
                return nil
            }
            forwarding = method
        }
        let server = words[0]
        var host = server
        var port: Substring?
        if server.first == "[" {
            guard let close = server.firstIndex(of: "]") else {
                invalid(line, "invalid fallback server: \(value)", expected: expected)
                return nil
            }
            host = server[server.index(after: server.startIndex)..<close]
            let after = server[server.index(after: close)...]
            if after.first == ":" { port = after.dropFirst() } else if !after.isEmpty {
                invalid(line, "invalid fallback server: \(value)", expected: expected)
                return nil
            }
        } else if let colon = server.lastIndex(of: ":") {
            host = server[..<colon]
            port = server[server.index(after: colon)...]
            if host.contains(":") {
                invalid(line, "invalid fallback server: \(value)", expected: "an IPv6 address in brackets: [ADDRESS]:PORT")
                return nil
            }
        }
        let portCharacter: (Character) -> Bool = { $0.isASCIIDigit || $0.isASCIILetter || $0 == "-" || $0 == "_" }
        if let port, port.isEmpty || !port.allSatisfy(portCharacter) {
            invalid(line, "invalid port for fallback server", expected: expected)
            return nil
        }
        guard !host.isEmpty else {
            invalid(line, "invalid fallback server: \(value)", expected: expected)
            return nil
        }
        return FallbackSpec(host: host, port: port, forwarding: forwarding)
    }
}
