/// Prints a configuration back as an ldirectord.cf with every value resolved: addresses and
/// ports numeric, ranges expanded, each virtual service's merged values written in its block.
///
/// The output is stable (same configuration, same bytes) and parses back to an equal
/// configuration. Unless directord's extensions (`cafile`, `sniname`) are used, ldirectord
/// reads it with the same meaning.
public enum ConfigPrinter {
    public static func print(_ configuration: Configuration) -> String {
        var out: [String] = []
        let globals = configuration.globals
        out.append("# Global directives")
        out.append("checkinterval=\(globals.checkInterval)")
        out.append("autoreload=\(yesNo(globals.autoreload))")
        if let callback = globals.callback { out.append("callback=\(quoted(callback))") }
        out.append("logfile=\(quoted(globals.logTarget.configValue))")
        for file in globals.execute { out.append("execute=\(bare(file))") }
        out.append("fork=\(yesNo(globals.fork))")
        out.append("supervised=\(yesNo(globals.supervised))")
        out.append("readdquiescent=\(yesNo(globals.readdQuiescent))")
        if let directory = globals.maintenanceDirectory { out.append("maintenancedir=\(bare(directory))") }
        if let from = globals.emailAlertFrom { out.append("emailalertfrom=\(bare(from))") }
        // directord's own directive: written only when it differs from the default, so that a
        // file without it prints to one ldirectord reads.
        if !globals.repair { out.append("repair=no") }
        if let interval = globals.repairInterval { out.append("repairinterval=\(interval)") }
        if let metrics = globals.metrics { out.append("metrics=\(metrics)") }
        let sync = globals.connectionSync
        if let mode = sync.mode { out.append("syncdaemon=\(mode.rawValue)") }
        if let interface = sync.interface { out.append("syncinterface=\(bare(interface))") }
        if let value = sync.syncID { out.append("syncid=\(value)") }
        if let value = sync.group { out.append("syncgroup=\(value)") }
        if let value = sync.port { out.append("syncport=\(value)") }
        if let value = sync.ttl { out.append("syncttl=\(value)") }
        if let value = sync.maxLength { out.append("syncmaxlen=\(value)") }

        let defaults = globals.defaults
        if let value = defaults.checkTimeout { out.append("checktimeout=\(value)") }
        if let value = defaults.negotiateTimeout { out.append("negotiatetimeout=\(value)") }
        if let value = defaults.checkCount, value != 1 { out.append("checkcount=\(value)") }
        if let value = defaults.failureCount { out.append("failurecount=\(value)") }
        if let value = defaults.quiescent { out.append("quiescent=\(yesNo(value))") }
        if let value = defaults.cleanStop { out.append("cleanstop=\(yesNo(value))") }
        if let value = defaults.fallback { out.append("fallback=\(fallbackText(value))") }
        if let value = defaults.fallback6 { out.append("fallback6=\(fallbackText(value))") }
        if let value = defaults.fallbackCommand { out.append("fallbackcommand=\(bare(value))") }
        if let value = defaults.emailAlert { out.append("emailalert=\(bare(value))") }
        if let value = defaults.emailAlertFrequency { out.append("emailalertfreq=\(value)") }
        if let value = defaults.emailAlertStatus { out.append("emailalertstatus=\(value.configValue)") }
        if let value = defaults.smtp { out.append("smtp=\(value)") }
        if let value = defaults.policy.riseCount { out.append("risecount=\(value)") }
        if let value = defaults.policy.downInterval { out.append("downinterval=\(value)") }
        if let value = defaults.policy.maxEjection { out.append("maxejection=\(value)") }
        if let value = defaults.policy.slowStart { out.append("slowstart=\(value)") }
        if let value = defaults.policy.drainTimeout { out.append("draintimeout=\(value)") }
        if let value = defaults.policy.agentPort { out.append("agentport=\(value)") }
        if let value = defaults.policy.agentInterval { out.append("agentinterval=\(value)") }
        if let value = defaults.policy.checkThroughForwarding {
            out.append("checkpath=\(value ? "forwarding" : "direct")")
        }

        for service in configuration.virtualServices {
            out.append("")
            block(service, fork: globals.fork, defaults: globals.defaults, into: &out)
        }
        return out.joined(separator: "\n") + "\n"
    }

