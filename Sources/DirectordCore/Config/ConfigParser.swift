/// Reads ldirectord.cf files with the meaning ldirectord 4.12 ("Linux Director v1.186-ha")
/// gives them.
///
/// A file ldirectord runs is never refused. Where ldirectord silently reads a file differently
/// from how it looks, the parser keeps ldirectord's meaning (or, named as such, a better one)
/// and adds a warning; where ldirectord would hand the kernel something it refuses (an unknown
/// scheduler, a lower threshold above the upper), the service or real server is marked
/// refused, kept out of the table and warned about loudly, and the rest runs. Errors are only
/// for what ldirectord refuses too. All problems of a file are reported together, in line
/// order; each warning says how ldirectord reads that part, for `check-config --strict`.
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
        // A byte order mark is not part of the first directive's name (warned in checkWhole).
        session.readLines(of: text.unicodeScalars.first == "\u{FEFF}" ? String(text.unicodeScalars.dropFirst()) : text)
        var configuration = session.resolve()
        configuration.globals.meansNoServices = session.checkWhole(text, configuration)
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
    /// The largest number of real servers one range may expand to: ldirectord takes 330 s to
    /// read a range of 65,537 (its reading is quadratic) and days for this many.
    static let maximumRangeSize = 1 << 20

    init(file: String, resolver: any NameResolving) {
        self.file = file
        self.resolver = resolver
    }

    // MARK: Diagnostics

    mutating func error(_ line: ConfigLine, _ reason: ConfigError.Reason) {
        errors.append(ConfigError(file: file, line: line.number, text: Self.shown(line), reason: reason))
    }

    /// Directives whose value is a secret: never quoted into a diagnostic, which goes to
    /// terminals and log files.
    static let secretDirectives: Set<Substring> = ["passwd", "secret"]

    /// The line as diagnostics quote it, a secret's value hidden.
    static func shown(_ line: ConfigLine) -> String {
        secretDirectives.contains(line.name) ? "\(line.name)=\(Configuration.hidden)" : String(line.text)
    }

    /// A message about `line` with a secret's value hidden, wherever the message quotes it.
    static func shown(_ message: String, for line: ConfigLine) -> String {
        guard secretDirectives.contains(line.name) else { return message }
        let value = UnquotedValue(line.value).text
        return value.isEmpty ? message : message.replacing(value, with: Configuration.hidden)
    }

    mutating func invalid(_ line: ConfigLine, _ problem: String, expected: String) {
        error(line, .invalidValue(problem: problem, expected: expected))
    }

    /// - Parameters:
    ///   - ldirectord: how ldirectord reads this part of the line (`check-config --strict`).
    ///   - severe: the line does not run as written; logged as an error at start and reload.
    mutating func warn(
        _ line: ConfigLine, _ message: String, ldirectord: ConfigWarning.LdirectordReading = .same,
        severe: Bool = false
    ) {
        warnings.append(
            ConfigWarning(
                file: file, line: line.number, text: Self.shown(line), message: Self.shown(message, for: line),
                ldirectord: ldirectord, isSevere: severe))
    }

    mutating func warn(
        line: Int, text: String = "", _ message: String, ldirectord: ConfigWarning.LdirectordReading = .same,
        severe: Bool = false
    ) {
        warnings.append(
            ConfigWarning(file: file, line: line, text: text, message: message, ldirectord: ldirectord, isSevere: severe))
    }

    /// A value ldirectord refuses and directord accepts: a warning `check-config --strict`
    /// turns into an error.
    mutating func ldirectordRefuses(_ line: ConfigLine, _ why: String) {
        warn(line, why, ldirectord: .refuses)
    }

    // MARK: Phase 1: lines

    mutating func readLines(of text: String) {
        var number = 0
        var current: VirtualDraft?
        /// A blank line inside a block: ldirectord ends the block there.
        var blankInBlock: ConfigLine?
        var lastDirective: ConfigLine?
        // Split on bytes: as Characters, "\r\n" is one grapheme and would never equal "\n".
        for raw in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            let line = ConfigLine(number: number, raw: Substring(raw))
            guard line.kind == .directive else {
                // A comment line is skipped by ldirectord too; an empty or blank one ends its
                // virtual block (the indented lines after it are then "Unknown command"s).
                if current != nil, blankInBlock == nil, !line.raw.contains(where: { $0 == "#" }) {
                    blankInBlock = line
                }
                continue
            }
            if line.isIndented {
                if current != nil {
                    if let blank = blankInBlock {
                        ldirectordRefuses(
                            blank,
                            "a blank line inside a virtual block: ldirectord ends the block here and refuses the indented lines after it"
                        )
                        blankInBlock = nil
                    }
                    checkLdirectordLayout(line)
                    readVirtualDirective(line, into: &current!)
                } else {
                    error(line, .indentedOutsideVirtual)
                }
                lastDirective = line
                continue
            }
            blankInBlock = nil
            if let finished = current {
                drafts.append(finished)
                current = nil
            }
            if !line.raw.hasPrefix(line.name) {
                // A CR or other invisible byte before the name: ldirectord sees no directive.
                ldirectordRefuses(line, "the line does not start with the directive's name, so ldirectord refuses it")
            }
            if line.name == "virtual" || line.name == "virtual6" {
                current = startVirtual(line)
            } else {
                readGlobalDirective(line)
            }
            lastDirective = line
        }
        if let finished = current { drafts.append(finished) }
        // ldirectord reads a virtual= line that ends the file twice, then calls it a duplicate.
        if let last = lastDirective, !last.isIndented, last.name == "virtual" || last.name == "virtual6",
            !text.utf8.split(separator: UInt8(ascii: "\n")).dropFirst(last.number).contains(where: { !$0.isEmpty })
        {
            ldirectordRefuses(last, "a virtual service on the last line of the file: ldirectord reads it twice and refuses it as a duplicate")
        }
    }

    /// What only the whole file tells: no virtual service at all (a reload of such a file would
    /// purge every service, so it must say it means it), line ends of CR alone.
    /// - Returns: whether the file says it means to have no virtual services.
    mutating func checkWhole(_ text: String, _ configuration: Configuration) -> Bool {
        let meansIt = text.utf8.split(separator: UInt8(ascii: "\n")).contains {
            Substring($0).trimmingSpaces == Substring(GlobalSettings.noServicesComment)
        }
        if configuration.virtualServices.isEmpty && errors.isEmpty && !meansIt {
            warn(
                line: 0,
                "the file has no virtual services: directord manages nothing, and a reload to it is refused; write \"\(GlobalSettings.noServicesComment)\" in it if that is meant",
                severe: true)
        }
        if text.utf8.contains(UInt8(ascii: "\r")) && !text.utf8.contains(UInt8(ascii: "\n")) && text.utf8.count > 1 {
            warn(line: 0, "lines end with CR alone: the file is read as one line, as ldirectord reads it", severe: true)
        }
        if text.unicodeScalars.first == "\u{FEFF}" {
            ldirectordRefuses(
                ConfigLine(number: 1, raw: ""),
                "the file starts with a byte order mark (U+FEFF), which directord skips and ldirectord reads as part of the first directive")
        }
        return meansIt
    }

    /// What ldirectord refuses in the layout of a block's line and directord reads: fewer than
    /// four columns of indentation, a `#` inside quotes (ldirectord cuts the line there).
    mutating func checkLdirectordLayout(_ line: ConfigLine) {
        if line.ldirectordIndent < 4 {
            ldirectordRefuses(
                line, "indented by fewer than four columns (a tab counts four): ldirectord ends the block here")
        }
        if let hash = line.raw.firstIndex(of: "#"), ConfigLine.removingComment(line.raw).endIndex > hash {
            ldirectordRefuses(line, "a \"#\" inside quotes: ldirectord cuts the line there, as a comment")
        }
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

    /// The value without its quotes; warns about ignored text. A quote that is never closed
    /// is read past, as ldirectord's unanchored patterns read it.
    mutating func unquoted(_ line: ConfigLine) -> Substring? {
        let value = UnquotedValue(line.value)
        if value.isUnterminated {
            warn(
                line, "missing closing quote: read as \"\(value.text)\"",
                ldirectord: Self.keepsOpeningQuote.contains(line.name) ? .differs : .same)
        }
        if !value.trailing.isEmpty {
            warn(line, "text after the closing quote is ignored: \(value.trailing)")
        }
        return value.text
    }

    /// String directives whose value ldirectord keeps as written when its quote is never
    /// closed (the opening quote included); for the others it reads the same word or number.
    static let keepsOpeningQuote: Set<Substring> = [
        "checkcommand", "fallbackcommand", "emailalertfrom", "execute", "maintenancedir",
        "servicename", "comment", "monitorfile",
    ]

    /// The directives whose value ldirectord reads only between double quotes
    /// (`NAME\s*=\s*"(.*)"`): unquoted, ldirectord refuses the line.
    static let quotedOnly: Set<Substring> = [
        "request", "receive", "login", "passwd", "database", "secret", "load", "callback", "logfile",
    ]

    /// Notes, for `--strict`, a value ldirectord would refuse for want of quotes.
    mutating func checkQuotes(_ line: ConfigLine) {
        guard Self.quotedOnly.contains(line.name), let value = line.ldirectordValue else { return }
        if !(value.first == "\"" && value.dropFirst().contains("\"")) {
            ldirectordRefuses(line, "ldirectord reads \(line.name) only between double quotes")
        }
    }

    /// ldirectord's `/(\d+)/`: the first run of digits anywhere in the value, any length; an
    /// error with ldirectord's words when there is none.
    mutating func digits(_ line: ConfigLine, problem: String, expected: String) -> LenientInteger? {
        guard let text = unquoted(line) else { return nil }
        let read = LenientInteger(text)
        guard read.value != nil else {
            invalid(line, "\(problem) \"\(text)\"", expected: expected)
            return nil
        }
        if !read.isExact {
            warn(line, "read as \(read.digits), as ldirectord reads it; write \(line.name)=\(read.digits)")
        }
        return read
    }

    /// A count or a number of seconds as ldirectord reads it, within `range`: below it is read
    /// as `range.lowerBound` (a warning: ldirectord takes 0 as no limit, or no pause), above it
    /// as `range.upperBound`.
    mutating func number(
        _ line: ConfigLine, problem: String, expected: String, range: ClosedRange<Int>, zeroMeans: String? = nil
    ) -> Int? {
        guard let read = digits(line, problem: problem, expected: expected), let value = read.value else { return nil }
        // ldirectord's `/(\d+)/ && $1` is false for "0" but true for "00", which it reads as 0.
        if read.digits == "0" && range.lowerBound > 0 {
            invalid(line, "\(problem) \"\(read.digits)\"", expected: expected)
            return nil
        }
        if value < range.lowerBound {
            warn(
                line,
                "\(line.name)=\(read.digits) is read as \(range.lowerBound)\(zeroMeans.map { " (ldirectord: \($0))" } ?? "")",
                ldirectord: zeroMeans == nil ? .same : .differs, severe: zeroMeans != nil)
            return range.lowerBound
        }
        if value > range.upperBound {
            warn(line, "\(line.name)=\(read.digits) is read as \(range.upperBound), the largest directord takes")
            return range.upperBound
        }
        return value
    }

    /// `yes` or `no`. ldirectord compares the whole value, so anything after it (a blank, a
    /// comment, a CR) makes it refuse the file, where directord reads the word.
    mutating func yesNo(_ line: ConfigLine) -> Bool? {
        guard let text = unquoted(line) else { return nil }
        let result: Bool
        switch text {
        case "yes": result = true
        case "no": result = false
        default:
            invalid(line, "\(line.name) must be 'yes' or 'no'", expected: "yes or no")
            return nil
        }
        if line.ldirectordValue != text {
            ldirectordRefuses(line, "ldirectord needs exactly 'yes' or 'no', with nothing after it")
        }
        return result
    }

    /// A string; an empty one (which ldirectord takes for a string of two quotes, or refuses) is
    /// none, with a warning naming `emptyMeans`.
    mutating func text(_ line: ConfigLine, problem: String, expected: String) -> String? {
        guard let text = unquoted(line) else { return nil }
        guard !text.isEmpty else {
            invalid(line, problem, expected: expected)
            return nil
        }
        return String(text)
    }

    /// A global string value that ldirectord keeps exactly as written, quotes, comment and
    /// trailing blanks included; directord reads it without them. Empty reads as nil.
    mutating func globalText(_ line: ConfigLine, problem: String, expected: String, emptyMeans: String) -> String? {
        guard let text = unquoted(line) else { return nil }
        let written = line.ldirectordValue ?? line.value
        if written.isEmpty {
            invalid(line, problem, expected: expected)
            return nil
        }
        if text.isEmpty {
            warn(
                line, "\(line.name) is empty: \(emptyMeans) (ldirectord reads \"\(written)\" and gets nothing from it)",
                severe: false)
            return nil
        }
        if written != text {
            warn(
                line, "read as \"\(text)\"; ldirectord reads \"\(written)\", quotes, comment and blanks included",
                ldirectord: .differs)
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
        checkQuotes(line)
        let seconds = "a whole number of seconds above 0"
        let largest = Int(Int32.max)
        switch line.name {
        case "checktimeout", "negotiatetimeout":
            // ldirectord refuses 0 here (`$1 > 0`), unlike in a virtual block.
            let problem = line.name == "checktimeout" ? "invalid check timeout value" : "invalid negotiate timeout value"
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
                    ldirectordRefuses(line, "supervised \(line.value) without \"=\": read as supervised=yes; ldirectord refuses it")
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
