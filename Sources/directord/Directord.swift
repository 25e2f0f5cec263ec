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

    /// ldirectord's form puts the verb after the options and the file: `[-d] [CONFIG] VERB
    /// [more options]` becomes `VERB [-d] [CONFIG] [more options]`.
    static func rewritingLdirectordForm(_ arguments: [String]) -> [String] {
        guard let first = arguments.first, !daemonVerbs.contains(first), !["check-config", "table", "help"].contains(first),
            let verb = arguments.firstIndex(where: { daemonVerbs.contains($0) })
        else { return arguments }
        var rest = arguments
        rest.remove(at: verb)
        return [arguments[verb]] + rest
    }

    static func main() {
        main(rewritingLdirectordForm(Array(CommandLine.arguments.dropFirst())))
    }
}
