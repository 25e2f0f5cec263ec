/// Reads ldirectord.cf files with the meaning ldirectord 4.12 ("Linux Director v1.186-ha")
/// gives them.
///
/// Where ldirectord silently reads a file differently from how it looks, the parser keeps
/// ldirectord's meaning and adds a warning; where ldirectord would hand the kernel something it
/// refuses (an unknown scheduler, a weight above 65535, a lower threshold above the upper), the
/// parser reports an error instead of letting a service go missing at run time. All problems of
/// a file are reported together, in line order.
public struct ConfigParser: Sendable {
    public let resolver: any NameResolving

    public init(resolver: any NameResolving) {
        self.resolver = resolver
    }

    /// What parsing a file produced.
    public struct Outcome: Sendable {
        /// The configuration, present exactly when there are no errors.
        public var configuration: Configuration?
        public var errors: [ConfigError]
        public var warnings: [ConfigWarning]

        public init(configuration: Configuration?, errors: [ConfigError], warnings: [ConfigWarning]) {
            self.configuration = configuration
            self.errors = errors
            self.warnings = warnings
        }
    }

    /// Parses the text of a file; never throws, never traps, whatever the bytes.
    /// - Parameters:
    ///   - text: the file's content.
    ///   - file: the name to put in messages.
    public func parse(_ text: String, file: String) -> Outcome {
        var session = ParseSession(file: file, resolver: resolver)
        session.readLines(of: text)
        let configuration = session.resolve()
        let errors = session.errors.sorted { $0.line < $1.line }
        let warnings = session.warnings.sorted { $0.line < $1.line }
        return Outcome(configuration: errors.isEmpty ? configuration : nil, errors: errors, warnings: warnings)
    }

    /// Parses and returns the configuration with its warnings.
    /// - Throws: every error of the file at once.
    public func configuration(from text: String, file: String) throws(ConfigErrors) -> (
        Configuration, [ConfigWarning]
    ) {
        let outcome = parse(text, file: file)
        guard let configuration = outcome.configuration else { throw ConfigErrors(outcome.errors) }
        return (configuration, outcome.warnings)
    }
}

/// The state of one parse: phase 1 reads lines into globals and virtual-block drafts; phase 2
/// resolves names and merges defaults, because ldirectord applies globals written anywhere in
/// the file to every virtual service.
struct ParseSession {
    let file: String
    let resolver: any NameResolving
    var errors: [ConfigError] = []
    var warnings: [ConfigWarning] = []
    var globals = GlobalSettings()
    var globalFallback: [AddressFamily: (FallbackSpec, ConfigLine)] = [:]
    var drafts: [VirtualDraft] = []
    var seenGlobals: [String: Int] = [:]
    /// The largest number of real servers one range may expand to.
    static let maximumRangeSize = 65536

    init(file: String, resolver: any NameResolving) {
        self.file = file
        self.resolver = resolver
    }

    // MARK: Diagnostics

    mutating func error(_ line: ConfigLine, _ reason: ConfigError.Reason) {
        errors.append(ConfigError(file: file, line: line.number, text: String(line.text), reason: reason))
    }

    mutating func invalid(_ line: ConfigLine, _ problem: String, expected: String) {
        error(line, .invalidValue(problem: problem, expected: expected))
    }

    mutating func warn(_ line: ConfigLine, _ message: String) {
        warnings.append(ConfigWarning(file: file, line: line.number, text: String(line.text), message: message))
    }

    mutating func warn(line: Int, text: String = "", _ message: String) {
        warnings.append(ConfigWarning(file: file, line: line, text: text, message: message))
    }

    // MARK: Phase 1: lines

