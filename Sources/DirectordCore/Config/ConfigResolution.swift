extension ParseSession {
    /// Phase 2: resolves names, merges defaults, expands ranges and checks what only the whole
    /// file can tell (duplicates, services that will never be checked).
    mutating func resolve() -> Configuration {
        for (family, (spec, line)) in globalFallback {
            // ldirectord resolves a global fallback for tcp and udp at once; a name that
            // resolves for neither is an error even when no virtual service uses it.
            guard let fallback = resolveFallback(spec, line: line, family: family, protocol: "tcp"),
                resolveFallback(spec, line: line, family: family, protocol: "udp") != nil
            else { continue }
            if family == .ipv4 { globals.defaults.fallback = fallback } else { globals.defaults.fallback6 = fallback }
        }
        var services: [VirtualService] = []
        var firstLine: [ServiceKey: Int] = [:]
        var ldirectordIDs: Set<String> = []
        for draft in drafts {
            guard var service = resolveVirtual(draft) else { continue }
            // ldirectord compares its ids as text, so it refuses `:80` twice but not `:80` and
            // `:080`, which are one kernel service.
            let writtenID: String
            switch (draft.target, service.key) {
            case (.address(_, let port), .inet(_, let address, _)) where port.isAllDigits:
                writtenID = "\(service.protocol.rawValue):\(address.bracketed):\(port)"
            case (.mark, _), (.refusedMark, _):
                writtenID = "\(service.id.prefix { $0 != ":" }):\(LenientInteger(draft.line.value).digits)"
            default:
                writtenID = service.id
            }
            if !ldirectordIDs.insert(writtenID).inserted {
                error(draft.line, .duplicateVirtualService(id: service.id, firstLine: firstLine[service.key] ?? 0))
                continue
            }
            if service.refusal == nil, let first = firstLine[service.key] {
                service.refusal = "the same kernel service as line \(first), which directord runs"
                warn(
                    draft.line,
                    "\(service.id) is the same kernel service as line \(first): only that one runs (ldirectord makes both edit one service)",
                    ldirectord: .differs, severe: true)
            }
            if service.refusal == nil { firstLine[service.key] = draft.line.number }
            services.append(service)
        }
        return Configuration(globals: globals, virtualServices: services)
    }

    // MARK: Names

    /// A numeric address, or the first address a name resolves to in the family.
    mutating func resolveHost(
        _ text: Substring, family: AddressFamily, what: String, line: ConfigLine
    ) -> IPAddress? {
        if let percent = text.firstIndex(of: "%") {
            // ldirectord refuses it too; said rather than the zone dropped without a word.
            invalid(
                line, "\(text): an IPv6 zone (\(text[percent...])) cannot be used for the \(what)",
                expected: "an address without a zone: IPVS keeps no scope for a service or a destination")
            return nil
        }
        if let address = IPAddress(text, family: family) { return address }
        if let other = IPAddress(text), other.family != family {
            invalid(
                line, "\(text) is an \(other.family == .ipv4 ? "IPv4" : "IPv6") address",
                expected: family == .ipv4
                    ? "an IPv4 address: IPv6 services are written virtual6=, real6=, fallback6="
                    : "an IPv6 address in brackets: IPv4 services are written virtual=, real=, fallback=")
            return nil
        }
        if let address = resolver.addresses(ofHost: String(text), family: family).first { return address }
        error(line, .unresolvableHost(String(text), what: what, family: family))
        return nil
    }

    /// ldirectord's `ld_getservbyname`: a number below 65536, or a service name.
    mutating func resolvePort(_ text: Substring, protocol: String?, what: String, line: ConfigLine) -> UInt16? {
        if text.isAllDigits {
            // Leading zeros are fine: ldirectord only checks the number (`$port < 65536`).
            if let port = LenientInteger(text).value, port <= 65535 { return UInt16(port) }
        } else if let port = resolver.port(ofService: String(text), protocol: `protocol`) {
            return port
        }
        error(line, .unresolvablePort(String(text), what: what))
        return nil
    }

    mutating func resolveFallback(
        _ spec: FallbackSpec, line: ConfigLine, family: AddressFamily, protocol: String
    ) -> FallbackServer? {
        guard let address = resolveHost(spec.host, family: family, what: "fallback server", line: line) else {
            return nil
        }
        var port: UInt16?
        if let text = spec.port {
            guard let resolved = resolvePort(text, protocol: `protocol`, what: "fallback server", line: line) else {
                return nil
            }
            port = resolved
        }
        return FallbackServer(address: address, port: port, forwarding: spec.forwarding)
    }

    // MARK: Virtual services

    mutating func resolveVirtual(_ draft: VirtualDraft) -> VirtualService? {
        var service = draft.service
        let line = draft.line
        switch draft.target {
        case .invalid:
            return nil
        case .mark(let mark):
            service.key = .firewallMark(mark, draft.family)
        case .refusedMark(let digits):
            service.key = .firewallMark(UInt32(clamping: LenientInteger(digits).value ?? 0), draft.family)
            refuse(&service, line, "ipvsadm refuses firewall mark \(digits): it must be from 1 to 4294967295")
        case .address(let host, let portText):
            // ldirectord makes port 53 (written "53" or "domain") a UDP service.
            let implied: ServiceProtocol = portText == "53" || portText == "domain" ? .udp : .tcp
            let proto = draft.protocolWritten ?? implied
            guard let address = resolveHost(host, family: draft.family, what: "virtual server", line: line),
                let port = resolvePort(portText, protocol: proto.rawValue, what: "virtual server", line: line)
            else { return nil }
            service.key = .inet(proto == .udp ? .udp : .tcp, address, port: port)
            if !draft.serviceWritten {
                service.service = .implied(byPort: port)
                if portText.first == "0", portText.count > 1, portText.isAllDigits, service.service != .none {
                    warn(
                        line,
                        "port \(portText) implies service=\(service.service.rawValue); ldirectord compares the text with \(port), implies service=none and never checks the real servers",
                        ldirectord: .differs)
                }
            }
        }

        if let timeout = draft.persistentTimeout {
            service.persistence = Persistence(
                timeout: timeout, netmask: draft.netmask?.0 ?? Persistence.defaultNetmask(for: draft.family))
        } else if let (_, netmaskLine) = draft.netmask {
            warn(netmaskLine, "netmask has no effect without persistent=, as in ldirectord")
        }
        if case .inet(_, _, 0) = service.key, service.persistence == nil {
            refuse(
                &service, line,
                "ipvsadm refuses port 0 (every port) without persistent=: add persistent=SECONDS to this block")
        }
        for (refusalLine, why) in draft.refusals { refuse(&service, refusalLine, why) }
        if service.onePacket, service.protocol != .udp {
            service.onePacket = false
            if let opsLine = draft.opsLine {
                warn(opsLine, "one-packet scheduling is only for UDP services; ldirectord ignores it here")
            }
        }

        mergeDefaults(draft, into: &service)
        service.fallback = resolvedFallback(for: draft, service: service)
        service.realServers = resolveRealServers(draft, service: service)
        warnAboutChecks(service, draft: draft)
        return service
    }

    /// Keeps the service out of the table: what ldirectord runs without (`ipvsadm` or the
    /// kernel refuses it at start), said loudly.
    mutating func refuse(_ service: inout VirtualService, _ line: ConfigLine, _ why: String) {
        warn(line, "\(why); the service is not run, the others are (as ldirectord runs without it)", severe: true)
        if service.refusal == nil { service.refusal = why }
    }

    /// ldirectord's `ld_setup`: checktimeout and negotiatetimeout fall back to each other, then
    /// to the globals in the same crossed order, then to 5 and 30.
    mutating func mergeDefaults(_ draft: VirtualDraft, into service: inout VirtualService) {
        let global = globals.defaults
        service.checkTimeout =
            draft.checkTimeout ?? draft.negotiateTimeout ?? global.checkTimeout ?? global.negotiateTimeout ?? 5
        service.negotiateTimeout =
            draft.negotiateTimeout ?? draft.checkTimeout ?? global.negotiateTimeout ?? global.checkTimeout ?? 30
        service.checkCount = draft.checkCount ?? global.checkCount ?? 1
        service.failureCount = draft.failureCount ?? global.failureCount ?? 1
        service.quiescent = draft.quiescent ?? global.quiescent ?? false
        service.cleanStop = draft.cleanStop ?? global.cleanStop ?? true
        service.fallbackCommand = draft.fallbackCommand ?? global.fallbackCommand
        if globals.fork {
            service.checkInterval = draft.checkInterval ?? globals.checkInterval
        } else {
            service.checkInterval = globals.checkInterval
            if let intervalLine = draft.checkIntervalLine {
                warn(intervalLine, "checkinterval in virtual service \(service.id) ignored when fork=no")
            }
        }
        if let recipients = draft.emailAlert ?? global.emailAlert {
            service.emailAlert = EmailAlert(
                recipients: recipients,
                frequency: draft.emailAlertFrequency ?? global.emailAlertFrequency ?? 0,
                statuses: draft.emailAlertStatus ?? global.emailAlertStatus ?? .all,
                smtp: draft.smtp ?? global.smtp)
        }
    }

    /// The virtual's own fallback, else the global one of its family, with the virtual's port
    /// where none was written (ldirectord's `fallback_find`). ldirectord loses the global
    /// fallback of a firewall-mark service; directord applies it.
    mutating func resolvedFallback(for draft: VirtualDraft, service: VirtualService) -> FallbackServer? {
        let proto = service.protocol == .udp ? "udp" : "tcp"
        var fallback: FallbackServer?
        if let (spec, fallbackLine) = draft.fallback {
            if service.protocol == .fwm, let port = spec.port, !port.isAllDigits {
                ldirectordRefuses(fallbackLine, "ldirectord cannot resolve the port name \(port) for a firewall-mark service and refuses it")
            }
            fallback = resolveFallback(spec, line: fallbackLine, family: draft.family, protocol: proto)
        } else if let (spec, fallbackLine) = globalFallback[draft.family] {
            // Re-resolved for this protocol: a service name's port can differ between tcp and udp.
            let errorsBefore = errors.count
            fallback = resolveFallback(spec, line: fallbackLine, family: draft.family, protocol: proto)
            // Already reported while resolving the global line.
            if errors.count > errorsBefore { errors.removeLast(errors.count - errorsBefore) }
        }
        if fallback != nil && fallback?.port == nil { fallback?.port = service.key.port }
        return fallback
    }

    // MARK: Real servers

    mutating func resolveRealServers(_ draft: VirtualDraft, service: VirtualService) -> [RealServer] {
        var reals: [RealServer] = []
        var position: [IPVSDestination.Key: Int] = [:]
        for line in draft.reals {
            let parsed: RealServerLine
            do {
                parsed = try RealServerLine(line.value)
                if service.family == .ipv6, let close = line.value.firstIndex(of: "]"),
                    line.value[..<close].contains(where: { $0 == "." || $0 == "%" })
                {
                    ldirectordRefuses(line, "ldirectord refuses this form of IPv6 address (dotted or with a zone)")
                }
                if service.family == .ipv4, line.value.first == "[" {
                    warn(
                        line, "an IPv4 address in brackets: read as \(parsed.first); ldirectord skips to a later part of the line and reads another address",
                        ldirectord: .differs)
                }
                if parsed.weight == nil, let strings = line.value.firstIndex(of: "\""),
                    line.value[strings...].contains(where: \.isASCIIDigit),
                    line.value[strings...].firstMatch(of: #/[ \t][0-9]/#) != nil
                {
                    // ldirectord's `\s+(\d+)` finds a weight inside the quoted strings.
                    ldirectordRefuses(line, "ldirectord takes \"<blank><digits>\" inside the quoted strings for the weight and refuses the line: write the weight")
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
            for real in expand(parsed, line: line, service: service) {
                // ldirectord has no duplicate check: a second line for the same kernel entry
                // edits it, so the last line's definition is the one the kernel keeps.
                if let earlier = position[real.destinationKey] {
                    warn(
                        line,
                        "real server \(real.endpoint) is the kernel entry of line \(reals[earlier].line) too: this line's definition replaces it, as the kernel keeps ldirectord's last edit",
                        severe: true)
                    reals.remove(at: earlier)
                    position = Dictionary(uniqueKeysWithValues: reals.enumerated().map { ($1.destinationKey, $0) })
                }
                position[real.destinationKey] = reals.count
                reals.append(real)
            }
        }
        return reals
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
                        "at most \(Self.maximumRangeSize) addresses in one range (ldirectord takes days to read that many)")
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
        let checkPort = service.checkPort ?? configuredPort.flatMap { $0 > 0 ? $0 : nil } ?? service.service.wellKnownPort

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
            refusal = "the kernel refuses l:\(lowerThreshold) above u:\(upperThreshold) (0, no limit, counts as below it)"
        }
        if let refusal {
            warn(line, "\(refusal); this real server is not run, the others are (as ldirectord runs without it)", severe: true)
        }

        let ownRequest = own == .requestAndReceive
        let urlRequest = ownRequest ? request : service.request
        return addresses.map { address in
            var real = RealServer(
                line: line.number, address: address, port: kernelPort, configuredPort: configuredPort,
                forwarding: parsed.forwarding, weight: min(weight, Int(Int32.max)), checkPort: checkPort,
                request: request, receive: receive,
                checkURL: Self.checkURL(
                    service: service.service, request: urlRequest, ownRequest: ownRequest, address: address,
                    port: checkPort))
            // A refused entry keeps its values (it never reaches the kernel), so that printing
            // the configuration back gives the same refusal.
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
