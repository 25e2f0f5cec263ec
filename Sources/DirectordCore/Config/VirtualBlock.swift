/// A virtual block as read, before names are resolved and defaults merged.
struct VirtualDraft {
    enum Target {
        /// `host:port`, both still text: the port's meaning depends on the final protocol.
        case address(host: Substring, port: Substring)
        case mark(UInt32)
        /// The virtual= line was wrong (already reported). Its block is still read, so its own
        /// lines are checked, and then dropped.
        case invalid
    }

    let line: ConfigLine
    let family: AddressFamily
    let target: Target
    /// Filled as directives are read; key, reals, fallback and merged values come in phase 2.
    var service: VirtualService
    var protocolWritten: ServiceProtocol?
    var serviceWritten = false
    var reals: [ConfigLine] = []
    var fallback: (FallbackSpec, ConfigLine)?
    var netmask: (UInt32, ConfigLine)?
    var persistentTimeout: UInt32?
    var opsLine: ConfigLine?
    var checkIntervalLine: ConfigLine?
    var seen: [String: Int] = [:]

    // Values that fall back to the global directives.
    var checkTimeout: Int?
    var negotiateTimeout: Int?
    var checkCount: Int?
    var failureCount: Int?
    var checkInterval: Int?
    var quiescent: Bool?
    var cleanStop: Bool?
    var fallbackCommand: String?
    var emailAlert: String?
    var emailAlertFrequency: Int?
    var emailAlertStatus: DaemonStatusSet?
    var smtp: String?
}

extension ParseSession {
    mutating func startVirtual(_ line: ConfigLine) -> VirtualDraft {
        let family: AddressFamily = line.name == "virtual" ? .ipv4 : .ipv6
        let target = virtualTarget(line, family: family)
        var service = VirtualService(line: line.number, key: .firewallMark(0, family))
        if case .mark = target { service.service = .none }
        return VirtualDraft(line: line, family: family, target: target, service: service)
    }

    /// ldirectord's `virtual=` patterns, tried in its order: `IPv4:port`, `name:port`, a
    /// firewall mark, `[IPv6]:port`.
    mutating func virtualTarget(_ line: ConfigLine, family: AddressFamily) -> VirtualDraft.Target {
        guard line.hasEquals, let value = unquoted(line) else {
            if !line.hasEquals { invalid(line, "missing \"=\"", expected: "\(line.name)=ADDRESS:PORT") }
            return .invalid
        }
        let expected =
            family == .ipv4
            ? "IP:PORT, HOST:PORT or a firewall mark (a number)"
            : "[IPv6]:PORT, HOST:PORT or a firewall mark (a number)"
        let token = value.prefix { $0 != " " && $0 != "\t" }
        let rest = value.dropFirst(token.count).trimmingSpaces
        if !rest.isEmpty {
            warn(line, "\"\(rest)\" after the address is ignored, as ldirectord ignores it")
        }
        let portCharacter: (Character) -> Bool = { $0.isASCIIDigit || $0.isASCIILetter || $0 == "-" || $0 == "_" }
        let hostCharacter: (Character) -> Bool = {
            $0.isASCIIDigit || $0.isASCIILetter || $0 == "." || $0 == "_" || $0 == "+" || $0 == "-"
        }
        var target: VirtualDraft.Target?
        if token.first == "[" {
            if let close = token.firstIndex(of: "]") {
                let inner = token[token.index(after: token.startIndex)..<close]
                let after = token[token.index(after: close)...]
                if family == .ipv4 {
                    error(line, .wrongAddressFamily(written: "virtual", use: "virtual6"))
                    return .invalid
                }
                if after.first == ":", !after.dropFirst().isEmpty, after.dropFirst().allSatisfy(portCharacter) {
                    guard IPAddress(inner, family: .ipv6) != nil else {
                        invalid(line, "invalid ipv6 address for virtual server", expected: expected)
                        return .invalid
                    }
                    target = .address(host: inner, port: after.dropFirst())
                }
            }
        } else if let colon = token.firstIndex(of: ":") {
            let host = token[..<colon]
            let port = token[token.index(after: colon)...]
            if !host.isEmpty, host.allSatisfy(hostCharacter), !port.isEmpty, port.allSatisfy(portCharacter) {
                target = .address(host: host, port: port)
            }
        } else if token.first?.isASCIIDigit == true {
            let digits = token.prefix { $0.isASCIIDigit }
            guard let mark = UInt32(digits), mark > 0 else {
                invalid(line, "invalid firewall mark \"\(digits)\"", expected: "a firewall mark from 1 to 4294967295")
                return .invalid
            }
            if digits.count != token.count {
                let looksLikeAddress = IPAddress(token) != nil || token.contains(".")
                warn(
                    line,
                    looksLikeAddress
                        ? "read as firewall mark \(mark), as ldirectord reads an address without a port; write \(token):PORT for an address service, or \(mark) for a firewall mark"
                        : "read as firewall mark \(mark), as ldirectord reads it; write \(line.name)=\(mark)")
            }
            target = .mark(mark)
        }
        guard let target else {
            invalid(line, "invalid address for virtual server \"\(value)\"", expected: expected)
            return .invalid
        }
        return target
    }

