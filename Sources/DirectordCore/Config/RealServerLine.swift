/// A `real=` value split into its parts, names not yet resolved.
///
/// The grammar is ldirectord's: `ADDRESS[->ADDRESS][:PORT] gate|masq|ipip [WEIGHT]
/// ["REQUEST", "RECEIVE"] [l:N] [u:N]`. This initializer reads it strictly; a value it
/// refuses is read again as ldirectord reads it (``ldirectordReading(of:)``), with unanchored
/// patterns that skip what they do not understand, and a warning.
struct RealServerLine {
    var first: Substring
    var last: Substring?
    var port: Substring?
    var forwarding: ForwardingMethod
    /// As written, which may be more than the kernel takes (2147483647).
    var weight: Int?
    var request: Substring?
    var receive: Substring?
    var lowerThreshold: Int?
    var upperThreshold: Int?
    /// ldirectord's `"/REQUEST", "RECEIVE"` trap: the receive string and everything after it
    /// on the line are lost.
    var lostAfterRequest = false

    enum Problem: Error {
        case format(String)
    }

    static let expectedAddress =
        "ADDRESS[:PORT], HOST[:PORT] or [IPv6][:PORT] (or a range FIRST->LAST), then gate, masq or ipip"

    init(_ value: Substring) throws(Problem) {
        var rest = value[...]
        (first, last, port) = try Self.addressPart(&rest)
        guard rest.utf8.first == UInt8(ascii: " ") || rest.utf8.first == UInt8(ascii: "\t") else {
            if rest.isEmpty {
                throw .format("no forwarding method: expected gate, masq or ipip after the address")
            }
            throw .format(
                "invalid address for real server (wrong format) at \"\(rest)\": expected \(Self.expectedAddress)")
        }
        rest = rest.trimmingSpaces
        let method = Self.token(&rest)
        guard let forwarding = ForwardingMethod(rawValue: String(method)),
            ForwardingMethod.configurable.contains(forwarding)
        else {
            throw .format("forward method must be gate, masq or ipip, not \"\(method)\"")
        }
        self.forwarding = forwarding
        if rest.utf8.first?.isASCIIDigit == true {
            let word = Self.token(&rest)
            guard word.isAllDigits, let weight = LenientInteger(word).value else {
                throw .format("invalid weight \"\(word)\": expected a whole number from 0 to 65535")
            }
            self.weight = weight
        }
        if rest.first == "\"" {
            (request, receive) = try Self.requestAndReceive(&rest)
            lostAfterRequest = request?.hasPrefix("/") == true
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
            guard digits.isAllDigits, let value = LenientInteger(digits).value else {
                throw .format("invalid threshold \"\(word)\": expected l:N or u:N with N from 0 to 2147483647")
            }
            if isLower {
                guard lowerThreshold == nil, upperThreshold == nil else { throw .format("l: after u:") }
                lowerThreshold = value
            } else {
                guard upperThreshold == nil else { throw .format("u: is given twice") }
                upperThreshold = value
            }
        }
    }

