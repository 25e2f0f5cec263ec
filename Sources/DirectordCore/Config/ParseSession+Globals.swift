/// The global directives, each read into ``GlobalSettings`` as ldirectord reads it.
extension ParseSession {
    mutating func readGlobalDirective(_ line: ConfigLine) {
        guard checkName(line, inVirtual: false) else { return }
        if let message = Self.repeatWarning(line, seen: &seenGlobals, scope: "") { warn(line, message) }
        checkQuotes(line)
        let seconds = "a whole number of seconds above 0"
        let largest = Int(Int32.max)
        switch line.name {
        case "checktimeout", "negotiatetimeout":
            // ldirectord refuses 0 here (`$1 > 0`), unlike in a virtual block.
            let problem =
                line.name == "checktimeout" ? "invalid check timeout value" : "invalid negotiate timeout value"
            if LenientInteger(line.value).value == 0 {
                invalid(line, problem, expected: seconds)
                return
            }
            let value = number(line, problem: problem, expected: seconds, range: 1...largest)
            if line.name == "checktimeout" {
                globals.defaults.checkTimeout = value
            } else {
                globals.defaults.negotiateTimeout = value
            }
        case "checkinterval":
            if let value = number(
                line, problem: "invalid check interval value", expected: seconds, range: 1...largest,
                zeroMeans: "checks one round after the other without a pause")
            {
                globals.checkInterval = value
            }
        case "checkcount":
            globals.defaults.checkCount = number(
                line, problem: "invalid check count value", expected: "a whole number above 0", range: 1...largest,
                zeroMeans: "no ping attempt at all")
            warn(line, "checkcount option is deprecated and slated for removal.  please see 'failurecount'")
        case "failurecount":
            // 0 and 1 both take a server out at its first failure in ldirectord.
            globals.defaults.failureCount = number(
                line, problem: "invalid failure count value", expected: "a whole number above 0", range: 1...largest)
        case "fallback", "fallback6":
            let family: AddressFamily = line.name == "fallback" ? .ipv4 : .ipv6
            if let spec = parseFallback(line, global: true) {
                globalFallback[family] = (spec, line)
            }
        case "fallbackcommand":
            globals.defaults.fallbackCommand = globalText(
                line, problem: "invalid fallback command", expected: "a command to run", emptyMeans: "no command runs")
        case "autoreload":
            if let value = yesNo(line) { globals.autoreload = value }
        case "callback":
            if let value = unquoted(line), !value.isEmpty { globals.callback = String(value) }
        case "logfile":
            readLogfile(line)
        case "execute":
            if line.ldirectordValue?.isEmpty ?? true {
                warn(line, "execute is empty: no instance is run (ldirectord runs one on no file, which fails)")
            } else if let value = globalText(
                line, problem: "no configuration file given", expected: "a configuration file",
                emptyMeans: "no instance is run")
            {
                globals.execute.append(value)
            }
        case "fork":
            if let value = yesNo(line) { globals.fork = value }
        case "supervised":
            if !line.hasEquals {
                globals.supervised = true
                if line.value.isEmpty {
                    warn(line, "please update your config not to use a bare supervised directive")
                } else {
                    ldirectordRefuses(
                        line, "supervised \(line.value) without \"=\": read as supervised=yes; ldirectord refuses it")
                }
            } else if let value = yesNo(line) {
                globals.supervised = value
            }
        case "quiescent":
            globals.defaults.quiescent = yesNo(line)
        case "readdquiescent":
            if let value = yesNo(line) { globals.readdQuiescent = value }
        case "emailalert":
            globals.defaults.emailAlert = text(
                line, problem: "no email address specified", expected: "one or more e-mail addresses")
        case "emailalertfreq":
            globals.defaults.emailAlertFrequency = emailAlertFrequency(line)
        case "emailalertstatus":
            globals.defaults.emailAlertStatus = emailAlertStatus(line)
        case "emailalertfrom":
            globals.emailAlertFrom = globalText(
                line, problem: "no email from address specified", expected: "an e-mail address",
                emptyMeans: "alerts are sent from the default address")
        case "cleanstop":
            globals.defaults.cleanStop = yesNo(line)
        case "repair":
            warnOwnDirective(line)
            if let value = yesNo(line) { globals.repair = value }
        case "repairinterval":
            warnOwnDirective(line)
            if let value = number(line, problem: "invalid repair interval value", expected: seconds, range: 1...largest)
            {
                globals.repairInterval = value
            }
        case "metrics":
            warnOwnDirective(line)
            if let text = text(
                line, problem: "no metrics address specified", expected: "IP:PORT or [IPv6]:PORT to serve /metrics on")
            {
                if let address = ListenAddress(text) {
                    globals.metrics = address
                } else {
                    invalid(
                        line, "invalid metrics address \"\(text)\"",
                        expected: "IP:PORT or [IPv6]:PORT, the port 1 to 65535 (0.0.0.0:9100 for every address)")
                }
            }
        case "risecount", "downinterval", "maxejection", "slowstart", "draintimeout", "agentport", "agentinterval",
            "checkpath":
            warnOwnDirective(line)
            globals.defaults.policy = readPolicyDirective(line, globals.defaults.policy)
        case "syncdaemon", "syncinterface", "syncid", "syncgroup", "syncport", "syncttl", "syncmaxlen":
            readSyncDirective(line)
        case "smtp":
            globals.defaults.smtp = smtpServer(line)
        case "maintenancedir":
            globals.maintenanceDirectory = globalText(
                line, problem: "maintenance directory not specified", expected: "a directory",
                emptyMeans: "no maintenance directory")
        default:
            // checkName admitted only the names above.
            break
        }
    }