    mutating func readVirtualDirective(_ line: ConfigLine, into draft: inout VirtualDraft) {
        guard checkName(line, inVirtual: true) else { return }
        if let message = Self.repeatWarning(line, seen: &draft.seen, scope: " in this virtual block") {
            warn(line, message)
        }
        let seconds = "a whole number of seconds above 0"
        let family = draft.family
        switch line.name {
        case "real", "real6":
            let wanted = family == .ipv4 ? "real" : "real6"
            if line.name != wanted {
                error(line, .wrongAddressFamily(written: String(line.name), use: wanted))
            } else {
                draft.reals.append(line)
            }
        case "checktype":
            if let value = checkType(line) { draft.service.checkType = value }
        case "checktimeout":
            draft.checkTimeout = number(
                line, problem: "invalid check timeout", expected: seconds, range: 1...Int(Int32.max))
        case "negotiatetimeout":
            draft.negotiateTimeout = number(
                line, problem: "invalid negotiate timeout", expected: seconds, range: 1...Int(Int32.max))
        case "checkcount":
            draft.checkCount = number(
                line, problem: "invalid check count", expected: "a whole number above 0", range: 1...Int(Int32.max))
            warn(line, "checkcount option is deprecated and slated for removal.  please see 'failurecount'")
        case "failurecount":
            draft.failureCount = number(
                line, problem: "invalid failure count", expected: "a whole number above 0", range: 1...Int(Int32.max))
        case "checkinterval":
            draft.checkInterval = number(
                line, problem: "invalid checkinterval", expected: seconds, range: 1...Int(Int32.max))
            draft.checkIntervalLine = line
        case "checkport":
            if let value = number(
                line, problem: "invalid port", expected: "checkport must be in range 1..65535", range: 1...65535)
            {
                draft.service.checkPort = UInt16(value)
            }
        case "login", "passwd", "database", "secret", "request", "receive", "checkcommand":
            guard let (field, problem, expected) = Self.requiredStrings[String(line.name)],
                let value = text(line, problem: problem, expected: expected)
            else { break }
            // ldirectord adds the "/" a request lacks.
            draft.service[keyPath: field] = line.name == "request" && !value.hasPrefix("/") ? "/" + value : value
        case "load":
            if let value = unquoted(line), let word = value.split(whereSeparator: { !$0.isWordCharacter }).first {
                draft.service.load = String(word)
            } else {
                invalid(line, "invalid string for load testing", expected: "a word")
            }
        case "scheduler":
            if let value = scheduler(line) { draft.service.scheduler = value }
        case "persistent":
            if let value = number(
                line, problem: "invalid persistent timeout",
                expected: "a whole number of seconds from 1 to 2678400 (31 days; the kernel's limit)",
                range: 1...2_678_400)
            {
                draft.persistentTimeout = UInt32(value)
            }
        case "schedflags":
            if let value = unquoted(line) {
                let word = value.prefix { $0 != " " && $0 != "\t" }
                switch SchedulerFlags.parse(String(word)) {
                case .success(let flags): draft.service.schedulerFlags = flags
                case .failure(let unknown):
                    invalid(
                        line, "invalid sched-flags \"\(unknown.name)\"",
                        expected: "a comma-separated list of "
                            + SchedulerFlags.names.map(\.name).joined(separator: ", "))
                }
            }
        case "netmask":
            if let value = unquoted(line) {
                if family == .ipv6 {
                    if value.isAllDigits, let length = Int(value), (1...128).contains(length) {
                        draft.netmask = (UInt32(length), line)
                    } else {
                        invalid(
                            line, "invalid netmask: a prefix length between 1 and 128 is required",
                            expected: "a prefix length from 1 to 128")
                    }
                } else if case .v4(let mask)? = IPAddress(value, family: .ipv4) {
                    draft.netmask = (mask, line)
                } else {
                    invalid(
                        line, "invalid netmask: dotted quad notation is required",
                        expected: "a mask such as 255.255.255.0")
                }
            }
        case "protocol":
            readProtocol(line, into: &draft)
        case "ops":
            if let value = yesNo(line) {
                draft.service.onePacket = value
                draft.opsLine = line
            }
        case "service":
            readService(line, into: &draft)
        case "httpmethod":
            if let value = unquoted(line),
                let word = value.split(whereSeparator: { !$0.isWordCharacter }).first,
                let method = HTTPMethod(rawValue: word.uppercased())
            {
                draft.service.httpMethod = method
            } else {
                invalid(line, "httpmethod must be GET or HEAD", expected: "GET or HEAD")
            }
        case "virtualhost":
            // ldirectord: /\"?([^\"]*)\"?/, an optional quote then up to the next quote.
            let value = line.value.first == "\"" ? line.value.dropFirst() : line.value
            draft.service.virtualHost = String(value.prefix { $0 != "\"" })
        case "fallback", "fallback6":
            let wanted = family == .ipv4 ? "fallback" : "fallback6"
            if line.name != wanted {
                error(line, .wrongAddressFamily(written: String(line.name), use: wanted))
            } else if let spec = parseFallback(line) {
                draft.fallback = (spec, line)
            }
        case "fallbackcommand":
            draft.fallbackCommand = text(line, problem: "invalid fallback command", expected: "a command to run")
        case "quiescent":
            draft.quiescent = yesNo(line)
        case "emailalert":
            draft.emailAlert = text(
                line, problem: "no email address specified", expected: "one or more e-mail addresses")
        case "emailalertfreq":
            draft.emailAlertFrequency = number(
                line, problem: "invalid email alert frequency", expected: "a whole number of seconds",
                range: 0...Int(Int32.max))
        case "emailalertstatus":
            draft.emailAlertStatus = emailAlertStatus(line)
        case "monitorfile":
            draft.service.monitorFile = text(line, problem: "invalid monitorfile", expected: "a file path")
        case "cleanstop":
            draft.cleanStop = yesNo(line)
        case "smtp":
            draft.smtp = smtpServer(line)
        case "servicename":
            draft.service.serviceName = unquoted(line).map(String.init)
        case "comment":
            draft.service.comment = unquoted(line).map(String.init)
        case "cafile":
            draft.service.caFile = text(line, problem: "no CA file given", expected: "a PEM file of trusted CAs")
        case "sniname":
            draft.service.sniName = text(line, problem: "no server name given", expected: "a TLS server name")
        default:
            break
        }
    }