    /// The next blank-separated word; `rest` then starts at the following word.
    private static func token(_ rest: inout Substring) -> Substring {
        let word = rest.prefix(whileByte: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") })
        rest = rest.after(word).trimmingSpaces
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
            let portByte: (UInt8) -> Bool = {
                $0.isASCIIDigit || $0.isASCIILetter || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")
            }
            let text = rest.dropFirst().prefix(whileByte: portByte)
            guard !text.isEmpty else {
                throw .format("invalid port at \"\(rest)\": expected a port number or service name after \":\"")
            }
            port = text
            rest = rest[text.endIndex...]
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
        let hostByte: (UInt8) -> Bool = {
            $0.isASCIIDigit || $0.isASCIILetter || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
        }
        var name = rest.prefix(whileByte: hostByte)
        // In "a->b" the '-' of "->" is not part of the first host.
        if name.utf8.last == UInt8(ascii: "-") && rest.after(name).utf8.first == UInt8(ascii: ">") {
            name = name.dropLast()
        }
        guard !name.isEmpty else {
            throw .format("invalid address for real server (wrong format) at \"\(rest)\": expected \(expectedAddress)")
        }
        rest = rest.after(name)
        if rest.utf8.first == UInt8(ascii: ":") && rest.utf8.dropFirst().first == UInt8(ascii: ":") {
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

extension RealServerLine {
    /// A value as ldirectord reads it (ld 2019 and `add_real_server`), for one the strict
    /// reading refuses: each part is found with ldirectord's own unanchored pattern, so junk
    /// before a part is skipped (`@10.0.0.1:80`, `-gate`, `gate -w 5`, `junk l:1`); junk after
    /// the last part is refused, as ldirectord refuses it. One reading differs on purpose:
    /// `IP::PORT` (ldirectord's own sample) is IP:PORT, where ldirectord finds the host "PORT".
    /// - Returns: the reading and a note saying how it differs from the text.
    static func ldirectordReading(of value: Substring) throws(Problem) -> (RealServerLine, String, Bool) {
        var text = value
        var differs = false
        if let match = text.wholeMatch(of: #/([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)::([0-9]+)([ \t].*)/#) {
            text = Substring("\(match.output.1):\(match.output.2)\(match.output.3)")
            differs = true
        }
        let space = "[ \\t\\r\\n\\f\\x0B]"
        let host = #"([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+|[A-Za-z0-9.\-]+|\[[0-9A-fa-f:]+\])"#
        let addressPattern: Regex<AnyRegexOutput>
        let forwardPattern: Regex<AnyRegexOutput>
        let weightPattern: Regex<AnyRegexOutput>
        let stringsPattern: Regex<AnyRegexOutput>
        let lowerPattern: Regex<AnyRegexOutput>
        let upperPattern: Regex<AnyRegexOutput>
        do {
            addressPattern = try Regex(host + "(->" + host + ")?(:([0-9]+|[A-Za-z0-9_\\-]+))?" + space + "+(.*)")
            forwardPattern = try Regex("([A-Za-z0-9_]+)(.*)")
            weightPattern = try Regex(space + "+([0-9]+)(.*)")
            stringsPattern = try Regex(space + "+\"(.*)\"[, ]" + space + "*\"(.*)\"(.*)")
            lowerPattern = try Regex(space + "+l:([0-9]+)(.*)")
            upperPattern = try Regex(space + "+u:([0-9]+)(.*)")
        } catch {
            throw .format("internal error: \(error)")
        }
        func group(_ match: Regex<AnyRegexOutput>.Match, _ index: Int) -> Substring? {
            match.output[index].substring
        }
        guard let address = text.firstMatch(of: addressPattern) else {
            throw .format("invalid address for real server (wrong format)")
        }
        var line = RealServerLine(
            first: Self.unbracketed(group(address, 1) ?? ""), last: group(address, 3).map(Self.unbracketed),
            port: group(address, 5), forwarding: .gate)
        var flags = group(address, 6) ?? ""
        guard let forward = flags.firstMatch(of: forwardPattern), let word = group(forward, 1),
            let method = ForwardingMethod(rawValue: String(word)), ForwardingMethod.configurable.contains(method)
        else {
            throw .format("forward method must be gate, masq or ipip")
        }
        line.forwarding = method
        flags = group(forward, 2) ?? ""
        if let weight = flags.firstMatch(of: weightPattern) {
            line.weight = LenientInteger(group(weight, 1) ?? "").value
            flags = group(weight, 2) ?? ""
        }
        var rest: Substring? = flags
        if let strings = flags.firstMatch(of: stringsPattern) {
            line.request = group(strings, 1)
            line.receive = group(strings, 2)
            if line.request?.hasPrefix("/") == true {
                line.lostAfterRequest = true
                rest = nil
            } else {
                rest = group(strings, 3)
            }
        }
        if let current = rest, let lower = current.firstMatch(of: lowerPattern) {
            line.lowerThreshold = LenientInteger(group(lower, 1) ?? "").value
            rest = group(lower, 2)
        }
        if let current = rest, let upper = current.firstMatch(of: upperPattern) {
            line.upperThreshold = LenientInteger(group(upper, 1) ?? "").value
            rest = group(upper, 2)
        }
        if let rest, rest.contains(where: { !$0.isPerlSpace }) {
            throw .format("Invalid real server line, around \"\(rest)\"")
        }
        var reading = String(line.first) + (line.last.map { "->\($0)" } ?? "") + (line.port.map { ":\($0)" } ?? "")
        reading += " \(line.forwarding.rawValue)" + (line.weight.map { " \($0)" } ?? "")
        if let request = line.request, let receive = line.receive {
            reading += " \"\(request)\", \"\(receive)\""
        }
        reading += (line.lowerThreshold.map { " l:\($0)" } ?? "") + (line.upperThreshold.map { " u:\($0)" } ?? "")
        return (line, reading, differs)
    }

    private init(first: Substring, last: Substring?, port: Substring?, forwarding: ForwardingMethod) {
        self.first = first
        self.last = last
        self.port = port
        self.forwarding = forwarding
    }

    /// ldirectord's `ld_gethostbyname` resolves what is between brackets.
    private static func unbracketed(_ host: Substring) -> Substring {
        host.first == "[" && host.last == "]" ? host.dropFirst().dropLast() : host
    }
}

/// A `fallback=` value: `ADDRESS[:PORT] [gate|masq|ipip]`, names not yet resolved.
struct FallbackSpec {
    var host: Substring
    var port: Substring?
    var forwarding: ForwardingMethod
}

extension ParseSession {
    /// ldirectord's `parse_fallback`: the last two words of the value are `SERVER[:PORT]` and
    /// the forwarding method (so a leading extra word is skipped); the port is a `:WORD` at the
    /// very end, the server whatever is before it.
    mutating func parseFallback(_ line: ConfigLine, global: Bool = false) -> FallbackSpec? {
        guard let value = unquoted(line) else { return nil }
        let expected = "ADDRESS[:PORT] [gate|masq|ipip], IPv6 as [ADDRESS][:PORT]"
        if let raw = line.ldirectordValue {
            let (rawServer, rawMethod) = Self.ldirectordFallbackWords(raw)
            if rawServer.contains("\""), !rawServer.contains("[") {
                ldirectordRefuses(line, "ldirectord reads the quote as part of the address and refuses it")
            }
            if let rawMethod,
                ForwardingMethod(rawValue: String(rawMethod)).map(ForwardingMethod.configurable.contains) != true
            {
                ldirectordRefuses(
                    line,
                    "ldirectord reads \"\(rawMethod)\" as the forwarding method here (quotes and comments included) and refuses it"
                )
            }
        }
        let words = value.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard !words.isEmpty else {
            warn(
                line,
                "\(line.name) is empty: no fallback server (ldirectord makes one of 127.0.0.1 on the service's port)",
                ldirectord: .differs, severe: true)
            return nil
        }
        let (serverWord, methodWord) = Self.ldirectordFallbackWords(value)
        if words.count > 2 {
            warn(
                line,
                "read as \"\(serverWord) \(methodWord ?? "")\", as ldirectord reads it: only the last two words count")
        }
        var forwarding = ForwardingMethod.gate
        if let methodWord {
            guard let method = ForwardingMethod(rawValue: String(methodWord)),
                ForwardingMethod.configurable.contains(method)
            else {
                invalid(line, "forward method must be gate, masq or ipip", expected: "gate, masq or ipip")
                return nil
            }
            forwarding = method
        }
        var host = serverWord
        var port: Substring?
        let portCharacter: (Character) -> Bool = { $0.isASCIIDigit || $0.isASCIILetter || $0 == "-" || $0 == "_" }
        if let colon = serverWord.lastIndex(of: ":") {
            let suffix = serverWord[serverWord.index(after: colon)...]
            if !suffix.isEmpty, suffix.allSatisfy(portCharacter) {
                port = suffix
                host = serverWord[..<colon]
            }
        }
        if let open = host.firstIndex(of: "[") {
            // ldirectord resolves what is between the brackets, whatever is around them.
            guard let close = host[open...].firstIndex(of: "]") else {
                invalid(line, "invalid fallback server: \(value)", expected: expected)
                return nil
            }
            let inner = host[host.index(after: open)..<close]
            if host.index(after: close) != host.endIndex || open != host.startIndex {
                warn(line, "read as [\(inner)]\(port.map { ":\($0)" } ?? ""), as ldirectord reads it")
            }
            host = inner
        }
        guard !host.isEmpty else {
            invalid(line, "invalid fallback server: \(value)", expected: expected)
            return nil
        }
        return FallbackSpec(host: host, port: port, forwarding: forwarding)
    }

    /// ldirectord's `/(\S+)(\s+(\S+))?\s*$/`: the last word, or the last two.
    static func ldirectordFallbackWords(_ value: Substring) -> (server: Substring, method: Substring?) {
        let words = value.split(whereSeparator: \.isPerlSpace)
        guard let last = words.last else { return ("", nil) }
        return words.count >= 2 ? (words[words.count - 2], last) : (last, nil)
    }
}