    /// `emailalertfreq`: ldirectord wants the digits right after `=` (`=\s*(\d*)`).
    mutating func emailAlertFrequency(_ line: ConfigLine) -> Int? {
        if line.ldirectordValue?.first?.isASCIIDigit != true {
            ldirectordRefuses(line, "ldirectord needs the number right after \"=\"")
        }
        return number(
            line, problem: "invalid email alert frequency", expected: "a whole number of seconds",
            range: 0...Int(Int32.max))
    }

    static let syslogFacilities: Set<Substring> = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
        "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
    ]

    /// A path starting with `/` is a file; anything else a syslog facility, as ldirectord
    /// hands it to syslog without checking it. An unknown facility logs to `daemon`.
    mutating func readLogfile(_ line: ConfigLine) {
        guard let value = unquoted(line) else { return }
        if value.hasPrefix("/") {
            globals.logTarget = .file(String(value))
        } else if Self.syslogFacilities.contains(value) {
            globals.logTarget = .syslog(facility: String(value))
        } else if let known = Self.syslogFacilities.first(where: { $0 == value.lowercased().trimmingSpaces }) {
            warn(line, "read as the syslog facility \(known)")
            globals.logTarget = .syslog(facility: String(known))
        } else {
            warn(
                line,
                "\"\(value)\" is neither an absolute path nor a syslog facility: the log goes to syslog, facility daemon (ldirectord hands it to syslog as it is)",
                ldirectord: .differs, severe: true)
            globals.logTarget = .syslog(facility: "daemon")
        }
    }

    /// ldirectord's `parse_emailalertstatus`.
    mutating func emailAlertStatus(_ line: ConfigLine) -> DaemonStatusSet? {
        guard let text = unquoted(line) else { return nil }
        // Perl's split: no fields at all for an empty value (no status), trailing empty fields
        // dropped.
        var words = text.split(separator: ",", omittingEmptySubsequences: false).map(\.trimmingSpaces)
        while words.last?.isEmpty == true { words.removeLast() }
        // ldirectord splits the value as written: a trailing blank, comment, CR or quote makes
        // a word it does not know.
        if let raw = line.ldirectordValue {
            let known = Set(["all", "none"] + DaemonStatusSet.names.map(\.name))
            // Perl's split /\s*,\s*/: blanks around each comma go with it.
            let fields = raw.split(separator: ",", omittingEmptySubsequences: false)
            var rawWords = fields.enumerated().map { index, field -> Substring in
                let start = index == 0 ? field : field.drop(while: \.isPerlSpace)
                guard index < fields.count - 1 else { return start }
                return Substring(String(start.reversed().drop(while: \.isPerlSpace).reversed()))
            }
            while rawWords.last?.isEmpty == true { rawWords.removeLast() }
            if rawWords.contains(where: { !known.contains(String($0)) }) {
                ldirectordRefuses(line, "ldirectord reads each word exactly as written and refuses this one")
            }
        }
        let expected = "all, none, or a comma-separated list of starting, running, stopping, reloading"
        var status: DaemonStatusSet = []
        let hasNone = words.contains("none")
        for word in words where word != "none" {
            if word == "all" {
                status = .all
            } else if let match = DaemonStatusSet.names.first(where: { $0.name == word }) {
                status.insert(match.status)
            } else {
                invalid(line, "invalid email alert status at: \"\(word)\"", expected: expected)
                return nil
            }
            if hasNone {
                invalid(line, "invalid email alert status: \"\(word)\" specified with \"none\"", expected: expected)
                return nil
            }
        }
        return status
    }

    /// ldirectord keeps the leading `[0-9A-Za-z._+-]+` of the value.
    mutating func smtpServer(_ line: ConfigLine) -> String? {
        if line.value.first == "\"" { ldirectordRefuses(line, "ldirectord refuses a quoted smtp server") }
        guard let text = unquoted(line) else { return nil }
        let allowed: (Character) -> Bool = { $0.isASCIIDigit || $0.isASCIILetter || "._+-".contains($0) }
        let host = text.prefix(while: allowed)
        guard !host.isEmpty else {
            invalid(line, "invalid SMTP server address", expected: "a host name or address")
            return nil
        }
        if host.count != text.count {
            warn(line, "read as \"\(host)\", as ldirectord reads it; the rest is ignored")
        }
        return String(host)
    }
}
