import ArgumentParser

/// directord's command line.
///
/// The daemon verbs keep ldirectord's form, `directord [-d] [CONFIG] VERB`, so init scripts and
/// habits carry over; directord's own tools are subcommands. Only verbs that work are listed.
@main
struct Directord: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "directord",
        abstract: "Health-checking controller for Linux Virtual Server directors, reading ldirectord.cf.",
        discussion: """
            directord reads ldirectord's configuration files with ldirectord's meaning.

            Planned daemon verbs, in ldirectord's form: directord [-d] [CONFIG] \
            start|stop|restart|try-restart|reload|force-reload|status
            """,
        version: "0.1.0",
        subcommands: [CheckConfig.self, TableCommand.self]
    )
}