    static func block(
        _ service: VirtualService, fork: Bool, defaults: GlobalSettings.Defaults = .init(), into out: inout [String]
    ) {
        let v6 = service.family == .ipv6
        let suffix = v6 ? "6" : ""
        func add(_ line: String) { out.append("\t" + line) }
        // A block's line is read with its own rules (a vertical tab after "=" is trimmed
        // there, say): values are written in the form that reads back on such a line.
        func bare(_ value: String) -> String { encoded(value, preferQuoted: false, inBlock: true) }
        func quoted(_ value: String) -> String { encoded(value, preferQuoted: true, inBlock: true) }

        out.append("virtual\(suffix)=\(service.refusedMark ?? "\(service.key)")")
        // First, so that the same one is refused first when the file is read again; the lines
        // below may repeat a refusal (an unknown scheduler), never precede it.
        for directive in service.refusedDirectives { add(directive) }
        for real in service.realServers {
            var line = "real\(suffix)=\(real.address.bracketed)"
            if let port = real.configuredPort { line += ":\(port)" }
            line += " \(real.forwarding.rawValue) \(real.weight)"
            switch real.ownCheckStrings {
            case .none: break
            // The parser added the "/"; written without it, both strings are used.
            case .requestAndReceive: line += " \"\(real.request.dropFirst())\", \"\(real.receive)\""
            // Written with it, ldirectord's reading comes back and the receive string is lost,
            // so an empty one is printed: it cannot hold a separator that would move the split.
            case .requestOnly: line += " \"\(real.request)\", \"\""
            }
            if real.lowerThreshold > 0 { line += " l:\(real.lowerThreshold)" }
            if real.upperThreshold > 0 { line += " u:\(real.upperThreshold)" }
            add(line)
        }
        if let fallback = service.fallback { add("fallback\(suffix)=\(fallbackText(fallback))") }
        add("protocol=\(service.protocol.rawValue)")
        add("scheduler=\(service.scheduler)")
        let flags = service.schedulerFlags.names(for: service.scheduler)
        if !flags.isEmpty { add("schedflags=\(flags.joined(separator: ","))") }
        if let persistence = service.persistence {
            add("persistent=\(persistence.timeout)")
            add("netmask=\(persistence.netmaskText(for: service.family))")
        }
        if service.onePacket { add("ops=yes") }

        add("checktype=\(service.checkType.configValue)")
        // Written only when the port does not imply it: service=ftp and service=sip, when
        // written, fill in default logins, which are printed explicitly below anyway.
        let impliedService: ServiceType =
            switch service.key {
            case .inet(_, _, let port): .implied(byPort: port)
            case .firewallMark: .none
            }
        if service.service != impliedService { add("service=\(service.service.rawValue)") }
        if service.checkCommand != "/bin/true" { add("checkcommand=\(bare(service.checkCommand))") }
        if let port = service.checkPort { add("checkport=\(port)") }
        add("request=\(quoted(service.request))")
        if !service.receive.isEmpty { add("receive=\(quoted(service.receive))") }
        add("httpmethod=\(service.httpMethod.rawValue)")
        if let host = service.virtualHost { add("virtualhost=\(quoted(host))") }
        if !service.login.isEmpty { add("login=\(quoted(service.login))") }
        if !service.password.isEmpty { add("passwd=\(quoted(service.password))") }
        if !service.database.isEmpty { add("database=\(quoted(service.database))") }
        if !service.secret.isEmpty { add("secret=\(quoted(service.secret))") }
        if let load = service.load { add("load=\(quoted(load))") }
        if let caFile = service.caFile { add("cafile=\(bare(caFile))") }
        if let sniName = service.sniName { add("sniname=\(bare(sniName))") }
        if let status = service.httpStatus { add("httpstatus=\(status)") }
        for header in service.httpHeaders { add("httpheader=\(bare(header))") }

        add("checktimeout=\(service.checkTimeout)")
        add("negotiatetimeout=\(service.negotiateTimeout)")
        // Written also at the built-in value when a global one differs: the block's own 1 would
        // otherwise read back as the global value (the fuzzer found risecount so).
        if service.checkCount != 1 || (defaults.checkCount ?? 1) != 1 { add("checkcount=\(service.checkCount)") }
        add("failurecount=\(service.failureCount)")
        // directord's own: written only where set, so that a file without them prints to one
        // ldirectord reads.
        if service.riseCount != 1 || defaults.policy.riseCount != nil { add("risecount=\(service.riseCount)") }
        if let value = service.downInterval { add("downinterval=\(value)") }
        if let value = service.maxEjection { add("maxejection=\(value)") }
        if let value = service.slowStart { add("slowstart=\(value)") }
        if let value = service.drainTimeout { add("draintimeout=\(value)") }
        if let value = service.agentPort { add("agentport=\(value)") }
        if let value = service.agentInterval { add("agentinterval=\(value)") }
        if service.checkThroughForwarding || defaults.policy.checkThroughForwarding == true {
            add("checkpath=\(service.checkThroughForwarding ? "forwarding" : "direct")")
        }
        if fork { add("checkinterval=\(service.checkInterval)") }
        add("quiescent=\(yesNo(service.quiescent))")
        add("cleanstop=\(yesNo(service.cleanStop))")
        // A value the block inherits from a global one that a block line cannot hold (a tab,
        // which ldirectord makes four spaces in a block) is left to be inherited again.
        func inherited(_ name: String, _ value: String, global: String?) {
            if value == global && !readsBack(value, inBlock: true) { return }
            add("\(name)=\(bare(value))")
        }
        if let command = service.fallbackCommand {
            inherited("fallbackcommand", command, global: defaults.fallbackCommand)
        }
        if let alert = service.emailAlert {
            inherited("emailalert", alert.recipients, global: defaults.emailAlert)
            add("emailalertfreq=\(alert.frequency)")
            add("emailalertstatus=\(alert.statuses.configValue)")
            if let smtp = alert.smtp { inherited("smtp", smtp, global: defaults.smtp) }
        }
        if let file = service.monitorFile { add("monitorfile=\(bare(file))") }
        if let name = service.serviceName { add("servicename=\(bare(name))") }
        if let comment = service.comment { add("comment=\(bare(comment))") }
    }

