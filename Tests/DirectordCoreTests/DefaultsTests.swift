import DirectordCore
import Testing

/// Every default as ldirectord's code resolves it (not as its manual says).
@Suite("Defaults")
struct DefaultsTests {
    @Test("a bare virtual service gets ldirectord's defaults")
    func virtualDefaults() throws {
        let service = try virtualService("virtual=192.168.1.10:80", "real=10.0.0.1:80 gate")
        #expect(service.key == .inet(.tcp, .v4("192.168.1.10"), port: 80))
        #expect(service.protocol == .tcp)
        #expect(service.checkType == .negotiate)
        #expect(service.service == .http)
        #expect(service.scheduler.rawValue == "wrr")
        #expect(service.schedulerFlags == [])
        #expect(service.persistence == nil)
        #expect(service.onePacket == false)
        #expect(service.request == "/")
        #expect(service.receive == "")
        #expect(service.httpMethod == .get)
        #expect(service.checkCommand == "/bin/true")
        #expect(service.checkPort == nil)
        #expect(service.virtualHost == nil)
        #expect(service.login == "" && service.password == "" && service.database == "" && service.secret == "")
        #expect(service.checkTimeout == 5)
        #expect(service.negotiateTimeout == 30)
        #expect(service.checkInterval == 10)
        #expect(service.checkCount == 1)
        #expect(service.failureCount == 1)
        #expect(service.quiescent == false)
        #expect(service.cleanStop == true)
        #expect(service.fallback == nil)
        #expect(service.fallbackCommand == nil)
        #expect(service.emailAlert == nil)
        #expect(service.id == "tcp:192.168.1.10:80")
    }