    mutating func readLines(of text: String) {
        var number = 0
        var current: VirtualDraft?
        // Split on bytes: as Characters, "\r\n" is one grapheme and would never equal "\n".
        for raw in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            let line = ConfigLine(number: number, raw: Substring(raw))
            guard line.kind == .directive else { continue }
            if line.isIndented {
                if current != nil {
                    readVirtualDirective(line, into: &current!)
                } else {
                    error(line, .indentedOutsideVirtual)
                }
                continue
            }
            if let finished = current {
                drafts.append(finished)
                current = nil
            }
            if line.name == "virtual" || line.name == "virtual6" {
                current = startVirtual(line)
            } else {
                readGlobalDirective(line)
            }
        }
        if let finished = current { drafts.append(finished) }
    }

    /// Checks the name is a directive of this scope; reports and returns false otherwise.
    mutating func checkName(_ line: ConfigLine, inVirtual: Bool) -> Bool {
        let name = String(line.name)
        if !line.hasEquals && name != "supervised" {
            if Directive.all.contains(name) {
                invalid(line, "missing \"=\" after \(name)", expected: "\(name)=VALUE")
            } else {
                error(line, .unknownDirective(name, suggestion: Directive.suggestion(for: line.name)))
            }
            return false
        }
        if name == "timeout" {
            error(line, .deprecated("timeout directive deprecated in favour of checktimeout and negotiatetimeout"))
            return false
        }
        if name == "connecttimeout" {
            error(line, .deprecated("connecttimeout directive deprecated in favour of negotiatetimeout"))
            return false
        }
        let known = inVirtual ? Directive.virtual : Directive.global
        if known.contains(name) { return true }
        if inVirtual && Directive.global.contains(name) {
            error(line, name.hasPrefix("virtual") ? .indentedOutsideVirtual : .onlyGlobal(name))
        } else if !inVirtual && Directive.virtual.contains(name) {
            error(line, .onlyInVirtualBlock(name))
        } else {
            error(line, .unknownDirective(name, suggestion: Directive.suggestion(for: line.name)))
        }
        return false
    }

    // MARK: Values

    /// The value without its quotes; reports an unterminated quote, warns about ignored text.
    mutating func unquoted(_ line: ConfigLine) -> Substring? {
        let value = UnquotedValue(line.value)
        if value.isUnterminated {
            error(line, .unterminatedQuote)
            return nil
        }
        if !value.trailing.isEmpty {
            warn(line, "text after the closing quote is ignored: \(value.trailing)")
        }
        return value.text
    }

    /// A positive number read as ldirectord reads it (`/(\d+)/ && $1`), with a warning when
    /// that reading differs from the text.
    mutating func number(
        _ line: ConfigLine, problem: String, expected: String, range: ClosedRange<Int>
    ) -> Int? {
        guard let text = unquoted(line) else { return nil }
        let read = LenientInteger(text)
        guard let value = read.value, range.contains(value) else {
            invalid(line, "\(problem) \"\(text)\"", expected: expected)
            return nil
        }
        if !read.isExact {
            warn(line, "read as \(value), as ldirectord reads it; write \(line.name)=\(value)")
        }
        return value
    }

    mutating func yesNo(_ line: ConfigLine) -> Bool? {
        guard let text = unquoted(line) else { return nil }
        switch text {
        case "yes": return true
        case "no": return false
        default:
            invalid(line, "\(line.name) must be 'yes' or 'no'", expected: "yes or no")
            return nil
        }
    }

    /// A non-empty string; `problem` is ldirectord's message for an empty one.
    mutating func text(_ line: ConfigLine, problem: String, expected: String) -> String? {
        guard let text = unquoted(line) else { return nil }
        guard !text.isEmpty else {
            invalid(line, problem, expected: expected)
            return nil
        }
        return String(text)
    }

    /// Records a directive in `seen`; returns a warning when it was already set, since ldirectord
    /// silently keeps the last value.
    static func repeatWarning(_ line: ConfigLine, seen: inout [String: Int], scope: String) -> String? {
        let name = String(line.name)
        guard !Directive.repeatable.contains(name) else { return nil }
        defer { seen[name] = line.number }
        guard let first = seen[name] else { return nil }
        return "\(name) is set again\(scope); this replaces line \(first), as in ldirectord"
    }

    // MARK: Global directives

    mutating func readGlobalDirective(_ line: ConfigLine) {
        guard checkName(line, inVirtual: false) else { return }
        if let message = Self.repeatWarning(line, seen: &seenGlobals, scope: "") { warn(line, message) }
        let seconds = "a whole number of seconds above 0"
        switch line.name {
        case "checktimeout":
            globals.defaults.checkTimeout = number(
                line, problem: "invalid check timeout value", expected: seconds, range: 1...Int(Int32.max))
        case "negotiatetimeout":
            globals.defaults.negotiateTimeout = number(
                line, problem: "invalid negotiate timeout value", expected: seconds, range: 1...Int(Int32.max))
        case "checkinterval":
            if let value = number(
                line, problem: "invalid check interval value", expected: seconds, range: 1...Int(Int32.max))
            {
                globals.checkInterval = value
            }
        case "checkcount":
            globals.defaults.checkCount = number(
                line, problem: "invalid check count value", expected: "a whole number above 0",
                range: 1...Int(Int32.max))
            warn(line, "checkcount option is deprecated and slated for removal.  please see 'failurecount'")
        case "failurecount":
            globals.defaults.failureCount = number(
                line, problem: "invalid failure count value", expected: "a whole number above 0",
                range: 1...Int(Int32.max))
        case "fallback", "fallback6":
            let family: AddressFamily = line.name == "fallback" ? .ipv4 : .ipv6
            if let spec = parseFallback(line) {
                globalFallback[family] = (spec, line)
            }
        case "fallbackcommand":
            globals.defaults.fallbackCommand = text(
                line, problem: "invalid fallback command", expected: "a command to run")
        case "autoreload":
            if let value = yesNo(line) { globals.autoreload = value }
        case "callback":
            if let value = unquoted(line) { globals.callback = String(value) }
        case "logfile":
            readLogfile(line)
        case "execute":
            if let value = text(line, problem: "no configuration file given", expected: "a configuration file") {
                globals.execute.append(value)
            }
        case "fork":
            if let value = yesNo(line) { globals.fork = value }
        case "supervised":
            if !line.hasEquals {
                globals.supervised = true
                warn(line, "please update your config not to use a bare supervised directive")
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
            globals.defaults.emailAlertFrequency = number(
                line, problem: "invalid email alert frequency", expected: "a whole number of seconds",
                range: 0...Int(Int32.max))
        case "emailalertstatus":
            globals.defaults.emailAlertStatus = emailAlertStatus(line)
        case "emailalertfrom":
            globals.emailAlertFrom = text(
                line, problem: "no email from address specified", expected: "an e-mail address")
        case "cleanstop":
            globals.defaults.cleanStop = yesNo(line)
        case "smtp":
            globals.defaults.smtp = smtpServer(line)
        case "maintenancedir":
            globals.maintenanceDirectory = text(
                line, problem: "maintenance directory not specified", expected: "a directory")
        default:
            // checkName admitted only the names above.
            break
        }
    }

    static let syslogFacilities: Set<Substring> = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
        "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
    ]

    mutating func readLogfile(_ line: ConfigLine) {
        guard let value = unquoted(line) else { return }
        if value.hasPrefix("/") {
            globals.logTarget = .file(String(value))
        } else if Self.syslogFacilities.contains(value) {
            globals.logTarget = .syslog(facility: String(value))
        } else {
            invalid(
                line, "unable to open logfile: \(value)",
                expected: "an absolute file path or a syslog facility (local0 ... local7, daemon, ...)")
        }
    }

    /// ldirectord's `parse_emailalertstatus`.
    mutating func emailAlertStatus(_ line: ConfigLine) -> DaemonStatusSet? {
        guard let text = unquoted(line) else { return nil }
        let words = text.split(separator: ",", omittingEmptySubsequences: false).map(\.trimmingSpaces)
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
