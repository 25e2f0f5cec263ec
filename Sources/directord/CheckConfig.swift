import ArgumentParser
import DirectordCore
import DirectordDaemon
import DirectordSystem
import FoundationEssentials

/// `directord check-config [FILE]`: validate a configuration and print it resolved.
struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Check a configuration file and print it with every default resolved.",
        discussion: """
            FILE is found as ldirectord finds it: /etc/ha.d/FILE, then /etc/ha.d/conf/FILE, then FILE \
            as given. Warnings and errors go to standard error, each naming file and line. Exit \
            status: 0 valid, 1 file not found, 2 configuration errors (ldirectord's code).
            Every file ldirectord runs is valid here; where ldirectord misreads part of it, a \
            warning says what directord does instead. --strict also refuses (exit 2) every file \
            ldirectord itself would refuse and every place directord reads differently from \
            ldirectord: for a pair that still runs ldirectord, or a configuration repository's CI.
            """
    )

    @Argument(help: "The configuration file.")
    var file: String = "ldirectord.cf"

    @Flag(help: "Print the resolved configuration as JSON.")
    var json = false

    @Flag(name: .shortAndLong, help: "Print only warnings and errors.")
    var quiet = false

    @Flag(
        help:
            "Refuse what ldirectord would refuse, and every place directord reads differently from ldirectord, as errors."
    )
    var strict = false

    func run() throws {
        let path = ConfigLoader.locate(file)
        if let problem = FileSystem.problemReading(path) {
            printError(
                problem == "does not exist"
                    ? "Config file \(file) not found" : "Config file \(path) cannot be read: it \(problem)")
            throw ExitCode(1)
        }
        let outcome = ConfigLoader.standard.load(path: path)
        // One list in file order, as an operator reads the file.
        let diagnostics =
            outcome.warnings.map { ($0.line, strict ? $0.strictDescription : $0.description) }
            + outcome.errors.map { ($0.line, $0.description) }
        for (_, text) in diagnostics.sorted(by: { $0.0 < $1.0 }) { printError(text) }
        let strictErrors = strict ? outcome.warnings.filter { $0.ldirectord != .same }.count : 0
        guard let configuration = outcome.configuration, strictErrors == 0 else {
            if json {
                print(try encodeJSON(JSONReport(file: path, configuration: outcome.configuration, outcome: outcome)))
            }
            let count = outcome.errors.count + strictErrors
            printError(
                "\(path): \(count) error\(count == 1 ? "" : "s")\(strict && outcome.errors.isEmpty ? " (--strict: ldirectord would refuse the file or read it differently)" : "")"
            )
            throw ExitCode(2)
        }
        guard !quiet else { return }
        if json {
            print(try encodeJSON(JSONReport(file: path, configuration: configuration, outcome: outcome)))
        } else {
            print("# Resolved configuration of \(path)", terminator: "\n")
            print(ConfigPrinter.print(configuration.hidingSecrets), terminator: "")
        }
    }
}

/// The JSON form of `check-config`: the resolved configuration and every diagnostic.
struct JSONReport: Encodable {
    struct Diagnostic: Encodable {
        var file: String
        var line: Int
        var text: String
        var message: String
        /// For warnings: how ldirectord reads this part (same, differs, refuses, unknownDirective).
        var ldirectord: ConfigWarning.LdirectordReading?
        /// For warnings: part of the file does not run as written (logged as an error).
        var severe: Bool?
    }

    var file: String
    var configuration: Configuration?
    var warnings: [Diagnostic]
    var errors: [Diagnostic]

    init(file: String, configuration: Configuration?, outcome: ConfigParser.Outcome) {
        self.file = file
        self.configuration = configuration?.hidingSecrets
        warnings = outcome.warnings.map {
            Diagnostic(
                file: $0.file, line: $0.line, text: $0.text, message: $0.message, ldirectord: $0.ldirectord,
                severe: $0.isSevere)
        }
        errors = outcome.errors.map {
            Diagnostic(file: $0.file, line: $0.line, text: $0.text, message: $0.reason.description)
        }
    }
}

func encodeJSON(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

func printError(_ message: String) {
    FileDescriptorOutput.standardError.write(message + "\n")
}
