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
            CheckConfig.self, TableCommand.self,
        ]
    )

    static let daemonVerbs: Set<String> = ["start", "stop", "restart", "try-restart", "reload", "force-reload", "status"]

    /// ldirectord's form puts the verb last: `[-d] [CONFIG] VERB` becomes `VERB [-d] [CONFIG]`.
    static func rewritingLdirectordForm(_ arguments: [String]) -> [String] {
        guard let first = arguments.first, !daemonVerbs.contains(first), !["check-config", "table", "help"].contains(first),
            let last = arguments.last, daemonVerbs.contains(last)
        else { return arguments }
        return [last] + arguments.dropLast()
    }

    static func main() {
        main(rewritingLdirectordForm(Array(CommandLine.arguments.dropFirst())))
    }
}
