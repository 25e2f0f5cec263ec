import ArgumentParser
import DirectordChecks
import DirectordCore
import DirectordSystem
import DirectordTestSupport
import Glibc

/// What a reload of a large file costs directord's own code, stage by stage, without the
/// loop, the checks or the kernel: reading and parsing the file as the daemon does, taking it
/// into the director's state, the scheduled checks, the schedule's update and the
/// reconciliation against the table the previous file made. The failover benchmark times
/// the whole reload from the signal; this says where that time goes.
struct ReloadBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Time a reload of a generated file with one real server's weight changed, stage by stage.")

    @OptionGroup var file: GeneratedFileOptions

    func run() throws {
        let (reals, perVirtual, runs) = (file.reals, file.perVirtual, file.runs)
        let original = ParseBench.generate(reals: reals, perVirtual: perVirtual)
        // The first real server's weight (masq 1) made 9: the one change.
        var lines = original.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let first = lines.firstIndex(where: { $0.contains(":8080 masq 1") }) else {
            throw ValidationError("no real line to change")
        }
        lines[first] = lines[first].replacing(":8080 masq 1", with: ":8080 masq 9")
        let changed = lines.joined(separator: "\n")
        // One file rewritten between reloads, as an operator edits it.
        let path = "/tmp/directord-bench-reload.cf"
        func write(_ text: String) throws {
            guard FileSystem.replace(path, with: text) else { throw ValidationError("cannot write \(path)") }
        }
        try write(original)
        defer { unlink(path) }
        let loader = ConfigLoader(checkProblem: { $0.receiveProblem })
        // Kept from load to load, as the daemon keeps it: unchanged blocks are not resolved again.
        var memory = ParseMemory()
        guard let loaded = loader.load(path: path, memory: &memory).configuration else {
            throw ValidationError("the generated file did not load")
        }
        var state = DirectorState(configuration: loaded, observed: IPVSTable())
        // Every real server up, as in a healthy fleet: the changed weight is then one edit.
        for check in state.scheduledChecks {
            _ = state.record(.up("ok", latency: .milliseconds(1)), for: check.realServers)
        }
        state.commit(state.takeReconciliation(phase: .start))
        var schedule = CheckSchedule()
        let start = ContinuousClock.now
        schedule.update(state.scheduledChecks, now: start)

        let clock = ContinuousClock()
        var stages: [String: [Duration]] = [:]
        func timed<T>(_ name: String, _ work: () throws -> T) rethrows -> T {
            let began = clock.now
            defer { stages[name, default: []].append(clock.now - began) }
            return try work()
        }
        var operations = 0
        for run in 0..<runs {
            try write(run % 2 == 0 ? changed : original)
            let whole = clock.now
            guard
                let configuration = timed("read and parse", { loader.load(path: path, memory: &memory).configuration })
            else {
                throw ValidationError("\(path) did not load")
            }
            timed("state.reload") { _ = state.reload(configuration) }
            let checks = timed("scheduledChecks") { state.scheduledChecks }
            timed("schedule.update") { schedule.update(checks, now: start + .seconds(run + 1)) }
            let reconciliation = timed("reconcile") { state.takeReconciliation(phase: .start) }
            timed("commit") { state.commit(reconciliation) }
            stages["whole", default: []].append(clock.now - whole)
            operations = reconciliation.operations.count
        }
        print("reload of \(reals) real servers (\(reals / perVirtual) virtual services), one weight changed")
        for name in [
            "read and parse", "state.reload", "scheduledChecks", "schedule.update", "reconcile", "commit", "whole",
        ] {
            let times = stages[name, default: []].sorted()
            let median = times[times.count / 2]
            print(
                "  \(name + String(repeating: " ", count: max(16 - name.count, 0))) \(format(median / .milliseconds(1))) ms"
            )
        }
        print("table operations: \(operations)   [aim: 1]")
        print("peak resident memory: \(format(ProcessFigures.peakResidentMegabytes)) MB")
    }
}
