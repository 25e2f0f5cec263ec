public import DirectordCore
import Glibc

/// Finds, reads and parses a configuration file, adding the checks that need the file system.
public struct ConfigLoader: Sendable {
    public var parser: ConfigParser
    /// Why a check cannot run as written (a `receive=` that is no regular expression), from
    /// the checkers, which know; nil when it can. What can be known when the file is read is
    /// said then: a typo does not wait for the running daemon to empty a service.
    ///
    /// It must not depend on a real server's address or ports, nor on an external check's
    /// arguments (which name them): within a virtual service it is asked once for each real
    /// server whose request or receive differ from the one before, not once per real server
    /// (it compiles the `receive=` pattern: 10,000 compilations were 45 of the 54 ms a reload of
    /// a 10,000-real file took to read and parse).
    public var checkProblem: (@Sendable (HealthCheck) -> String?)?

    public init(
        resolver: any NameResolving = SystemNameResolver(), checkProblem: (@Sendable (HealthCheck) -> String?)? = nil
    ) {
        self.parser = ConfigParser(resolver: resolver)
        self.checkProblem = checkProblem
    }

    /// Where ldirectord looks for a configuration named on its command line:
    /// /etc/ha.d/NAME, then /etc/ha.d/conf/NAME, then NAME as given.
    public static func locate(_ name: String, searchDirectories: [String] = ["/etc/ha.d", "/etc/ha.d/conf"]) -> String {
        for directory in searchDirectories {
            let candidate = "\(directory)/\(name)"
            if FileSystem.isRegularFile(candidate) { return candidate }
        }
        return name
    }

    /// ldirectord's configuration name: the file name, used in log lines and the pid file.
    public static func configName(of path: String) -> String {
        let base = path.split(separator: "/").last.map(String.init) ?? path
        return base.isEmpty ? "ldirectord" : base
    }

    /// Reads and parses the file at `path`. A file that cannot be read is an error outcome.
    public func load(path: String) -> ConfigParser.Outcome {
        var memory = ParseMemory()
        return load(path: path, memory: &memory)
    }

    /// Reads and parses the file at `path`, taking unchanged blocks from the last parse's
    /// `memory` (a reload) and leaving this parse's in it.
    public func load(path: String, memory: inout ParseMemory) -> ConfigParser.Outcome {
        let text: String
        var notUTF8: [Int] = []
        if let problem = FileSystem.problemReading(path), problem != "does not exist" {
            return ConfigParser.Outcome(
                configuration: nil,
                errors: [ConfigError(file: path, line: 0, text: "", reason: .unreadable("the path \(problem)"))],
                warnings: [])
        }
        switch FileSystem.readBytes(path) {
        case .success(let bytes):
            text = String(decoding: bytes, as: UTF8.self)
            notUTF8 = Self.linesNotUTF8(bytes)
        case .failure(let problem):
            return ConfigParser.Outcome(
                configuration: nil,
                errors: [ConfigError(file: path, line: 0, text: "", reason: .unreadable(problem.description))],
                warnings: [])
        }
        var outcome = parser.parse(text, file: path, memory: &memory)
        for line in notUTF8 {
            outcome.warnings.append(
                ConfigWarning(
                    file: path, line: line, text: "",
                    message:
                        "bytes that are not UTF-8 are read as U+FFFD: a name or a receive= pattern here may not be what is meant (ldirectord reads the bytes as they are)",
                    ldirectord: .differs, isSevere: true))
        }
        if var configuration = outcome.configuration {
            outcome.warnings += environmentWarnings(for: configuration, path: path)
            outcome.warnings += refuseBrokenChecks(in: &configuration, path: path)
            outcome.configuration = configuration
            outcome.warnings.sort { $0.line < $1.line }
        }
        return outcome
    }

    /// A service whose own check cannot run is kept out, as one the kernel refuses (and a
    /// reload keeps its running definition); a real server whose own `"REQUEST", "RECEIVE"`
    /// cannot run is kept out alone.
    func refuseBrokenChecks(in configuration: inout Configuration, path: String) -> [ConfigWarning] {
        guard let checkProblem else { return [] }
        var warnings: [ConfigWarning] = []
        for index in configuration.virtualServices.indices {
            let virtual = configuration.virtualServices[index]
            guard virtual.refusal == nil else { continue }
            // Real servers take their check strings from the service unless they have their own:
            // one answer serves the run of real servers with the same strings.
            // (Their check URLs differ: each names its own address; the rest of it is the request.)
            var last: (request: String, receive: String, problem: String?)?
            for (realIndex, real) in virtual.realServers.enumerated() {
                let problem: String?
                if let last, last.request == real.request, last.receive == real.receive {
                    problem = last.problem
                } else {
                    problem = checkProblem(virtual.healthCheck(for: real))
                    last = (real.request, real.receive, problem)
                }
                guard let problem else { continue }
                let own = real.ownCheckStrings == .requestAndReceive && real.receive != virtual.receive
                let why = "\(problem); \(own ? "this real server is" : "the service is") not run, the rest is"
                warnings.append(
                    ConfigWarning(
                        file: path, line: own ? real.line : virtual.line, text: "", message: why, isSevere: true))
                if own {
                    configuration.virtualServices[index].realServers[realIndex].refusal = problem
                } else {
                    configuration.virtualServices[index].refusal = problem
                    break
                }
            }
        }
        return warnings
    }

    /// The numbers of the lines holding bytes that are not UTF-8.
    static func linesNotUTF8(_ bytes: [UInt8]) -> [Int] {
        // Nearly every file is UTF-8 throughout: one pass says so, without a line's copy each.
        if String(validating: bytes, as: UTF8.self) != nil { return [] }
        var lines: [Int] = []
        for (index, line) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated()
        where String(validating: line, as: UTF8.self) == nil {
            lines.append(index + 1)
        }
        return lines
    }

    /// What ldirectord checks on disk, as warnings: secrets in a file others can read, a
    /// missing maintenance directory, log and monitor files that cannot be opened.
    func environmentWarnings(for configuration: Configuration, path: String) -> [ConfigWarning] {
        var warnings: [ConfigWarning] = []
        func warn(_ line: Int, _ message: String, ldirectord: ConfigWarning.LdirectordReading = .same) {
            warnings.append(ConfigWarning(file: path, line: line, text: "", message: message, ldirectord: ldirectord))
        }
        let holdsSecrets = configuration.virtualServices.contains { !$0.password.isEmpty || !$0.secret.isEmpty }
        if holdsSecrets, let mode = FileSystem.mode(of: path), mode & 0o004 != 0 {
            warn(0, "the file holds a passwd or secret and every user can read it: chmod o-r \(path)")
        }
        if let directory = configuration.globals.maintenanceDirectory, !FileSystem.isDirectory(directory) {
            warn(0, "maintenance directory does not exist: \(directory)")
        }
        // ldirectord opens its log file only when it is not supervised.
        if case .file(let logPath) = configuration.globals.logTarget, !configuration.globals.supervised,
            !FileSystem.canAppend(logPath)
        {
            warn(0, "unable to open logfile: \(logPath)", ldirectord: .refuses)
        }
        for service in configuration.virtualServices {
            if let monitorFile = service.monitorFile, !FileSystem.canAppend(monitorFile) {
                warn(service.line, "unable to open monitorfile \(monitorFile)", ldirectord: .refuses)
            }
        }
        return warnings
    }
}