    /// Directives whose value must be a non-empty string, with ldirectord's message for an
    /// empty one.
    static let requiredStrings: [String: (any WritableKeyPath<VirtualService, String> & Sendable, String, String)] = [
        "request": (\.request, "no request string specified", "a request such as \"/\""),
        "receive": (\.receive, "invalid receive string", "a non-empty string"),
        "checkcommand": (\.checkCommand, "invalid check command", "a command"),
        "login": (\.login, "invalid login string", "a user name"),
        "passwd": (\.password, "invalid password", "a password"),
        "database": (\.database, "invalid database", "a database name"),
        "secret": (\.secret, "invalid secret", "a RADIUS shared secret"),
    ]

    /// ldirectord tries `/(\d+)/` first (a number anywhere makes a combined check), then the
    /// first word.
    mutating func checkType(_ line: ConfigLine) -> CheckType? {
        guard let value = unquoted(line) else { return nil }
        let number = LenientInteger(value)
        if let every = number.value {
            if !number.isExact {
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
    /// names at run time, losing the service. directord refuses them here.
    mutating func scheduler(_ line: ConfigLine) -> Scheduler? {
        guard let value = unquoted(line) else { return nil }
        let word = value.drop { !("a"..."z").contains($0) }.prefix { ("a"..."z").contains($0) }
        let expected = "one of the kernel's schedulers: " + Scheduler.known.joined(separator: " ")
        guard !word.isEmpty else {
            invalid(line, "invalid scheduler, should be only lowercase letters (a-z)", expected: expected)
            return nil
        }
        guard let scheduler = Scheduler(rawValue: String(word)) else {
            invalid(line, "unknown scheduler \"\(word)\" (the kernel would refuse the service)", expected: expected)
            return nil
        }
        if word.count != value.count {
            warn(line, "read as scheduler=\(word), as ldirectord reads it; the rest is ignored")
        }
        return scheduler
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
        case .mark:
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