    static func fallbackText(_ fallback: FallbackServer) -> String {
        let port = fallback.port.map { ":\($0)" } ?? ""
        return "\(fallback.address.bracketed)\(port) \(fallback.forwarding.rawValue)"
    }

    static func yesNo(_ value: Bool) -> String { value ? "yes" : "no" }

    /// Quoted, as ldirectord requires for request, receive, login and the like.
    static func quoted(_ value: String) -> String { encoded(value, preferQuoted: true) }

    /// Bare, where ldirectord would keep quotes as part of the value.
    static func bare(_ value: String) -> String { encoded(value, preferQuoted: false) }

    /// The preferred form of the value if it reads back as the same value, else the other.
    /// Every value the parser produced came from one of the two forms, so one always works:
    /// a value holding both `"` and `#` may only survive one of them.
    static func encoded(_ value: String, preferQuoted: Bool, inBlock: Bool = false) -> String {
        let quotedForm = "\"\(value)\""
        let candidates = preferQuoted ? [quotedForm, value] : [value, quotedForm]
        return candidates.first { readsBack($0, as: value, inBlock: inBlock) } ?? candidates[0]
    }

    /// Whether `value` written bare or quoted on a block's line reads back as itself.
    static func readsBack(_ value: String, inBlock: Bool) -> Bool {
        [value, "\"\(value)\""].contains { readsBack($0, as: value, inBlock: inBlock) }
    }

    static func readsBack(_ text: String, as value: String, inBlock: Bool = false) -> Bool {
        let line = ConfigLine(number: 1, raw: Substring((inBlock ? "\t" : "") + "x=" + text))
        let read = UnquotedValue(line.value)
        // A global line whose value ldirectord sees as empty (only Perl blanks, a vertical
        // tab say, after "=") is an error whatever directord reads: see globalText.
        if !inBlock && !value.isEmpty && line.ldirectordValue?.isEmpty != false { return false }
        return !read.isUnterminated && read.trailing.isEmpty && read.text == value
    }
}
