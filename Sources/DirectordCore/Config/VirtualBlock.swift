/// A virtual block as read, before names are resolved and defaults merged.
struct VirtualDraft {
    enum Target {
        /// `host:port`, both still text: the port's meaning depends on the final protocol.
        case address(host: Substring, port: Substring)
        case mark(UInt32)
        /// A mark ldirectord accepts and `ipvsadm` refuses (0, or above 4294967295).
        case refusedMark(digits: Substring)
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
    /// Why the kernel or `ipvsadm` would refuse the service, and the line that says it.
    /// Why the service would be refused, each with its line and the directive that says so
    /// again when printed (`scheduler=WORD` as the scheduler was read, not the line's bytes:
    /// the printer also writes the scheduler, and the two must be the same text).
    var refusals: [(line: ConfigLine, why: String, directive: String)] = []
    var seen: [String: Int] = [:]
    /// Where the block's last line ends in the file.
    var end: Substring.Index

    /// The block as written, from its `virtual=` line to its last line.
    var text: Substring { line.raw.base[line.raw.startIndex..<end] }

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
    var policy = HealthPolicy()
}

extension ParseSession {
    mutating func startVirtual(_ line: ConfigLine) -> VirtualDraft {
        let family: AddressFamily = line.name == "virtual" ? .ipv4 : .ipv6
        let target = virtualTarget(line, family: family)
        var service = VirtualService(line: line.number, key: .firewallMark(0, family))
        switch target {
        case .mark, .refusedMark: service.service = .none
        default: break
        }
        return VirtualDraft(line: line, family: family, target: target, service: service, end: line.raw.endIndex)
    }

    /// ldirectord's `virtual=` patterns, tried in its order and anchored only at the start:
    /// `IPv4:PORT`, `NAME:PORT`, a firewall mark (leading digits), `[IPv6]:PORT`. What follows
    /// the match is ignored, as ldirectord ignores it.
    mutating func virtualTarget(_ line: ConfigLine, family: AddressFamily) -> VirtualDraft.Target {
        guard line.hasEquals else {
            invalid(line, "missing \"=\"", expected: "\(line.name)=ADDRESS:PORT")
            return .invalid
        }
        guard let value = unquoted(line) else { return .invalid }
        if line.value.first == "\"" { ldirectordRefuses(line, "ldirectord refuses a quoted virtual service") }
        let expected =
            family == .ipv4
            ? "IP:PORT, HOST:PORT or a firewall mark (a number)"
            : "[IPv6]:PORT, HOST:PORT or a firewall mark (a number)"
        let portCharacter: (Character) -> Bool = { $0.isASCIIDigit || $0.isASCIILetter || $0 == "-" || $0 == "_" }
        let hostCharacter: (Character) -> Bool = {
            $0.isASCIIDigit || $0.isASCIILetter || $0 == "." || $0 == "_" || $0 == "+" || $0 == "-"
        }
        func ignoring(_ rest: Substring, read: String) {
            if !rest.trimmingSpaces.isEmpty {
                warn(line, "read as \(read): \"\(rest.trimmingSpaces)\" after it is ignored, as ldirectord ignores it")
            }
        }
        // IPv4:PORT and NAME:PORT (the first is a case of the second for this reading).
        let host = value.prefix(while: hostCharacter)
        if !host.isEmpty, value.dropFirst(host.count).first == ":" {
            let port = value.dropFirst(host.count + 1).prefix(while: portCharacter)
            if !port.isEmpty {
                ignoring(value.dropFirst(host.count + 1 + port.count), read: "\(host):\(port)")
                return .address(host: host, port: port)
            }
        }
        if value.first?.isASCIIDigit == true {
            let digits = value.prefix { $0.isASCIIDigit }
            let number = LenientInteger(digits).value ?? 0
            if digits.count != value.count {
                let token = value.prefix { $0 != " " && $0 != "\t" }
                let looksLikeAddress = IPAddress(token.prefix { $0 != ":" }) != nil || token.contains(".")
                warn(
                    line,
                    looksLikeAddress
                        ? "read as firewall mark \(number), as ldirectord reads an address without a port; write \(token.prefix { $0 != ":" }):PORT for an address service, or \(number) for a firewall mark"
                        : "read as firewall mark \(number), as ldirectord reads it; write \(line.name)=\(number)")
            }
            guard number > 0, number <= Int(UInt32.max) else { return .refusedMark(digits: digits) }
            return .mark(UInt32(number))
        }
        if value.first == "[", let close = value.firstIndex(of: "]") {
            let inner = value[value.index(after: value.startIndex)..<close]
            let after = value[value.index(after: close)...]
            let port = after.dropFirst().prefix(while: portCharacter)
            if after.first == ":", !port.isEmpty, inner.allSatisfy({ $0.isHexDigit || $0 == ":" }), !inner.isEmpty {
                if family == .ipv4 {
                    error(line, .wrongAddressFamily(written: "virtual", use: "virtual6"))
                    return .invalid
                }
                guard IPAddress(inner, family: .ipv6) != nil else {
                    invalid(line, "invalid ipv6 address for virtual server", expected: expected)
                    return .invalid
                }
                ignoring(after.dropFirst(1 + port.count), read: "[\(inner)]:\(port)")
                return .address(host: inner, port: port)
            }
            if family == .ipv6, after.first == ":", !port.isEmpty, IPAddress(inner, family: .ipv6) != nil {
                // [::ffff:1.2.3.4]:80, [fe80::1%lo]:80: ldirectord's pattern has no dots or zones.
                ldirectordRefuses(line, "ldirectord refuses this form of IPv6 address")
                return .address(host: inner, port: port)
            }
        }
        invalid(line, "invalid address for virtual server \"\(value)\"", expected: expected)
        return .invalid
    }

