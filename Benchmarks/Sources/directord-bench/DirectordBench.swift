import ArgumentParser

/// Benchmarks that print figures; speed and memory goals live here, not in tests.
@main
struct DirectordBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "directord-bench",
        abstract: "directord benchmarks. Build with -c release for meaningful figures.",
        subcommands: [
            ParseBench.self, ReloadBench.self, CheckBench.self, IPVSBench.self, IPVSBenchApply.self,
            FailoverBench.self, FleetCommand.self,
        ]
    )
}
