import DirectordCore
import Testing

/// What ldirectord silently misreads keeps its meaning, with a warning.
@Suite("Warnings")
struct ConfigWarningTests {
    @Test("virtual=IP without a port is read as a firewall mark, with a warning")
    func portlessVirtual() throws {
        let outcome = parse("virtual=10.0.0.1", "\treal=10.0.0.2 gate", "\tservice=http")
        let service = try #require(outcome.configuration?.virtualServices.first)
        #expect(service.key == .firewallMark(10, .ipv4))
        #expect(
            outcome.warnings.map(\.message) == [
                "read as firewall mark 10, as ldirectord reads an address without a port; write 10.0.0.1:PORT for an address service, or 10 for a firewall mark"
            ])
        #expect(outcome.warnings.first?.line == 1)
    }

    @Test("a virtual whose real servers are never checked")
    func neverChecked() throws {
        let port = warnings("virtual=10.0.0.10:8080", "\treal=10.0.0.1 gate")
        #expect(
            port.map(\.message) == [
                "real servers of tcp:10.0.0.10:8080 are never checked and always count as up: checktype=negotiate with service=none (port 8080 implies no service); set service= or another checktype"
            ])
        let mark = warnings("virtual=3", "\treal=10.0.0.1 gate")
        #expect(
            mark.map(\.message) == [
                "real servers of fwm:3 are never checked and always count as up: checktype=negotiate with service=none (a firewall-mark service has service=none unless one is given); set service= or another checktype"
            ])
        #expect(warnings("virtual=10.0.0.10:8080", "\treal=10.0.0.1:8080 gate", "\tchecktype=connect").isEmpty)
        #expect(warnings("virtual=10.0.0.10:8080", "\treal=10.0.0.1 gate", "\tservice=http").isEmpty)
        let external = warnings("virtual=10.0.0.10:80", "\treal=10.0.0.1 gate", "\tchecktype=external")
        #expect(
            external.map(\.message) == [
                "checktype=external without checkcommand runs /bin/true: real servers of tcp:10.0.0.10:80 always count as up"
            ])
    }

    @Test("a check without any port to connect to")
    func portlessCheck() {
        let found = warnings("virtual=3", "\treal=10.0.0.1 gate", "\tchecktype=connect")
        #expect(
            found.map(\.message) == [
                "the check of real server 10.0.0.1 has no port: give the real server a port, checkport= or a service=; until then its checks fail"
            ])
        #expect(found.first?.line == 2)
    }

    @Test("netmask without persistent, ops on TCP, checkinterval with fork=no, deprecated checkcount")
    func ignoredDirectives() {
        let found = warnings(
            "checkcount=2", "virtual=10.0.0.10:80", "\treal=10.0.0.1 gate", "\tnetmask=255.255.255.0", "\tops=yes",
            "\tcheckinterval=5")
        #expect(
            found.map(\.message) == [
                "checkcount option is deprecated and slated for removal.  please see 'failurecount'",
                "netmask has no effect without persistent=, as in ldirectord",
                "one-packet scheduling is only for UDP services; ldirectord ignores it here",
                "checkinterval in virtual service tcp:10.0.0.10:80 ignored when fork=no",
            ])
        #expect(found.map(\.line) == [1, 4, 5, 6])
    }

    @Test("numbers read leniently, as ldirectord's /(\\d+)/, are warned about")
    func lenientNumbers() throws {
        let outcome = parse(
            "checkinterval=5s", "checktimeout=-3", "virtual=10.0.0.10:80", "\treal=10.0.0.1 gate",
            "\tchecktype=connect 2")
        let config = try #require(outcome.configuration)
        #expect(config.globals.checkInterval == 5)
        #expect(config.globals.defaults.checkTimeout == 3)
        #expect(config.virtualServices.first?.checkType == .combined(negotiateEvery: 2))
        #expect(
            outcome.warnings.map(\.message) == [
                "read as 5, as ldirectord reads it; write checkinterval=5",
                "read as 3, as ldirectord reads it; write checktimeout=3",
                "read as checktype=2 (a combined check), as ldirectord reads it",
            ])
    }

    @Test("words ldirectord reads only the start of")
    func leadingWords() throws {
        let outcome = parse(
            "smtp=mail.example.com:25", "virtual=10.0.0.10:80 tcp", "\treal=10.0.0.1 gate", "\tscheduler=wrr2",
            "\tchecktype=ping now", "\treceive=\"OK\" trailing")
        let service = try #require(outcome.configuration?.virtualServices.first)
        #expect(service.scheduler.rawValue == "wrr")
        #expect(service.checkType == .ping)
        #expect(service.receive == "OK")
        #expect(outcome.configuration?.globals.defaults.smtp == "mail.example.com")
        #expect(
            outcome.warnings.map(\.message) == [
                "read as \"mail.example.com\", as ldirectord reads it; the rest is ignored",
                "read as 10.0.0.10:80: \"tcp\" after it is ignored, as ldirectord ignores it",
                "read as scheduler=wrr, as ldirectord reads it; the rest is ignored",
                "read as checktype=ping, as ldirectord reads it; the rest is ignored",
                "text after the closing quote is ignored: trailing",
            ])
    }

    @Test("a directive set twice keeps the last value, with a warning")
    func repeated() throws {
        let outcome = parse(
            "checkinterval=5", "checkinterval=7", "virtual=10.0.0.10:21", "\treal=10.0.0.1 gate", "\tscheduler=wlc",
            "\tscheduler=rr")
        let config = try #require(outcome.configuration)
        #expect(config.globals.checkInterval == 7)
        #expect(config.virtualServices.first?.scheduler.rawValue == "rr")
        #expect(
            outcome.warnings.map(\.message) == [
                "checkinterval is set again; this replaces line 1, as in ldirectord",
                "scheduler is set again in this virtual block; this replaces line 5, as in ldirectord",
            ])
    }

    @Test("gate and ipip forward to the virtual's port, whatever port the real line names")
    func gatePort() {
        let found = warnings("virtual=10.0.0.10:80", "\treal=10.0.0.1:8080 gate")
        #expect(
            found.map(\.message) == [
                "gate forwards to the virtual service's port 80, not 8080 (as ipvsadm does); checks still use port 8080"
            ])
    }

    @Test("a virtual service without real servers")
    func noReals() {
        #expect(
            warnings("virtual=10.0.0.10:80", "# end").map(\.message) == [
                "virtual service tcp:10.0.0.10:80 has no real servers"
            ])
        // As the file's last line, ldirectord reads it twice and refuses the file.
        #expect(warnings("virtual=10.0.0.10:80").map(\.ldirectord) == [.refuses, .same])
    }

    @Test("the warning text names file and line")
    func warningShape() throws {
        let warning = try #require(warnings("checkinterval=5s").first { $0.line == 1 })
        #expect(
            warning.description
                == "test.cf:1: warning: checkinterval=5s: read as 5, as ldirectord reads it; write checkinterval=5")
    }
}

