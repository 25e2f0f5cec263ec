import ArgumentParser
import DirectordCore
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
            """
    )

    @Argument(help: "The configuration file.")
    var file: String = "ldirectord.cf"

    @Flag(help: "Print the resolved configuration as JSON.")
    var json = false

    @Flag(name: .shortAndLong, help: "Print only warnings and errors.")
    var quiet = false

    func run() throws {
        let path = ConfigLoader.locate(file)
        guard FileSystem.isRegularFile(path) else {
            printError("Config file \(file) not found")
            throw ExitCode(1)
        }
        let outcome = ConfigLoader().load(path: path)
        // One list in file order, as an operator reads the file.
        let diagnostics =
            outcome.warnings.map { ($0.line, $0.description) } + outcome.errors.map { ($0.line, $0.description) }
        for (_, text) in diagnostics.sorted(by: { $0.0 < $1.0 }) { printError(text) }
        guard let configuration = outcome.configuration else {
            if json { print(try encodeJSON(JSONReport(file: path, configuration: nil, outcome: outcome))) }
            printError("\(path): \(outcome.errors.count) error\(outcome.errors.count == 1 ? "" : "s")")
            throw ExitCode(2)
        }
        guard !quiet else { return }
        if json {
            print(try encodeJSON(JSONReport(file: path, configuration: configuration, outcome: outcome)))
        } else {
            print("# Resolved configuration of \(path)", terminator: "\n")
            print(ConfigPrinter.print(configuration), terminator: "")
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
    }

    var file: String
    var configuration: Configuration?
    var warnings: [Diagnostic]
    var errors: [Diagnostic]

    init(file: String, configuration: Configuration?, outcome: ConfigParser.Outcome) {
        self.file = file
        self.configuration = configuration
        warnings = outcome.warnings.map { Diagnostic(file: $0.file, line: $0.line, text: $0.text, message: $0.message) }
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
