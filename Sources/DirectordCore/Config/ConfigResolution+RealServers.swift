/// Phase 2 for real servers: ranges and names expanded, each checked as ldirectord checks it,
/// and the warnings about checks.
extension ParseSession {
    mutating func resolveRealServers(_ draft: VirtualDraft, service: VirtualService) -> [RealServer] {
        var reals: [RealServer] = []
        var position: [IPVSDestination.Key: Int] = [:]
        for line in draft.reals {
            let parsed: RealServerLine
            do {
                parsed = try RealServerLine(line.value)
                if service.family == .ipv6, let close = line.value.utf8.firstIndex(of: UInt8(ascii: "]")),
                    line.value[..<close].utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "%") })
                {
                    ldirectordRefuses(line, "ldirectord refuses this form of IPv6 address (dotted or with a zone)")
                }
                if service.family == .ipv4, line.value.utf8.first == UInt8(ascii: "[") {
                    warn(
                        line,
                        "an IPv4 address in brackets: read as \(parsed.first); ldirectord skips to a later part of the line and reads another address",
                        ldirectord: .differs)
                }
                if parsed.weight == nil, let strings = line.value.utf8.firstIndex(of: UInt8(ascii: "\"")),
                    line.value[strings...].utf8.contains(where: \.isASCIIDigit),
                    line.value[strings...].firstMatch(of: #/[ \t][0-9]/#) != nil
                {
                    // ldirectord's `\s+(\d+)` finds a weight inside the quoted strings.
                    ldirectordRefuses(
                        line,
                        "ldirectord takes \"<blank><digits>\" inside the quoted strings for the weight and refuses the line: write the weight"
                    )
                }
            } catch _ {
                do {
                    let (reading, text, differs) = try RealServerLine.ldirectordReading(of: line.value)
                    parsed = reading
                    warn(
                        line,
                        differs
                            ? "read as \(text) (ldirectord reads the host \"\(line.value.drop { $0 != ":" }.dropFirst(2).prefix(while: \.isASCIIDigit))\", a bogus address, and port 0)"
                            : "read as \(text), as ldirectord reads it (it skips what it does not understand)",
                        ldirectord: differs ? .differs : .same, severe: differs)
                } catch let problem {
                    guard case .format(let message) = problem else { continue }
                    error(line, .invalidRealServer(message))
                    continue
                }
            }
            // ldirectord has no duplicate check: a second line for the same kernel entry edits
            // it, so the last line's definition is the one the kernel keeps. Found in one pass
            // and warned once per earlier line: two copies of a /16 range are 65,536 duplicates
            // (the fuzzer's input took minutes when each one was removed from the list).
            var replaced: [(earlierLine: Int, first: RealServer, count: Int)] = []
            for real in expand(parsed, line: line, service: service) {
                if let earlier = position[real.destinationKey] {
                    let earlierLine = reals[earlier].line
                    if let index = replaced.firstIndex(where: { $0.earlierLine == earlierLine }) {
                        replaced[index].count += 1
                    } else {
                        replaced.append((earlierLine, real, 1))
                    }
                }
                position[real.destinationKey] = reals.count
                reals.append(real)
            }
            for (earlierLine, first, count) in replaced {
                let which =
                    count == 1
                    ? "real server \(first.endpoint) is the kernel entry"
                    : "\(count) real servers (\(first.endpoint) the first) are kernel entries"
                warn(
                    line,
                    "\(which) of line \(earlierLine) too: this line's definition replaces it, as the kernel keeps ldirectord's last edit",
                    severe: true)
            }
        }
        // Each kernel entry once, where its last line puts it.
        return reals.enumerated().filter { position[$0.element.destinationKey] == $0.offset }.map(\.element)
    }

    mutating func expand(_ parsed: RealServerLine, line: ConfigLine, service: VirtualService) -> [RealServer] {
        let family = service.family
        guard let first = resolveHost(parsed.first, family: family, what: "real server", line: line) else { return [] }
        var addresses = [first]
        if let lastText = parsed.last {
            guard family == .ipv4 else {
                invalid(line, "Address range for IPv6 is not supported yet", expected: "one real6 line per address")
                return []
            }
            guard let last = resolveHost(lastText, family: family, what: "end of the real server range", line: line),
                case .v4(let low) = first, case .v4(let high) = last
            else { return [] }
            guard low <= high else {
                invalid(
                    line, "Invalid Range: \(first)-\(last)", expected: "the first address not above the last")
                return []
            }
            if high - low >= UInt32(Self.maximumRangeSize), String(low) > String(high) {
                // ldirectord compares the ends as text and so adds none of a range like this
                // (real=10.0.0.1:80->10.0.0.3, its "80->10.0.0.3"); neither does directord.
                warn(
                    line,
                    "a range of \(UInt64(high - low) + 1) addresses, \(first)->\(last): ldirectord adds none of them (it compares the ends as text), and neither does directord",
                    severe: true)
                return []
            }
            guard high - low < UInt32(Self.maximumRangeSize) else {
                invalid(
                    line, "range \(first)->\(last) has \(UInt64(high - low) + 1) addresses",
                    expected:
                        "at most \(Self.maximumRangeSize) addresses in one range (a larger one is a typo: ldirectord would take hours to read it)"
                )
                return []
            }
            if String(low).count != String(high).count {
                warn(
                    line,
                    "ldirectord compares the range's ends as text (\(low) and \(high)) and adds \(String(low) <= String(high) ? "only some" : "none") of these addresses; directord adds all \(UInt64(high - low) + 1)",
                    ldirectord: .differs)
            }
            addresses = (low...high).map { IPAddress.v4($0) }
        }
        var configuredPort: UInt16?
        if let text = parsed.port {
            guard let port = resolvePort(text, protocol: nil, what: "real server", line: line) else { return [] }
            configuredPort = port
        }
        let kernelPort: UInt16
        if case .inet(_, _, let virtualPort) = service.key, parsed.forwarding.keepsVirtualPort {
            kernelPort = virtualPort
            if let configuredPort, configuredPort != 0, configuredPort != virtualPort {
                warn(
                    line,
                    "\(parsed.forwarding.rawValue) forwards to the virtual service's port \(virtualPort), not \(configuredPort) (as ipvsadm does); checks still use port \(configuredPort)"
                )
            }
        } else {
            kernelPort = configuredPort ?? 0
        }
        let checkPort =
            service.checkPort ?? configuredPort.flatMap { $0 > 0 ? $0 : nil } ?? service.service.wellKnownPort

        var request = service.request
        var receive = service.receive
        var own = OwnCheckStrings.none
        var lowerThreshold = parsed.lowerThreshold ?? 0
        var upperThreshold = parsed.upperThreshold ?? 0
        if let ownRequestText = parsed.request, let ownReceive = parsed.receive {
            if parsed.lostAfterRequest {
                // ldirectord's add_real_server tests `$request =~ /^\//`; that match succeeds and
                // resets $2 and $3, so the receive string and everything after it are lost: the
                // check keeps this request but the virtual's receive string and URL.
                request = String(ownRequestText)
                own = .requestOnly
                lowerThreshold = 0
                upperThreshold = 0
                warn(
                    line,
                    "ldirectord loses the receive string \"\(ownReceive)\"\(parsed.lowerThreshold != nil || parsed.upperThreshold != nil ? " and the l:/u: thresholds" : "") of a real server whose request starts with \"/\"; its HTTP check uses the virtual's request and receive string. directord reads it the same way; write \"\(ownRequestText.dropFirst())\" without the leading \"/\" to have them used"
                )
            } else {
                request = "/" + ownRequestText
                receive = String(ownReceive)
                own = .requestAndReceive
            }
        }
        // What the kernel refuses, ldirectord runs without: the entry stays out, the rest runs.
        var refusal: String?
        let weight = parsed.weight ?? 1
        // The kernel takes any weight that fits its signed 32 bits (ipvsadm too: 70000 works).
        if weight > Int(Int32.max) {
            refusal = "the kernel refuses weight \(weight): it must be from 0 to 2147483647"
        } else if max(lowerThreshold, upperThreshold) > Int(Int32.max) {
            refusal = "the kernel refuses a threshold above 2147483647"
        } else if lowerThreshold > upperThreshold {
            refusal =
                "the kernel refuses l:\(lowerThreshold) above u:\(upperThreshold) (0, no limit, counts as below it)"
        }
        if let refusal {
            warn(
                line, "\(refusal); this real server is not run, the others are (as ldirectord runs without it)",
                severe: true)
        }

        let ownRequest = own == .requestAndReceive
        let urlRequest = ownRequest ? request : service.request
        return addresses.map { address in
            var real = RealServer(
                line: line.number, address: address, port: kernelPort, configuredPort: configuredPort,
                forwarding: parsed.forwarding, weight: weight, checkPort: checkPort,
                request: request, receive: receive,
                checkURL: Self.checkURL(
                    service: service.service, request: urlRequest, ownRequest: ownRequest, address: address,
                    port: checkPort))
            // A refused entry keeps its values, its weight unclamped too (it never reaches the
            // kernel), so that printing the configuration back gives the same refusal: a weight
            // clamped to 2147483647 printed back to a server that ran (found by the fuzzer).
            real.lowerThreshold = UInt32(clamping: lowerThreshold)
            real.upperThreshold = UInt32(clamping: upperThreshold)
            real.ownCheckStrings = own
            real.refusal = refusal
            return real
        }
    }

    /// The URL ldirectord's `ld_setup` builds for HTTP checks. A per-real request that already
    /// holds `SCHEME://` is used as it is; for http_proxy the virtual's request is the URL.
    static func checkURL(
        service: ServiceType, request: String, ownRequest: Bool, address: IPAddress, port: UInt16?
    ) -> String {
        let scheme = service == .httpProxy ? "http" : service.rawValue
        let uri = request.hasPrefix("/") ? String(request.dropFirst()) : request
        if ownRequest ? request.contains("\(scheme)://") : service == .httpProxy {
            return uri
        }
        let portText = port.map { ":\($0)" } ?? ":"
        return "\(scheme)://\(address.bracketed)\(portText)/\(uri)"
    }

    // MARK: Warnings about checks

    mutating func warnAboutChecks(_ service: VirtualService, draft: VirtualDraft) {
        let line = draft.line
        let usesNegotiate: Bool
        switch service.checkType {
        case .negotiate, .combined: usesNegotiate = true
        default: usesNegotiate = false
        }
        if usesNegotiate && service.service == .none {
            let why: String
            switch service.key {
            case .firewallMark: why = "a firewall-mark service has service=none unless one is given"
            case .inet(_, _, let port): why = "port \(port) implies no service"
            }
            warn(
                line: line.number, text: String(line.text),
                "real servers of \(service.id) are never checked and always count as up: checktype=\(service.checkType.configValue) with service=none (\(why)); set service= or another checktype"
            )
        }
        if usesNegotiate && service.service == .oracle {
            warn(
                line: line.number, text: String(line.text),
                "service=oracle is not negotiated by directord: its checks are a TCP connect only (ldirectord needs Perl's DBD::Oracle, which Debian does not ship, and dies on the first check)"
            )
        }
        let sendsHTTP = usesNegotiate && [.http, .https, .httpProxy].contains(service.service)
        if !sendsHTTP && (service.httpStatus != nil || !service.httpHeaders.isEmpty) {
            warn(
                line: line.number, text: String(line.text),
                "httpstatus and httpheader have no effect in \(service.id): its checks are not HTTP requests (checktype=\(service.checkType.configValue), service=\(service.service.rawValue))"
            )
        }
        if service.checkThroughForwarding {
            if let why = service.forwardingPathUnsupported {
                warn(
                    line: line.number, text: String(line.text),
                    "checkpath=forwarding: the real servers of \(service.id) are checked directly: \(why)")
            } else if let real = service.realServers.first(where: { ![.gate, .ipip].contains($0.forwarding) }) {
                warn(
                    line: real.line,
                    "checkpath=forwarding: \(real.address.bracketed) is checked directly: only direct routing (gate) and tunnelled (ipip) real servers have a forwarding path to check"
                )
            }
        }
        if draft.policy.agentInterval != nil && service.agentPort == nil {
            warn(
                line: line.number, text: String(line.text),
                "agentinterval has no effect in \(service.id) without agentport")
        }
        if service.slowStart != nil, Scheduler.hashing.contains(service.scheduler.rawValue) {
            warn(
                line: line.number, text: String(line.text),
                "slowstart does not ramp the real servers of \(service.id): scheduler=\(service.scheduler) hashes clients to servers by weight, and each step would move clients between servers"
            )
        }
        if case .external = service.checkType, service.checkCommand == "/bin/true" {
            warn(
                line: line.number, text: String(line.text),
                "checktype=external without checkcommand runs /bin/true: real servers of \(service.id) always count as up"
            )
        }
        let needsPort: Bool
        switch service.checkType {
        case .connect: needsPort = service.protocol != .udp
        case .negotiate, .combined: needsPort = service.service != .none
        default: needsPort = false
        }
        if needsPort, let real = service.realServers.first(where: { $0.checkPort == nil }) {
            warn(
                line: real.line,
                "the check of real server \(real.address) has no port: give the real server a port, checkport= or a service=; until then its checks fail"
            )
        }
        if service.realServers.isEmpty && draft.reals.isEmpty {
            warn(line: line.number, text: String(line.text), "virtual service \(service.id) has no real servers")
        }
    }
}
