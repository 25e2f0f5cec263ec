import ArgumentParser
import DirectordCore
import DirectordTestSupport

/// Parse time and memory for a generated configuration of many real servers.
struct ParseBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parse",
        abstract: "Parse a generated ldirectord.cf with many real servers; print time and memory.")

    @OptionGroup var file: GeneratedFileOptions

    func run() throws {
        let (reals, perVirtual, runs) = (file.reals, file.perVirtual, file.runs)
        let text = Self.generate(reals: reals, perVirtual: perVirtual)
        let parser = ConfigParser(resolver: StaticNameResolver(services: StaticNameResolver.commonServices))
        let before = ProcessFigures.residentMegabytes
        let clock = ContinuousClock()
        var times: [Duration] = []
        var parsed = 0
        for _ in 0..<runs {
            let start = clock.now
            let outcome = parser.parse(text, file: "generated.cf")
            times.append(clock.now - start)
            guard let configuration = outcome.configuration else {
                throw ValidationError("the generated file did not parse: \(outcome.errors.first!)")
            }
            parsed = configuration.realServerCount
        }
        let peak = ProcessFigures.peakResidentMegabytes
        times.sort()
        let median = times[times.count / 2]
        let milliseconds = Double(median.components.seconds) * 1000 + Double(median.components.attoseconds) / 1e15
        print("config: \(text.utf8.count / 1024) KiB, \(reals / perVirtual) virtual services, \(parsed) real servers")
        print("parse time (median of \(runs)): \(format(milliseconds)) ms   [aim: under 100 ms]")
        print("resident memory: \(format(before)) MB before, peak \(format(peak)) MB   [aim: under 30 MB]")
    }

    /// `perVirtual` real servers per virtual service, HTTP negotiate checks, a few per-real
    /// request strings and thresholds so every path of the real-line grammar is exercised.
    static func generate(reals: Int, perVirtual: Int) -> String {
        var lines = ["checktimeout=3", "checkinterval=5", "quiescent=yes", "fallback=127.0.0.1:80", ""]
        var made = 0
        var virtualIndex = 0
        while made < reals {
            lines.append("virtual=10.\(virtualIndex / 250).\(virtualIndex % 250).1:80")
            for index in 0..<min(perVirtual, reals - made) {
                let host = made + index
                var line =
                    "\treal=172.\(16 + host / 65536).\(host / 256 % 256).\(host % 256):8080 masq \(1 + index % 5)"
                if index % 10 == 0 { line += " \"health\", \"OK\"" }
                if index % 7 == 0 { line += " l:10 u:100" }
                lines.append(line)
            }
            made += min(perVirtual, reals - made)
            lines += [
                "\tservice=http", "\tscheduler=wlc", "\trequest=\"/index.html\"", "\treceive=\"Welcome\"",
                "\tpersistent=300", "\tnetmask=255.255.255.0", "",
            ]
            virtualIndex += 1
        }
        return lines.joined(separator: "\n")
    }
}

/// The generated file the parse and reload benchmarks read, and how often they time it.
struct GeneratedFileOptions: ParsableArguments {
    @Option(help: "Real servers in the generated file.")
    var reals = 10_000

    @Option(help: "Real servers per virtual service.")
    var perVirtual = 100

    @Option(help: "Timed runs (medians are reported).")
    var runs = 9
}
