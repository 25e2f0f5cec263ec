import ArgumentParser
import DirectordDaemon

/// directord's command line.
///
/// The daemon verbs keep ldirectord's form, `directord [-d] [CONFIG] VERB`, so init scripts and
/// habits carry over; they are also subcommands (`directord start [-d] [CONFIG]`), beside
/// directord's own tools.
@main
struct Directord: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "directord",
        abstract: "Health-checking controller for Linux Virtual Server directors, reading ldirectord.cf.",
        discussion: """
            Daemon verbs in ldirectord's form: directord [-d] [--dry-run] [CONFIG] \
            start|stop|restart|try-restart|reload|force-reload|status
            CONFIG is found as ldirectord finds it: /etc/ha.d/CONFIG, /etc/ha.d/conf/CONFIG, then \
            as given; the default is ldirectord.cf.
            """,
        version: Version.current,
        subcommands: [
            Start.self, Stop.self, Restart.self, TryRestart.self, Reload.self, ForceReload.self, Status.self,
            Drain.self, Undrain.self, Events.self, CheckConfig.self, TableCommand.self, Plan.self,
        ]
    )

    static let daemonVerbs: Set<String> = [
        "start", "stop", "restart", "try-restart", "reload", "force-reload", "status", "plan", "drain", "undrain",
        "events",
    ]

    /// ldirectord's form puts the verb after the options and the file: `[-d] [CONFIG] VERB
    /// [more options]` becomes `VERB [-d] [CONFIG] [more options]`.
    static func rewritingLdirectordForm(_ arguments: [String]) -> [String] {
        guard let first = arguments.first, !daemonVerbs.contains(first),
            !["check-config", "table", "help"].contains(first),
            let verb = arguments.firstIndex(where: { daemonVerbs.contains($0) })
        else { return arguments }
        var rest = arguments
        rest.remove(at: verb)
        return [arguments[verb]] + rest
    }

    /// ldirectord's own options, which it reads only before the first other argument (Perl's
    /// Getopt::Long with bundling and require_order): `-v`/`--version`, `-h`/`-?`/`--help`,
    /// `-d`/`--debug`, bundled as `-dv`. After the file or verb, `-v` is `status`'s
    /// `--verbose`, as before.
    static func rewritingLdirectordOptions(_ arguments: [String]) -> [String] {
        var result: [String] = []
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            if argument == "--version" || argument == "--help" || argument == "--debug" {
                result.append(argument)
            } else if argument.count > 1, argument.first == "-",
                argument.dropFirst().allSatisfy({ "dhv?".contains($0) })
            {
                for letter in argument.dropFirst() {
                    switch letter {
                    case "v": result.append("--version")
                    case "d": result.append("-d")
                    default: result.append("--help")
                    }
                }
            } else {
                break
            }
            index += 1
        }
        // --version and --help win wherever they are, as in ldirectord.
        if result.contains("--help") { return ["--help"] }
        if result.contains("--version") { return ["--version"] }
        return result + arguments[index...]
    }

    static func main() {
        main(rewritingLdirectordForm(rewritingLdirectordOptions(Array(CommandLine.arguments.dropFirst()))))
    }
}
