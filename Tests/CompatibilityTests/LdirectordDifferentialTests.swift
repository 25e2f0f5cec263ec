import DirectordCore
import DirectordSystem
import Foundation
import Testing

/// ldirectord itself and directord read the same files into the same IPVS table.
///
/// Every real server uses checktype=on, so ldirectord adds all of them; directord's table is
/// its resolved configuration with every real server up. Names resolve on this machine for
/// both (getaddrinfo, /etc/services).
@Suite(
    "Differential against ldirectord",
    .enabled(
        if: LdirectordHarness.isAvailable || ProcessInfo.processInfo.environment["CI"] == "true",
        "Debian's ldirectord is not installed (apt-get install ldirectord)"))
struct LdirectordDifferentialTests {
    static let corpus: [(String, String)] = [
        (
            "web",
            """
            checkinterval=60
            virtual=10.0.0.10:80
            \treal=10.0.0.1:80 gate
            \treal=10.0.0.2 masq 5 "alive", "yes" l:3 u:30
            \treal=10.0.0.3:8080 masq 0
            \treal=10.0.0.4:8081 masq 65535 u:100
            \tchecktype=on
            \tscheduler=rr
            \tpersistent=300
            \tnetmask=255.255.255.0
            virtual=10.0.0.10:https
            \treal=10.0.0.1:443 masq 2
            \treal=10.0.0.2:443 ipip
            \tchecktype=on
            \tscheduler=wlc
            """
        ),
        (
            "udp-and-marks",
            """
            checkinterval=60
            virtual=10.0.0.11:domain
            \treal=10.0.0.5:53 gate 3
            \treal=10.0.0.6:53 gate
            \tops=yes
            \tchecktype=on
            \tscheduler=sh
            \tschedflags=sh-port
            virtual=7
            \treal=10.0.0.4 gate
            \treal=10.0.0.5:80 masq 4
            \tchecktype=on
            \tpersistent=900
            \tnetmask=255.255.0.0
            virtual6=7
            \treal6=[2001:db8::4] gate
            \tchecktype=on
            \tscheduler=mh
            \tschedflags=mh-fallback,mh-port
            """
        ),
        (
            "ipv6-and-port-zero",
            """
            checkinterval=60
            virtual6=[2001:db8:0:0::1]:443
            \treal6=[2001:DB8::2]:443 masq
            \treal6=[2001:db8::3]:8443 masq 7 l:1 u:2
            \tchecktype=on
            \tpersistent=100
            virtual6=[2001:db8::1]:80
            \treal6=[2001:db8::2] gate
            \tchecktype=on
            \tpersistent=60
            \tnetmask=64
            virtual=10.0.0.12:0
            \treal=10.0.0.7 gate
            \treal=10.0.0.8 gate
            \tchecktype=on
            \tpersistent=1800
            """
        ),
        (
            "ranges-names-quirks",
            """
            checkinterval=60
            virtual=localhost:www
            \treal=10.1.0.254->10.1.1.2:8080 masq 2
            \treal=localhost:http gate
            \treal=10.1.2.1:80 masq 9 "/health", "ok" l:5 u:10
            \treal=10.1.2.2:80 masq 1 "a", "b", "c"
            \tchecktype=on
            \tprotocol=tcp
            """
        ),
        (
            "schedulers",
            (["checkinterval=60"]
                + Scheduler.known.enumerated().flatMap { index, name in
                    [
                        "virtual=10.2.0.\(index + 1):80", "\treal=10.2.1.\(index + 1):80 masq \(index)",
                        "\tchecktype=on", "\tscheduler=\(name)",
                    ]
                }).joined(separator: "\n")
        ),
    ]

    @Test("ldirectord and directord settle on the same table", arguments: corpus)
    func sameTable(name: String, config: String) throws {
        let directord = try ConfigLoader().parser.configuration(from: config, file: name).0
        let expected = LdirectordHarness.expectedTable(directord)
        let (table, transcript) = try LdirectordHarness.settledTable(for: config, name: name)
        #expect(table == expected, "ldirectord:\n\(table)\ndirectord:\n\(expected)\n\(transcript.suffix(3000))")
    }

    @Test("the bundled example, every check switched on, gives ldirectord's table")
    func bundledExample() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        var text = try String(contentsOf: root.appendingPathComponent("etc/ldirectord.cf"), encoding: .utf8)
        // Checks on; a sorry server would only show while no real server is up.
        text = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            if line.hasPrefix("\tchecktype=") || line.hasPrefix("fallback=") || line.hasPrefix("\tfallback=")
                || line.hasPrefix("logfile=") || line.hasPrefix("quiescent=")
            {
                return "#" + line
            }
            return String(line)
        }.joined(separator: "\n")
        text = text.replacingOccurrences(of: "\tscheduler=", with: "\tchecktype=on\n\tscheduler=")
        let directord = try ConfigLoader().parser.configuration(from: text, file: "etc").0
        #expect(directord.virtualServices.allSatisfy { $0.checkType == .on })
        let (table, transcript) = try LdirectordHarness.settledTable(for: text, name: "etc")
        #expect(table == LdirectordHarness.expectedTable(directord), "\(table)\n\(transcript.suffix(3000))")
    }

    /// ldirectord's start adds each real server, then quiesces it (weight 0), then restores it
    /// by "IP:0" for a gate real written without a port; ipvsadm maps that to the service's
    /// port, the add collides with the quiesced entry, and the real server stays at weight 0.
    @Test("ldirectord leaves a quiescent gate real written without a port at weight 0")
    func quiescentPortlessGateBug() throws {
        let config = """
            checkinterval=60
            quiescent=yes
            virtual=10.0.0.20:80
            \treal=10.0.0.21 gate 3
            \treal=10.0.0.22:80 gate 4
            \tchecktype=on
            """
        let directord = try ConfigLoader().parser.configuration(from: config, file: "bug").0
        let expected = LdirectordHarness.expectedTable(directord)
        let (table, _) = try LdirectordHarness.settledTable(for: config, name: "bug")
        var stuck = expected
        stuck.services["TCP 10.0.0.20:80"]?.destinations["10.0.0.21:80"]?.weight = 0
        #expect(expected.services["TCP 10.0.0.20:80"]?.destinations["10.0.0.21:80"]?.weight == 3)
        #expect(table == stuck, "\(table)")
    }
}
