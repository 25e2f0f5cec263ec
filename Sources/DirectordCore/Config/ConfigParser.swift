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
        var memory = ParseMemory()
        return parse(text, file: file, memory: &memory)
    }

    /// Parses the text of a file, taking from `memory` the blocks the last parse of the file
    /// resolved that have not changed, and leaving in it what this parse resolved. The outcome
    /// is the same as without memory.
    public func parse(_ text: String, file: String, memory: inout ParseMemory) -> Outcome {
        var session = ParseSession(file: file, resolver: resolver)
        session.memory = memory
        defer { memory = session.rememberedBlocks }
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
    /// The lines of the `sync*` directives, to check them together once the file is read.
    var syncLines: [Substring: ConfigLine] = [:]
    /// The last parse's blocks, and this parse's, for the next.
    var memory = ParseMemory()
    var rememberedBlocks = ParseMemory()
    /// Names looked up by the resolver so far (a block that needed one is not remembered).
    var resolverLookups = 0
    /// The largest number of real servers one range may expand to, a /16. ldirectord takes
    /// 330 s to read a range of 65,537 (its reading is quadratic), two hours for a range five
    /// times that long; a larger range is a typo (`10.20.0.13->10.25.0.15` for `->10.20.0.15`)
    /// that would have a director add hundreds of thousands of real servers, so it is refused
    /// with an error. Found by the fuzzer: a range of 327,683 took seconds to read and print.
    static let maximumRangeSize = 1 << 16

    init(file: String, resolver: any NameResolving) {
        self.file = file
        self.resolver = resolver
    }

    // MARK: Diagnostics

    mutating func error(_ line: ConfigLine, _ reason: ConfigError.Reason) {
        errors.append(ConfigError(file: file, line: line.number, text: Self.shown(line), reason: reason))
    }

    /// Directives whose value is a secret: never quoted into a diagnostic, which goes to
    /// terminals and log files. A header an HTTP check sends is often a credential
    /// (`Authorization`, an API key).
    static let secretDirectives: Set<Substring> = ["passwd", "secret", "httpheader"]

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
            ConfigWarning(
                file: file, line: line, text: text, message: message, ldirectord: ldirectord, isSevere: severe))
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
                if current != nil, blankInBlock == nil, !line.raw.contains(byte: UInt8(ascii: "#")) {
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
                    current!.end = line.raw.endIndex
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
            ldirectordRefuses(
                last,
                "a virtual service on the last line of the file: ldirectord reads it twice and refuses it as a duplicate"
            )
        }
    }

    /// What only the whole file tells: no virtual service at all (a reload of such a file would
    /// purge every service, so it must say it means it), line ends of CR alone.
    /// - Returns: whether the file says it means to have no virtual services.
    mutating func checkWhole(_ text: String, _ configuration: Configuration) -> Bool {
        // The comment matters only in a file without services; only there are its lines looked
        // through (splitting every file was a tenth of a reload's parse at 10,000 real servers).
        let meansIt =
            configuration.virtualServices.isEmpty
            && text.utf8.split(separator: UInt8(ascii: "\n")).contains {
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
                "the file starts with a byte order mark (U+FEFF), which directord skips and ldirectord reads as part of the first directive"
            )
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
        if let hash = line.raw.utf8.firstIndex(of: UInt8(ascii: "#")),
            ConfigLine.removingComment(line.raw).endIndex > hash
        {
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
}
