import DirectordCore
import Foundation
import Testing

/// `directord table` against `ipvsadm`, in the lab.
@Suite("Kernel: directord table prints what ipvsadm prints", .tags(.kernel), .enabled(if: Lab.isGuest, Lab.skipReason))
struct KernelCommandLineTests {
    /// The directord executable built beside this test binary.
    static let directord = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("directord").path

    @Test("every listing, in the namespace and with --netns")
    func listings() throws {
        try withNamespace { namespace in
            for command in [
                "-A -t 10.0.0.1:80 -s wrr -p 300 -M 255.255.255.0", "-a -t 10.0.0.1:80 -r 10.0.1.1:80 -g -w 2",
                "-a -t 10.0.0.1:80 -r 10.0.1.2:8080 -m -w 0 -x 10 -y 2", "-A -u [2001:db8::1]:53 -s sh -b sh-port",
                "-a -u [2001:db8::1]:53 -r [2001:db8::2]:53 -m", "-A -f 5 -s rr",
            ] {
                try namespace.ipvsadmOK(command.split(separator: " ").map(String.init))
            }
            for (ours, theirs) in [
                ([], ["-Ln"]), (["--stats"], ["-Ln", "--stats"]), (["--rate"], ["-Ln", "--rate"]),
                (["--thresholds"], ["-Ln", "--thresholds"]), (["--persistent-conn"], ["-Ln", "--persistent-conn"]),
                (["--save"], ["-Sn"]), (["--stats", "--exact"], ["-Ln", "--stats", "--exact"]),
                (["--nosort"], ["-Ln", "--nosort"]),
            ] {
                let expected = try namespace.ipvsadmOK(theirs)
                let inside = try namespace.exec([Self.directord, "table"] + ours)
                #expect(
                    inside.status == 0 && inside.standardOutput == expected,
                    "\(ours): \(inside)ipvsadm \(theirs) printed:\n\(expected)")
                let outside = try run(Self.directord, ["table", "--netns", namespace.name] + ours)
                #expect(
                    outside.status == 0 && outside.standardOutput == expected,
                    "--netns \(ours): \(outside)ipvsadm \(theirs) printed:\n\(expected)")
            }
        }
    }

    @Test("--json is the snapshot, counters included")
    func json() throws {
        try withNamespace { namespace in
            try namespace.ipvsadmOK("-A", "-t", "10.0.0.1:80", "-s", "rr")
            try namespace.ipvsadmOK("-a", "-t", "10.0.0.1:80", "-r", "10.0.1.1:80", "-m", "-w", "3")
            let result = try run(Self.directord, ["table", "--json", "--netns", namespace.name])
            #expect(result.status == 0)
            let snapshot = try JSONDecoder().decode(IPVSSnapshot.self, from: Data(result.standardOutput.utf8))
            #expect(snapshot.table == (try namespace.client().table()))
            #expect(snapshot.info.versionString == "1.2.1")
        }
    }

    @Test("--daemon lists the sync daemons as ipvsadm does")
    func daemons() throws {
        try withNamespace { namespace in
            try namespace.ipvsadmOK("--start-daemon", "backup", "--mcast-interface", "lo", "--syncid", "3")
            let result = try run(Self.directord, ["table", "--daemon", "--netns", namespace.name])
            #expect(result.status == 0)
            #expect(result.standardOutput == (try namespace.ipvsadmOK("-L", "--daemon")))
        }
    }

    @Test("errors are one line on standard error and exit status 1")
    func errors() throws {
        let result = try run(Self.directord, ["table", "--netns", "no-such-namespace"])
        #expect(result.status == 1)
        #expect(result.standardOutput.isEmpty)
        #expect(
            result.standardError
                == "directord: open network namespace /run/netns/no-such-namespace: No such file or directory (errno 2)\n"
        )
    }
}
