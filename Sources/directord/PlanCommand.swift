import ArgumentParser
import DirectordChecks
import DirectordCore
import DirectordDaemon
import DirectordIPVS
import DirectordSystem
import Dispatch
import FoundationEssentials

/// `directord [CONFIG] plan`: the operations a start would make on the live table, in
/// ipvsadm's words, and nothing changed.
struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print, as ipvsadm commands, what a start would change in the live IPVS table; change nothing.",
        discussion: """
            Reads the kernel's table (or --table, a file `directord table --json` wrote), checks every \
            real server once as a start does, and prints the operations a start would then make, one \
            ipvsadm command a line, followed by the lines it would log. With a daemon running, these \
            are the operations a reload to this file would make. Exit status: 0, 1 when the table \
            cannot be read, 2 for an invalid file.
            """)

    @OptionGroup var daemon: DaemonArguments

    @Option(help: "Plan against this table (JSON, as `directord table --json` prints it) instead of the kernel's.")
    var table: String?

    @Option(name: .customLong("netns"), help: "The IPVS table of this network namespace (a name under /run/netns).")
    var networkNamespace: String?

    func run() throws {
        let configuration = try daemon.loadValidConfiguration()
        let current: IPVSTable
        do {
            if let table {
                guard case .success(let text) = FileSystem.readFile(table) else {
                    printError("directord: cannot read \(table)")
                    throw ExitCode(1)
                }
                current = try JSONDecoder().decode(IPVSSnapshot.self, from: Data(text.utf8)).table
            } else {
                current = try NetlinkIPVSClient(networkNamespace: networkNamespace).table()
            }
        } catch let error as IPVSError {
            printError("directord: \(error)")
            throw ExitCode(1)
        } catch let error as DecodingError {
            printError("directord: \(table ?? "the table") is not a table `directord table --json` wrote: \(error)")
            throw ExitCode(1)
        }
        var options = CheckLoop.Options()
        options.plainHTTPThroughLibcurl = daemon.httpViaLibcurl
        let loop = try CheckLoop(options: options)
        // The root command stays synchronous (start must fork before any thread exists), so
        // the plan's checks run in a task this thread waits for.
        let done = DispatchSemaphore(value: 0)
        let outcome = PlanOutcome()
        Task {
            outcome.text = await StartPlan.plan(configuration: configuration, table: current, loop: loop).text
            await loop.shutdown()
            done.signal()
        }
        done.wait()
        print(outcome.text, terminator: "")
    }
}

/// The plan's text, handed from its task to the waiting thread (the semaphore orders the two).
private final class PlanOutcome: @unchecked Sendable {
    var text = ""
}
