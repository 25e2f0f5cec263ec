extension ParseSession {
    /// Phase 2: resolves names, merges defaults, expands ranges and checks what only the whole
    /// file can tell (duplicates, services that will never be checked).
    mutating func resolve() -> Configuration {
        checkSyncDirectives()
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
        let context = memoryContext
        rememberedBlocks.context = context
        for draft in drafts {
            guard var service = resolveVirtualRemembering(draft, context: context) else { continue }
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
        if let percent = text.utf8.firstIndex(of: UInt8(ascii: "%")) {
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
        resolverLookups += 1
        if let address = resolver.addresses(ofHost: String(text), family: family).first { return address }
        error(line, .unresolvableHost(String(text), what: what, family: family))
        return nil
    }

    /// ldirectord's `ld_getservbyname`: a number below 65536, or a service name.
    mutating func resolvePort(_ text: Substring, protocol: String?, what: String, line: ConfigLine) -> UInt16? {
        if text.isAllDigits {
            // Leading zeros are fine: ldirectord only checks the number (`$port < 65536`).
            if let port = LenientInteger(text).value, port <= 65535 { return UInt16(port) }
        } else {
            resolverLookups += 1
            if let port = resolver.port(ofService: String(text), protocol: `protocol`) { return port }
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
            service.refusedMark = String(digits)
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
        for (refusalLine, why, directive) in draft.refusals {
            refuse(&service, refusalLine, why)
            // Once each: the printer writes an unknown scheduler both here and as the
            // service's scheduler, and reading it back must give the same list.
            if !service.refusedDirectives.contains(directive) { service.refusedDirectives.append(directive) }
        }
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
        service.riseCount = draft.policy.riseCount ?? global.policy.riseCount ?? 1
        service.downInterval = draft.policy.downInterval ?? global.policy.downInterval
        service.maxEjection = draft.policy.maxEjection ?? global.policy.maxEjection
        service.slowStart = draft.policy.slowStart ?? global.policy.slowStart
        service.drainTimeout = draft.policy.drainTimeout ?? global.policy.drainTimeout
        service.agentPort = (draft.policy.agentPort ?? global.policy.agentPort).map { UInt16($0) }
        service.agentInterval = draft.policy.agentInterval ?? global.policy.agentInterval
        service.checkThroughForwarding =
            draft.policy.checkThroughForwarding ?? global.policy.checkThroughForwarding ?? false
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
                ldirectordRefuses(
                    fallbackLine,
                    "ldirectord cannot resolve the port name \(port) for a firewall-mark service and refuses it")
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
}