    @Test("a real server defaults to weight 1, no thresholds, the request of its virtual")
    func realDefaults() throws {
        let real = try #require(
            try virtualService("virtual=192.168.1.10:80", "real=10.0.0.1:80 gate").realServers.first)
        #expect(real.address == .v4("10.0.0.1"))
        #expect(real.port == 80)
        #expect(real.configuredPort == 80)
        #expect(real.forwarding == .gate)
        #expect(real.weight == 1)
        #expect(real.lowerThreshold == 0 && real.upperThreshold == 0)
        #expect(real.checkPort == 80)
        #expect(real.request == "/" && real.receive == "")
        #expect(real.checkURL == "http://10.0.0.1:80/")
        #expect(real.ownCheckStrings == .none)
    }

    @Test("global defaults")
    func globalDefaults() throws {
        let globals = try configuration("").globals
        #expect(globals.checkInterval == 10)
        #expect(globals.autoreload == false)
        #expect(globals.callback == nil)
        #expect(globals.logTarget == .file("/var/log/ldirectord.log"))
        #expect(globals.execute == [])
        #expect(globals.supervised == false)
        #expect(globals.fork == false)
        #expect(globals.readdQuiescent == false)
        #expect(globals.maintenanceDirectory == nil)
        #expect(globals.emailAlertFrom == nil)
        #expect(globals.defaults == GlobalSettings.Defaults())
    }

    /// ldirectord's ld_setup: checktimeout and negotiatetimeout default to each other, per
    /// virtual first, then globally in the same crossed order, then 5 and 30.
    @Test(
        "checktimeout and negotiatetimeout fall back to each other, then to 5 and 30",
        arguments: [
            // global checktimeout, global negotiatetimeout, virtual checktimeout, virtual negotiatetimeout -> (check, negotiate)
            (nil, nil, nil, nil, 5, 30),
            (3, nil, nil, nil, 3, 3),
            (nil, 20, nil, nil, 20, 20),
            (3, 20, nil, nil, 3, 20),
            (nil, nil, 7, nil, 7, 7),
            (nil, nil, nil, 9, 9, 9),
            (3, 20, 7, nil, 7, 7),
            (3, 20, nil, 9, 9, 9),
            (3, 20, 7, 9, 7, 9),
            (nil, 20, 7, nil, 7, 7),
        ] as [(Int?, Int?, Int?, Int?, Int, Int)])
    func timeoutChain(
        globalCheck: Int?, globalNegotiate: Int?, virtualCheck: Int?, virtualNegotiate: Int?, check: Int,
        negotiate: Int
    ) throws {
        var lines: [String] = []
        if let globalCheck { lines.append("checktimeout=\(globalCheck)") }
        if let globalNegotiate { lines.append("negotiatetimeout=\(globalNegotiate)") }
        lines.append("virtual=10.0.0.10:80")
        lines.append("\treal=10.0.0.1:80 gate")
        if let virtualCheck { lines.append("\tchecktimeout=\(virtualCheck)") }
        if let virtualNegotiate { lines.append("\tnegotiatetimeout=\(virtualNegotiate)") }
        let outcome = testParser.parse(lines.joined(separator: "\n"), file: "t.cf")
        let service = try #require(outcome.configuration?.virtualServices.first)
        #expect(service.checkTimeout == check)
        #expect(service.negotiateTimeout == negotiate)
    }

    @Test("globals written after a virtual block still apply to it, as in ldirectord")
    func globalsAfterBlock() throws {
        let service = try #require(
            try configuration(
                "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate", "quiescent=yes", "checktimeout=4",
                "failurecount=3", "cleanstop=no", "fallback=127.0.0.1:8080"
            ).virtualServices.first)
        #expect(service.quiescent)
        #expect(service.checkTimeout == 4)
        #expect(service.failureCount == 3)
        #expect(!service.cleanStop)
        #expect(service.fallback == FallbackServer(address: .v4("127.0.0.1"), port: 8080, forwarding: .gate))
    }

    @Test(
        "the service follows the virtual's port as ldirectord's ld_port_to_service",
        arguments: [
            (21, ServiceType.ftp), (25, .smtp), (53, .dns), (80, .http), (110, .pop), (119, .nntp), (143, .imap),
            (389, .ldap), (443, .https), (587, .submission), (636, .ldaps), (993, .imaps), (995, .pops),
            (1521, .oracle), (1812, .radius), (3128, .httpProxy), (3306, .mysql), (5060, .sip), (5432, .pgsql),
            (8080, .none), (22, .none),
        ])
    func serviceFromPort(port: Int, service: ServiceType) throws {
        let virtual = try virtualService("virtual=10.0.0.10:\(port)", "real=10.0.0.1 gate", "persistent=60")
        #expect(virtual.service == service)
    }

    @Test("port 53, written as a number or as \"domain\", makes a UDP service")
    func dnsIsUDP() throws {
        #expect(try virtualService("virtual=10.0.0.10:53", "real=10.0.0.1 gate").protocol == .udp)
        let byName = try virtualService("virtual=10.0.0.10:domain", "real=10.0.0.1 gate")
        #expect(byName.key == .inet(.udp, .v4("10.0.0.10"), port: 53))
        #expect(try virtualService("virtual=10.0.0.10:53", "real=10.0.0.1 gate", "protocol=tcp").protocol == .tcp)
        #expect(try virtualService("virtual=10.0.0.10:80", "real=10.0.0.1 gate", "protocol=udp").protocol == .udp)
    }

    @Test("a firewall mark service has protocol fwm, port 0 and service none unless given")
    func firewallMark() throws {
        let service = try virtualService("virtual=42", "real=10.0.0.1 gate")
        #expect(service.key == .firewallMark(42, .ipv4))
        #expect(service.protocol == .fwm)
        #expect(service.service == .none)
        #expect(service.id == "fwm:42")
        #expect(service.realServers.first?.port == 0)
        let v6 = try virtualService("virtual6=42", "real6=[2001:db8::1] gate", "service=http")
        #expect(v6.key == .firewallMark(42, .ipv6))
        #expect(v6.id == "fwm6:42")
        #expect(v6.service == .http)
        #expect(v6.realServers.first?.checkPort == 80)
    }

    @Test("the check port is checkport, else the real's own port, else the service's port")
    func checkPortChain() throws {
        let service = try virtualService(
            "virtual=10.0.0.10:80", "real=10.0.0.1:8080 masq", "real=10.0.0.2 masq", "real=10.0.0.3:0 masq",
            "service=https")
        #expect(service.realServers.map(\.checkPort) == [8080, 443, 443])
        let withCheckport = try virtualService(
            "virtual=10.0.0.10:80", "real=10.0.0.1:8080 masq", "checkport=9000")
        #expect(withCheckport.realServers.first?.checkPort == 9000)
        let unknown = try virtualService("virtual=10.0.0.10:8080", "real=10.0.0.1 gate", "checktype=on")
        #expect(unknown.realServers.first?.checkPort == nil)
    }

    @Test("the kernel port: gate and ipip take the virtual's port; masq keeps its own, 0 when none")
    func kernelPort() throws {
        let service = try virtualService(
            "virtual=10.0.0.10:80", "real=10.0.0.1 gate", "real=10.0.0.2:8080 gate", "real=10.0.0.3:8081 ipip",
            "real=10.0.0.4 masq", "real=10.0.0.5:8080 masq")
        #expect(service.realServers.map(\.port) == [80, 80, 80, 0, 8080])
        #expect(service.realServers.map(\.configuredPort) == [nil, 8080, 8081, nil, 8080])
        let mark = try virtualService("virtual=7", "real=10.0.0.1:443 gate", "real=10.0.0.2 gate")
        #expect(mark.realServers.map(\.port) == [443, 0])
    }

    @Test("service=ftp fills in ldirectord's anonymous login; service=sip its login; unless given before")
    func serviceLogins() throws {
        let ftp = try virtualService("virtual=10.0.0.10:21", "real=10.0.0.1 gate", "service=ftp")
        #expect(ftp.login == "anonymous")
        #expect(ftp.password == "ldirectord@director1")
        let sip = try virtualService("virtual=10.0.0.10:5060", "real=10.0.0.1 gate", "service=sip")
        #expect(sip.login == "ldirectord@director1")
        #expect(sip.password == "")
        let given = try virtualService(
            "virtual=10.0.0.10:21", "real=10.0.0.1 gate", "login=\"bob\"", "service=ftp")
        #expect(given.login == "bob")
        // Derived from the port, not written: ldirectord fills in nothing.
        let derived = try virtualService("virtual=10.0.0.10:21", "real=10.0.0.1 gate")
        #expect(derived.service == .ftp && derived.login == "")
    }

    @Test("checkinterval per virtual counts only with fork=yes")
    func checkIntervalAndFork() throws {
        let noFork = try #require(
            try configuration("checkinterval=3", "virtual=10.0.0.10:80", "\treal=10.0.0.1 gate", "\tcheckinterval=20")
                .virtualServices.first)
        #expect(noFork.checkInterval == 3)
        let forked = try configuration(
            "fork=yes", "checkinterval=3", "virtual=10.0.0.10:80", "\treal=10.0.0.1 gate", "\tcheckinterval=20",
            "virtual=10.0.0.11:80", "\treal=10.0.0.1 gate")
        #expect(forked.virtualServices.map(\.checkInterval) == [20, 3])
    }

    @Test("e-mail alert settings merge per virtual over the globals")
    func emailAlerts() throws {
        let config = try configuration(
            "emailalert=\"ops@example.com\"", "emailalertfreq=600", "emailalertstatus=starting,running",
            "smtp=mail.example.com", "virtual=10.0.0.10:80", "\treal=10.0.0.1 gate",
            "virtual=10.0.0.11:80", "\treal=10.0.0.1 gate", "\temailalert=web@example.com", "\temailalertfreq=0",
            "\temailalertstatus=all", "\tsmtp=relay")
        let first = try #require(config.virtualServices[0].emailAlert)
        #expect(
            first
                == EmailAlert(
                    recipients: "ops@example.com", frequency: 600, statuses: [.starting, .running],
                    smtp: "mail.example.com"))
        let second = try #require(config.virtualServices[1].emailAlert)
        #expect(second == EmailAlert(recipients: "web@example.com", frequency: 0, statuses: .all, smtp: "relay"))
        let none = try virtualService("virtual=10.0.0.10:80", "real=10.0.0.1 gate")
        #expect(none.emailAlert == nil)
    }

    @Test("a global fallback applies with the virtual's port when it names none")
    func globalFallback() throws {
        let config = try configuration(
            "fallback=127.0.0.1", "fallback6=[::1]:8443 masq", "virtual=10.0.0.10:80", "\treal=10.0.0.1 gate",
            "virtual=10.0.0.11:443", "\treal=10.0.0.1 gate", "\tfallback=127.0.0.2:https masq",
            "virtual6=[2001:db8::10]:443", "\treal6=[2001:db8::1] gate", "virtual=5", "\treal=10.0.0.1 gate")
        #expect(
            config.virtualServices[0].fallback == FallbackServer(address: .v4("127.0.0.1"), port: 80, forwarding: .gate)
        )
        #expect(
            config.virtualServices[1].fallback
                == FallbackServer(address: .v4("127.0.0.2"), port: 443, forwarding: .masq))
        #expect(
            config.virtualServices[2].fallback
                == FallbackServer(address: IPAddress("::1")!, port: 8443, forwarding: .masq))
        // ldirectord loses the global fallback of a firewall-mark service; directord keeps it.
        #expect(
            config.virtualServices[3].fallback == FallbackServer(address: .v4("127.0.0.1"), port: 0, forwarding: .gate))
        #expect(
            config.globals.defaults.fallback == FallbackServer(address: .v4("127.0.0.1"), port: nil, forwarding: .gate))
    }

    @Test("persistence: timeout with the family's default mask, or the netmask given")
    func persistence() throws {
        let plain = try virtualService("virtual=10.0.0.10:80", "real=10.0.0.1 gate", "persistent=300")
        #expect(plain.persistence == Persistence(timeout: 300, netmask: 0xffff_ffff))
        let masked = try virtualService(
            "virtual=10.0.0.10:80", "real=10.0.0.1 gate", "persistent=600", "netmask=255.255.255.0")
        #expect(masked.persistence == Persistence(timeout: 600, netmask: 0xffff_ff00))
        let v6 = try virtualService(
            "virtual6=[2001:db8::10]:80", "real6=[2001:db8::1] gate", "persistent=60", "netmask=64")
        #expect(v6.persistence == Persistence(timeout: 60, netmask: 64))
        let v6Default = try virtualService("virtual6=[2001:db8::10]:80", "real6=[2001:db8::1] gate", "persistent=60")
        #expect(v6Default.persistence?.netmask == 128)
    }
}