    mutating func readVirtualDirective(_ line: ConfigLine, into draft: inout VirtualDraft) {
        guard checkName(line, inVirtual: true) else { return }
        checkQuotes(line)
        if Directive.extensions.contains(String(line.name)) {
            warnOwnDirective(line)
        }
        if let message = Self.repeatWarning(line, seen: &draft.seen, scope: " in this virtual block") {
            warn(line, message)
        }
        let seconds = "a whole number of seconds above 0"
        let largest = Int(Int32.max)
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
        case "checktimeout", "negotiatetimeout":
            // ldirectord takes 0 here for no time limit at all; directord falls back to the
            // other timeout, the global one or the default, as if it were not set.
            let problem = line.name == "checktimeout" ? "invalid check timeout" : "invalid negotiate timeout"
            guard let read = digits(line, problem: problem, expected: seconds), let value = read.value else { break }
            guard read.digits != "0" else {
                invalid(line, "\(problem) \"0\"", expected: seconds)
                break
            }
            var timeout: Int? = min(value, largest)
            if value == 0 {
                warn(
                    line, "\(line.name)=\(read.digits) is read as not set (ldirectord: no time limit at all)",
                    ldirectord: .differs, severe: true)
                timeout = nil
            } else if value > largest {
                warn(line, "\(line.name)=\(read.digits) is read as \(largest), the largest directord takes")
            }
            if line.name == "checktimeout" { draft.checkTimeout = timeout } else { draft.negotiateTimeout = timeout }
        case "checkcount":
            draft.checkCount = number(
                line, problem: "invalid check count", expected: "a whole number above 0", range: 1...largest,
                zeroMeans: "no ping attempt at all")
            warn(line, "checkcount option is deprecated and slated for removal.  please see 'failurecount'")
        case "failurecount":
            draft.failureCount = number(
                line, problem: "invalid failure count", expected: "a whole number above 0", range: 1...largest)
        case "checkinterval":
            draft.checkInterval = number(
                line, problem: "invalid checkinterval", expected: seconds, range: 1...largest,
                zeroMeans: "checks one round after the other without a pause")
            draft.checkIntervalLine = line
        case "checkport":
            let expected = "checkport must be in range 1..65535"
            if let read = digits(line, problem: "invalid port", expected: expected), let value = read.value {
                guard (1...65535).contains(value) else {
                    invalid(line, "checkport must be in range 1..65536", expected: expected)
                    break
                }
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
            if let value = scheduler(line, into: &draft) { draft.service.scheduler = value }
        case "persistent":
            if let read = digits(
                line, problem: "invalid persistent timeout",
                expected: "a whole number of seconds from 1 to 2678400 (31 days; the kernel's limit)"),
                let value = read.value
            {
                if (1...2_678_400).contains(value) {
                    draft.persistentTimeout = UInt32(value)
                } else {
                    draft.persistentTimeout = 1
                    draft.refusals.append(
                        (
                            line,
                            "ipvsadm refuses persistent=\(read.digits): the timeout must be from 1 to 2678400 s (31 days)",
                            String(line.text)
                        ))
                }
            }
        case "schedflags":
            readSchedulerFlags(line, into: &draft)
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
                } else if value.split(separator: ".", omittingEmptySubsequences: false).count == 4,
                    value.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(\.isAllDigits)
                {
                    // ldirectord checks only the shape; ipvsadm refuses an octet above 255 or
                    // one written with a leading zero.
                    draft.netmask = (UInt32.max, line)
                    draft.refusals.append((line, "ipvsadm refuses netmask=\(value)", String(line.text)))
                } else {
                    invalid(
                        line, "invalid netmask: dotted quad notation is required",
                        expected: "a mask such as 255.255.255.0")
                }
                if line.ldirectordValue != value {
                    ldirectordRefuses(line, "ldirectord needs the netmask alone, with nothing after it")
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
            draft.emailAlertFrequency = emailAlertFrequency(line)
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
        case "risecount", "downinterval", "maxejection", "slowstart", "draintimeout", "agentport", "agentinterval",
            "checkpath":
            draft.policy = readPolicyDirective(line, draft.policy)
        case "httpstatus":
            if let text = unquoted(line) {
                if let set = HTTPStatusSet(text) {
                    draft.service.httpStatus = set
                } else {
                    invalid(
                        line, "invalid httpstatus \"\(text)\"",
                        expected: "status codes and ranges from 100 to 599, such as 200-299,301,302")
                }
            }
        case "httpheader":
            readHTTPHeader(line, into: &draft)
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
}
