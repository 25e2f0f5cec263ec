import DirectordCore
import DirectordSystem

/// `checktype=external` and `external-perl` (ldirectord's `check_external` and
/// `check_external_perl`): run `checkcommand` with the four arguments (virtual server or
/// firewall mark, virtual port, real server, real port); exit status 0 is up. Killed, with its
/// process group, at `checktimeout`.
///
/// The command is run directly, without a shell, as ldirectord's `exec LIST` does: it is one
/// program path (looked up in PATH). `external-perl` runs the file with `perl` in a process of
/// its own rather than inside the daemon, so a broken script cannot take the daemon with it.
final class ExternalCheck: CheckOperation {
    private let check: HealthCheck
    private let executable: String
    private let arguments: [String]
    private var process: WatchedProcess?
    private var spawnTicket: SpawnTicket?

    init(context: LoopContext, check: HealthCheck, perl: Bool) {
        self.check = check
        if perl {
            executable = "perl"
            arguments = [check.checkCommand] + check.externalArguments
        } else {
            executable = check.checkCommand
            arguments = check.externalArguments
        }
        super.init(context: context)
    }

    private var commandName: String { executable == "perl" ? "perl \(check.checkCommand)" : executable }

    override func begin() {
        guard !check.checkCommand.isEmpty else {
            fail("checkcommand is empty")
            return
        }
        spawnTicket = context.processes.spawn(
            executable, arguments: arguments, outputLimit: context.options.maximumReplyBytes
        ) { [weak self] outcome in
            guard let self else { return }
            self.spawnTicket = nil
            switch outcome {
            case .failure(let error):
                self.fail(error.description)
            case .success(let process):
                self.process = process
                process.onExit = { [weak self] exit, output in
                    guard let self else { return }
                    self.process = nil
                    self.exited(exit, output: output)
                }
            }
        }
    }

    private func exited(_ exit: ProcessExit, output: [UInt8]) {
        switch exit {
        case .exited(0):
            succeed("\(commandName) exited 0")
        case .exited(let status):
            fail("\(commandName) exited \(status)\(Self.lastLine(of: output))")
        case .signalled(let signal):
            fail("\(commandName) was killed by signal \(signal)\(Self.lastLine(of: output))")
        case .unknown(let why):
            fail("\(commandName) ended, but \(why)")
        }
    }

    override func timedOut() {
        guard spawnTicket == nil else {
            fail("\(commandName) could not even be started within \(timeoutText)")
            return
        }
        let output = Self.lastLine(of: process?.outputSoFar ?? [])
        fail("\(commandName) did not finish within \(timeoutText); killed\(output)")
    }

    override func releaseResources() {
        if let spawnTicket { context.processes.abandon(spawnTicket) }
        spawnTicket = nil
        if let process { context.processes.kill(process) }
        process = nil
    }

    /// ": <the last line the command printed>", cut to a readable length, or "".
    static func lastLine(of output: [UInt8]) -> String {
        let text = String(decoding: output, as: UTF8.self)
        guard let line = text.split(whereSeparator: \.isNewline).last(where: { !$0.allSatisfy(\.isWhitespace) })
        else { return "" }
        let trimmed = line.trimmingCharacters(in: 200)
        return ": \(trimmed)"
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in limit: Int) -> String {
        let text = String(self.drop { $0.isWhitespace })
        return text.count > limit ? String(text.prefix(limit)) + "…" : text
    }
}
