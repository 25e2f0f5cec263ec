/// The values of a virtual block that have a vocabulary of their own: checktype, scheduler and
/// its flags, protocol, service.
extension ParseSession {
    /// ldirectord tries `/(\d+)/` first (a number anywhere makes a combined check), then the
    /// first word.
    mutating func checkType(_ line: ConfigLine) -> CheckType? {
        guard let value = unquoted(line) else { return nil }
        let number = LenientInteger(value)
        if let read = number.value {
            let every = min(read, Int(Int32.max))
            if !number.isExact || every != read {
                warn(line, "read as checktype=\(every) (a combined check), as ldirectord reads it")
            }
            return .combined(negotiateEvery: every)
        }
        let word = value.drop { !($0.isWordCharacter || $0 == "-") }.prefix { $0.isWordCharacter || $0 == "-" }
        guard let type = CheckType.named.first(where: { $0.configValue == word }) else {
            invalid(
                line, "invalid checktype \"\(value)\"",
                expected:
                    "checktype must be \"connect\", \"negotiate\", \"on\", \"off\", \"ping\", \"external\", \"external-perl\" or a positive number"
            )
            return nil
        }
        if word.count != value.count {
            warn(line, "read as checktype=\(word), as ldirectord reads it; the rest is ignored")
        }
        return type
    }

    /// ldirectord takes the first run of lowercase letters and lets the kernel refuse unknown
    /// names at run time, losing the service. directord keeps such a service out of the table
    /// and says so at once.
    mutating func scheduler(_ line: ConfigLine, into draft: inout VirtualDraft) -> Scheduler? {
        guard let value = unquoted(line) else { return nil }
        let word = value.drop { !("a"..."z").contains($0) }.prefix { ("a"..."z").contains($0) }
        let expected = "one of the kernel's schedulers: " + Scheduler.known.joined(separator: " ")
        guard !word.isEmpty else {
            invalid(line, "invalid scheduler, should be only lowercase letters (a-z)", expected: expected)
            return nil
        }
        guard let scheduler = Scheduler(rawValue: String(word)) else {
            draft.refusals.append(
                (
                    line,
                    "the kernel has no scheduler \"\(word)\"; its schedulers are \(Scheduler.known.joined(separator: " "))",
                    "scheduler=\(word)"
                ))
            return Scheduler(uncheckedName: String(word))
        }
        if word.count != value.count {
            warn(line, "read as scheduler=\(word), as ldirectord reads it; the rest is ignored")
        }
        return scheduler
    }

    /// ldirectord passes the first word to `ipvsadm -b`, which splits it at commas (empty
    /// items skipped) and refuses a flag it does not know: the service is then refused.
    mutating func readSchedulerFlags(_ line: ConfigLine, into draft: inout VirtualDraft) {
        guard let value = unquoted(line) else { return }
        guard line.ldirectordValue?.isEmpty == false else {
            invalid(
                line, "invalid sched-flags",
                expected: "a comma-separated list of " + SchedulerFlags.names.map(\.name).joined(separator: ", "))
            return
        }
        let word = value.prefix { $0 != " " && $0 != "\t" }.filter { $0 != "\"" && $0 != "'" }
        let items = word.split(separator: ",").map(String.init)
        guard !items.isEmpty else {
            draft.service.schedulerFlags = []
            return
        }
        switch SchedulerFlags.parse(items.joined(separator: ",")) {
        case .success(let flags):
            draft.service.schedulerFlags = flags
        case .failure(let unknown):
            draft.refusals.append(
                (
                    line,
                    "ipvsadm refuses the sched-flag \"\(unknown.name)\"; it knows \(SchedulerFlags.names.map(\.name).joined(separator: ", "))",
                    String(line.text)
                ))
        }
    }

    mutating func readProtocol(_ line: ConfigLine, into draft: inout VirtualDraft) {
        guard let value = unquoted(line) else { return }
        guard let word = value.split(whereSeparator: { !$0.isWordCharacter }).first else {
            invalid(line, "invalid protocol", expected: "tcp, udp or fwm")
            return
        }
        switch draft.target {
        case .invalid:
            break
        case .mark, .refusedMark:
            if word != "fwm" {
                invalid(
                    line, "protocol must be fwm if the virtual service is a fwmark (a number)", expected: "fwm")
            }
        case .address:
            if let proto = ServiceProtocol(rawValue: String(word)), proto != .fwm {
                draft.protocolWritten = proto
            } else {
                invalid(
                    line, "protocol must be tcp or udp if the virtual service is an address and port",
                    expected: "tcp or udp")
            }
        }
    }

    mutating func readService(_ line: ConfigLine, into draft: inout VirtualDraft) {
        let expected =
            "service must be "
            + ServiceType.listedOrder.dropLast().map(\.rawValue).joined(separator: ", ") + " or submission"
        guard let value = unquoted(line) else { return }
        guard let word = value.split(whereSeparator: { !$0.isWordCharacter }).first,
            let type = ServiceType(rawValue: String(word))
        else {
            invalid(line, "invalid service \"\(value)\"", expected: expected)
            return
        }
        draft.service.service = type
        draft.serviceWritten = true
        // ldirectord fills these in when service= is read, if no login was given before it.
        if type == .ftp && draft.service.login.isEmpty { draft.service.login = "anonymous" }
        if type == .sip && draft.service.login.isEmpty { draft.service.login = "ldirectord@\(resolver.hostName)" }
        if type == .ftp && draft.service.password.isEmpty {
            draft.service.password = "ldirectord@\(resolver.hostName)"
        }
    }
}

/// directord's `httpheader`: one request header line an HTTP check sends.
extension ParseSession {
    /// Header names the check writes itself or that frame the request: another value would
    /// make a request the server reads differently from the check.
    static let reservedHeaders: [String: String] = [
        "host": "use virtualhost= for the Host header",
        "content-length": "a check request has no body",
        "transfer-encoding": "a check request has no body",
        "connection": "each check closes its connection",
    ]

    mutating func readHTTPHeader(_ line: ConfigLine, into draft: inout VirtualDraft) {
        guard let text = unquoted(line) else { return }
        let expected = "a header line such as \"X-Health-Check: directord\""
        guard let colon = text.firstIndex(of: ":") else {
            invalid(line, "httpheader has no \":\" between the name and the value", expected: expected)
            return
        }
        let name = text[..<colon]
        let value = text[text.index(after: colon)...].trimmingSpaces
        // RFC 9110's token characters; anything else is a header the server refuses or misreads.
        let tokenPunctuation = Set("!#$%&'*+-.^_`|~".utf8)
        guard !name.isEmpty,
            name.utf8.allSatisfy({ $0.isASCIILetterOrDigit || tokenPunctuation.contains($0) })
        else {
            invalid(line, "invalid httpheader name \"\(name)\"", expected: "a header name of letters, digits and -")
            return
        }
        if let why = Self.reservedHeaders[name.lowercased()] {
            invalid(line, "httpheader cannot set \(name): \(why)", expected: expected)
            return
        }
        guard value.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7f }) else {
            invalid(line, "httpheader \(name) has a control character in its value", expected: expected)
            return
        }
        draft.service.httpHeaders.append("\(name): \(value)")
    }
}

extension UInt8 {
    fileprivate var isASCIILetterOrDigit: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self | 0x20)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
    }
}
