/// A mistake in a configuration file that stops directord from using it.
///
/// Every error names the file, the line, the offending text and what was expected, e.g.
/// `ldirectord.cf:12: error: checkinterval=ten: expected a whole number of seconds above 0`.
public struct ConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    public var file: String
    /// 1-based; 0 when the error is about the file as a whole.
    public var line: Int
    /// The directive as written (comment and surrounding blanks removed).
    public var text: String
    public var reason: Reason

    public init(file: String, line: Int, text: String, reason: Reason) {
        self.file = file
        self.line = line
        self.text = text
        self.reason = reason
    }

    public var description: String {
        diagnosticText(file: file, line: line, kind: "error", text: text, message: "\(reason)")
    }

    public enum Reason: Hashable, Sendable, CustomStringConvertible {
        /// A directive ldirectord does not know, with the closest known name if there is one.
        case unknownDirective(String, suggestion: String?)
        /// A directive that belongs inside a virtual block, written outside one.
        case onlyInVirtualBlock(String)
        /// A global directive written inside a virtual block.
        case onlyGlobal(String)
        /// An indented line with no virtual block above it.
        case indentedOutsideVirtual
        /// The value does not have the required form. `problem` is ldirectord's wording.
        case invalidValue(problem: String, expected: String)
        /// A directive ldirectord has retired, with ldirectord's explanation.
        case deprecated(String)
        /// `real6` in a `virtual=` block and so on, with ldirectord's wording.
        case wrongAddressFamily(written: String, use: String)
        /// A host name that does not resolve in the needed address family.
        case unresolvableHost(String, what: String, family: AddressFamily)
        /// A port or service name that is neither a number below 65536 nor in /etc/services.
        case unresolvablePort(String, what: String)
        case duplicateVirtualService(id: String, firstLine: Int)
        /// Two real server lines that make the same kernel entry.
        case duplicateRealServer(endpoint: String, firstLine: Int)
        /// A `real=` line that does not follow the grammar; the text says where and why.
        case invalidRealServer(String)
        /// A quoted value with no closing quote.
        case unterminatedQuote
        /// The file could not be read at all.
        case unreadable(String)

        public var description: String {
            switch self {
            case .unknownDirective(let name, let suggestion):
                if let suggestion { return "unknown directive \"\(name)\"; did you mean \"\(suggestion)\"?" }
                return "unknown directive \"\(name)\""
            case .onlyInVirtualBlock(let name):
                return "\"\(name)\" belongs inside a virtual block: indent it under a virtual= line"
            case .onlyGlobal(let name):
                return "\"\(name)\" is a global directive: write it in the first column, outside virtual blocks"
            case .indentedOutsideVirtual:
                return "indented line outside a virtual block: global directives start in the first column"
            case .invalidValue(let problem, let expected):
                return "\(problem): expected \(expected)"
            case .deprecated(let explanation):
                return explanation
            case .wrongAddressFamily(let written, let use):
                return "cannot specify \"\(written)\" here. please use \"\(use)\" instead"
            case .unresolvableHost(let name, let what, let family):
                return
                    "could not resolve \"\(name)\" to an \(family == .ipv4 ? "IPv4" : "IPv6") address for the \(what)"
            case .unresolvablePort(let name, let what):
                return
                    "invalid port \"\(name)\" for the \(what): expected a number from 0 to 65535 or a service name from /etc/services"
            case .duplicateVirtualService(let id, let firstLine):
                return "duplicate virtual server \(id): already defined at line \(firstLine)"
            case .duplicateRealServer(let endpoint, let firstLine):
                return "duplicate real server: the kernel entry \(endpoint) is already made by line \(firstLine)"
            case .invalidRealServer(let why):
                return "invalid real server line: \(why)"
            case .unterminatedQuote:
                return "missing closing quote"
            case .unreadable(let why):
                return "cannot read the file: \(why)"
            }
        }
    }
}

/// Everything wrong with a file, in line order.
public struct ConfigErrors: Error, Hashable, Sendable, CustomStringConvertible {
    public var errors: [ConfigError]

    public init(_ errors: [ConfigError]) { self.errors = errors }

    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

/// Something directord accepts, as ldirectord does, but an operator should know about:
/// mostly places where ldirectord silently reads a file differently from how it looks.
public struct ConfigWarning: Hashable, Sendable, CustomStringConvertible {
    public var file: String
    /// 1-based; 0 when the warning is about the file or a virtual service as a whole.
    public var line: Int
    public var text: String
    public var message: String
    /// How ldirectord treats what this warning is about; `check-config --strict` refuses the
    /// file for anything but ``LdirectordReading/same``.
    public var ldirectord: LdirectordReading
    /// Part of the file cannot run as written (a service or real server left out, a value
    /// replaced): logged at error priority at start and reload, not only warned.
    public var isSevere: Bool

    /// How ldirectord reads the part of the file a warning is about.
    public enum LdirectordReading: String, Hashable, Sendable, Codable {
        /// The same way directord does: the warning is about a trap both fall into.
        case same
        /// Differently: directord fixes ldirectord's reading (a deliberate difference).
        case differs
        /// Not at all: ldirectord refuses the file here ("Error ... reading file"); directord
        /// accepts it (a blank line in a block, a comment after a value, CRLF ...).
        case refuses
        /// A directive of directord's own, which ldirectord does not know and so refuses.
        case unknownDirective

        /// What `check-config --strict` says about it.
        public var strictProblem: String? {
            switch self {
            case .same: nil
            case .differs: "directord reads this differently from ldirectord"
            case .refuses: "ldirectord refuses this"
            case .unknownDirective: "ldirectord does not know this directive and refuses the file"
            }
        }
    }

    public init(
        file: String, line: Int, text: String, message: String, ldirectord: LdirectordReading = .same,
        isSevere: Bool = false
    ) {
        self.file = file
        self.line = line
        self.text = text
        self.message = message
        self.ldirectord = ldirectord
        self.isSevere = isSevere
    }

    public var description: String {
        diagnosticText(file: file, line: line, kind: "warning", text: text, message: message)
    }

    /// As `check-config --strict` prints it: an error where ldirectord reads the file
    /// differently or refuses it.
    public var strictDescription: String {
        guard let problem = ldirectord.strictProblem else { return description }
        return diagnosticText(file: file, line: line, kind: "error", text: text, message: "\(problem): \(message)")
    }
}

/// `FILE:LINE: KIND: TEXT: MESSAGE`, the form compilers use, which editors can jump to.
/// The text and message show invisible characters escaped: a file's NUL, binary or
/// terminal-driving bytes are never echoed raw.
func diagnosticText(file: String, line: Int, kind: String, text: String, message: String) -> String {
    let place = line > 0 ? "\(VisibleText.escaping(file)):\(line)" : VisibleText.escaping(file)
    let message = VisibleText.escaping(message)
    return text.isEmpty
        ? "\(place): \(kind): \(message)" : "\(place): \(kind): \(VisibleText.escaping(text)): \(message)"
}