/// ldirectord's parsing traps that directord fixes (design.md): files ldirectord refuses or
/// misreads that directord reads as they look.
@Suite("Fixed ldirectord traps")
struct LdirectordTrapTests {
    @Test("a # inside a quoted value is text, not a comment")
    func hashInQuotes() throws {
        let service = try virtualService(
            "virtual=10.0.0.10:80", "real=10.0.0.1 gate", "request=\"/status#top\"", "receive=\"count: #1\" # comment")
        #expect(service.request == "/status#top")
        #expect(service.receive == "count: #1")
    }

    @Test("a blank line inside a virtual block does not end it")
    func blankLineInBlock() throws {
        let config = try configuration(
            "virtual=10.0.0.10:80", "\treal=10.0.0.1 gate", "", "   ", "\t# a comment", "# another",
            "\treal=10.0.0.2 gate", "\tscheduler=rr", "checkinterval=3")
        let service = try #require(config.virtualServices.first)
        #expect(service.realServers.count == 2)
        #expect(service.scheduler.rawValue == "rr")
        #expect(config.globals.checkInterval == 3)
    }

    @Test("a trailing comment does not break a yes/no value")
    func trailingComment() throws {
        let config = try configuration(
            "quiescent=yes # weight 0 instead of removal", "autoreload=no\t#", "virtual=10.0.0.10:80",
            "\treal=10.0.0.1 gate # the first", "\tcleanstop=no # keep", "\tops=no   ")
        #expect(config.globals.defaults.quiescent == true)
        #expect(config.globals.autoreload == false)
        #expect(config.virtualServices.first?.cleanStop == false)
        #expect(config.virtualServices.first?.realServers.count == 1)
    }

    @Test("blocks indented with spaces, tabs or a mix; CRLF line endings")
    func indentation() throws {
        let config = try configuration(
            "virtual=10.0.0.10:80\r", "  real=10.0.0.1 gate\r", "    real=10.0.0.2 gate\r", " \treal=10.0.0.3 gate\r",
            "checkinterval=4\r")
        #expect(config.virtualServices.first?.realServers.count == 3)
        #expect(config.globals.checkInterval == 4)
    }

    @Test("request, login and the like are accepted without quotes")
    func unquoted() throws {
        let service = try virtualService(
            "virtual=10.0.0.10:80", "real=10.0.0.1 gate", "request=index.html", "receive=Welcome home", "login=monitor")
        #expect(service.request == "/index.html")
        #expect(service.receive == "Welcome home")
        #expect(service.login == "monitor")
    }
}
