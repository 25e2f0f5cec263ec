import DirectordCore
import Testing

/// Each directive ldirectord accepts, read with its meaning.
@Suite("Global directives")
struct GlobalDirectiveTests {
    @Test("every global directive sets its value")
    func everyGlobal() throws {
        let config = try configuration(
            "checktimeout=3", "negotiatetimeout=20", "checkinterval=2", "checkcount=2", "failurecount=4",
            "fallback=127.0.0.1:80 masq", "fallback6=[::1]:80", "fallbackcommand=/usr/local/bin/sorry",
            "autoreload=yes", "callback=\"/usr/local/bin/reloaded\"", "logfile=\"/var/log/directord.log\"",
            "execute=other.cf", "execute=third.cf", "supervised=yes", "fork=yes", "quiescent=yes",
            "readdquiescent=yes", "emailalert=\"a@example.com, b@example.com\"", "emailalertfreq=3600",
            "emailalertstatus=stopping, reloading", "emailalertfrom=lvs@example.com", "cleanstop=no",
            "smtp=mail.example.com", "maintenancedir=/etc/ha.d/maintenance")
        let globals = config.globals
        #expect(globals.checkInterval == 2)
        #expect(globals.autoreload)
        #expect(globals.callback == "/usr/local/bin/reloaded")
        #expect(globals.logTarget == .file("/var/log/directord.log"))
        #expect(globals.execute == ["other.cf", "third.cf"])
        #expect(globals.supervised)
        #expect(globals.fork)
        #expect(globals.readdQuiescent)
        #expect(globals.emailAlertFrom == "lvs@example.com")
        #expect(globals.maintenanceDirectory == "/etc/ha.d/maintenance")
        let defaults = globals.defaults
        #expect(defaults.checkTimeout == 3)
        #expect(defaults.negotiateTimeout == 20)
        #expect(defaults.checkCount == 2)
        #expect(defaults.failureCount == 4)
        #expect(defaults.fallback == FallbackServer(address: .v4("127.0.0.1"), port: 80, forwarding: .masq))
        #expect(defaults.fallback6 == FallbackServer(address: IPAddress("::1")!, port: 80, forwarding: .gate))
        #expect(defaults.fallbackCommand == "/usr/local/bin/sorry")
        #expect(defaults.quiescent == true)
        #expect(defaults.cleanStop == false)
        #expect(defaults.emailAlert == "a@example.com, b@example.com")
        #expect(defaults.emailAlertFrequency == 3600)
        #expect(defaults.emailAlertStatus == [.stopping, .reloading])
        #expect(defaults.smtp == "mail.example.com")
    }

    @Test("logfile names a file when absolute, else a syslog facility")
    func logTargets() throws {
        #expect(try configuration("logfile=\"local0\"").globals.logTarget == .syslog(facility: "local0"))
        #expect(try configuration("logfile=daemon").globals.logTarget == .syslog(facility: "daemon"))
        #expect(try configuration("logfile=/tmp/x.log").globals.logTarget == .file("/tmp/x.log"))
    }

    @Test("emailalertstatus none and all")
    func emailStatuses() throws {
        #expect(try configuration("emailalertstatus=none").globals.defaults.emailAlertStatus == [])
        #expect(try configuration("emailalertstatus=all").globals.defaults.emailAlertStatus == .all)
        #expect(
            try configuration("emailalertstatus=starting,running,stopping,reloading").globals.defaults.emailAlertStatus
                == .all)
    }

    @Test("a bare supervised means yes, with ldirectord's warning")
    func bareSupervised() throws {
        let outcome = parse("supervised", "virtual=10.0.0.10:80", "\treal=10.0.0.1 gate")
        #expect(outcome.configuration?.globals.supervised == true)
        #expect(outcome.warnings.map(\.message) == ["please update your config not to use a bare supervised directive"])
    }
}

@Suite("Virtual directives")
struct VirtualDirectiveTests {
    @Test("every virtual directive sets its value")
    func everyVirtual() throws {
        let service = try virtualService(
            "virtual=192.168.1.10:80",
            "real=10.0.0.1:80 masq", "request=\"health.html\"", "receive=\"OK\"", "checktype=connect",
            "checkcommand=\"/usr/local/bin/check web\"", "checktimeout=2", "negotiatetimeout=8", "checkcount=3",
            "failurecount=2", "checkport=8080", "login=\"monitor\"", "passwd=\"s3cret\"", "database=\"shop\"",
            "secret=\"radius\"", "load=\"cpu\"", "scheduler=wlc", "persistent=900", "schedflags=flag-1,flag-3",
            "netmask=255.255.0.0", "protocol=tcp", "service=https", "httpmethod=head",
            "virtualhost=www.example.com", "fallback=127.0.0.1:8080 masq", "fallbackcommand=\"/bin/sorry\"",
            "quiescent=yes", "emailalert=\"web@example.com\"", "emailalertfreq=60", "emailalertstatus=running",
            "monitorfile=\"/var/log/web.monitor\"", "cleanstop=no", "smtp=relay.example.com",
            "servicename=Web Shop", "comment=Shop front end", "cafile=/etc/ssl/ca.pem", "sniname=shop.example.com")
        #expect(service.request == "/health.html")
        #expect(service.receive == "OK")
        #expect(service.checkType == .connect)
        #expect(service.checkCommand == "/usr/local/bin/check web")
        #expect(service.checkTimeout == 2)
        #expect(service.negotiateTimeout == 8)
        #expect(service.checkCount == 3)
        #expect(service.failureCount == 2)
        #expect(service.checkPort == 8080)
        #expect(service.login == "monitor")
        #expect(service.password == "s3cret")
        #expect(service.database == "shop")
        #expect(service.secret == "radius")
        #expect(service.load == "cpu")
        #expect(service.scheduler.rawValue == "wlc")
        #expect(service.persistence == Persistence(timeout: 900, netmask: 0xffff_0000))
        #expect(service.schedulerFlags == [.flag1, .flag3])
        #expect(service.protocol == .tcp)
        #expect(service.service == .https)
        #expect(service.httpMethod == .head)
        #expect(service.virtualHost == "www.example.com")
        #expect(service.fallback == FallbackServer(address: .v4("127.0.0.1"), port: 8080, forwarding: .masq))
        #expect(service.fallbackCommand == "/bin/sorry")
        #expect(service.quiescent)
        #expect(
            service.emailAlert
                == EmailAlert(
                    recipients: "web@example.com", frequency: 60, statuses: .running, smtp: "relay.example.com"))
        #expect(service.monitorFile == "/var/log/web.monitor")
        #expect(!service.cleanStop)
        #expect(service.serviceName == "Web Shop")
        #expect(service.comment == "Shop front end")
        #expect(service.caFile == "/etc/ssl/ca.pem")
        #expect(service.sniName == "shop.example.com")
        let real = try #require(service.realServers.first)
        #expect(real.checkPort == 8080)
        #expect(real.checkURL == "https://10.0.0.1:8080/health.html")
    }

    @Test(
        "checktype names and numbers",
        arguments: [
            ("connect", CheckType.connect), ("negotiate", .negotiate), ("ping", .ping), ("off", .off), ("on", .on),
            ("external", .external), ("external-perl", .externalPerl), ("5", .combined(negotiateEvery: 5)),
            ("0", .combined(negotiateEvery: 0)),
        ])
    func checkTypes(value: String, type: CheckType) throws {
        #expect(
            try virtualService("virtual=10.0.0.10:80", "real=10.0.0.1 gate", "checktype=\(value)").checkType == type)
    }

    @Test("every service name", arguments: ServiceType.allCases)
    func services(service: ServiceType) throws {
        let virtual = try virtualService("virtual=10.0.0.10:80", "real=10.0.0.1 gate", "service=\(service.rawValue)")
        #expect(virtual.service == service)
    }

    @Test("every kernel scheduler", arguments: Scheduler.known)
    func schedulers(name: String) throws {
        #expect(
            try virtualService("virtual=10.0.0.10:80", "real=10.0.0.1 gate", "scheduler=\(name)").scheduler.rawValue
                == name)
    }

    @Test("sh and mh flag names set the kernel's generic flag bits")
    func schedulerFlags() throws {
        let sh = try virtualService(
            "virtual=10.0.0.10:80", "real=10.0.0.1 gate", "scheduler=sh", "schedflags=sh-fallback,sh-port")
        #expect(sh.schedulerFlags == [.flag1, .flag2])
        #expect(sh.schedulerFlags.names(for: sh.scheduler) == ["sh-fallback", "sh-port"])
        let mh = try virtualService("virtual=10.0.0.10:80", "real=10.0.0.1 gate", "scheduler=mh", "schedflags=mh-port")
        #expect(mh.schedulerFlags.names(for: mh.scheduler) == ["mh-port"])
    }

    @Test("ops=yes makes a UDP service one-packet scheduled")
    func onePacket() throws {
        #expect(try virtualService("virtual=10.0.0.10:53", "real=10.0.0.1 gate", "ops=yes").onePacket)
        #expect(try virtualService("virtual=10.0.0.10:53", "real=10.0.0.1 gate", "ops=no").onePacket == false)
    }

    @Test("IPv6 virtual services, by address and by name")
    func ipv6() throws {
        let service = try virtualService(
            "virtual6=[2001:db8::10]:443", "real6=[2001:db8::1]:443 masq 2", "real6=v6web:8443 masq")
        #expect(service.key == .inet(.tcp, IPAddress("2001:db8::10")!, port: 443))
        #expect(service.service == .https)
        #expect(service.realServers.map(\.endpoint) == ["[2001:db8::1]:443", "[2001:db8::10]:8443"])
        #expect(service.realServers.first?.checkURL == "https://[2001:db8::1]:443/")
        #expect(service.id == "tcp:[2001:db8::10]:443")
        let byName = try virtualService("virtual6=v6web:80", "real6=[2001:db8::1] gate")
        #expect(byName.key == .inet(.tcp, IPAddress("2001:db8::10")!, port: 80))
    }

    @Test("host and service names resolve")
    func names() throws {
        let service = try virtualService("virtual=web1:http", "real=web5:www masq", "real=mixed:https masq")
        #expect(service.key == .inet(.tcp, .v4("10.0.0.1"), port: 80))
        #expect(service.realServers.map(\.endpoint) == ["10.0.0.5:80", "192.168.0.1:443"])
    }

    @Test("http_proxy checks fetch the request as the URL; a per-real URL is used as written")
    func httpProxyURL() throws {
        let service = try virtualService(
            "virtual=10.0.0.10:3128", "real=10.0.0.1:3128 gate",
            "real=10.0.0.2:3128 gate \"http://b.example/\", \"ok\"",
            "request=\"http://www.example.com/\"", "receive=\"Example\"")
        #expect(service.service == .httpProxy)
        #expect(service.realServers.map(\.checkURL) == ["http://www.example.com/", "http://b.example/"])
    }
}

@Suite("Real servers")
struct RealServerTests {
    @Test("weight, per-real request and receive, thresholds")
    func fullLine() throws {
        let service = try virtualService(
            "virtual=10.0.0.10:80", "real=10.0.0.1:80 masq 5 \"alive\", \"I am here\" l:10 u:100",
            "real=10.0.0.2:80 masq 0 \"check.php\",\"a, \\\"b\\\"\"", "real=10.0.0.3:80 ipip 65535 u:50",
            "request=\"/index.html\"", "receive=\"Welcome\"")
        let reals = service.realServers
        #expect(reals.map(\.weight) == [5, 0, 65535])
        #expect(reals.map(\.forwarding) == [.masq, .masq, .ipip])
        #expect(reals[0].request == "/alive" && reals[0].receive == "I am here")
        #expect(reals[0].ownCheckStrings == .requestAndReceive)
        #expect(reals[0].lowerThreshold == 10 && reals[0].upperThreshold == 100)
        #expect(reals[0].checkURL == "http://10.0.0.1:80/alive")
        #expect(reals[1].request == "/check.php" && reals[1].receive == "a, \\\"b\\\"")
        #expect(reals[2].request == "/index.html" && reals[2].receive == "Welcome" && reals[2].ownCheckStrings == .none)
        #expect(reals[2].upperThreshold == 50 && reals[2].lowerThreshold == 0)
    }

    /// ldirectord's add_real_server tests the request against /^\// after capturing; that match
    /// succeeds and resets $2 and $3, so the receive string and the thresholds are lost.
    @Test("a per-real request starting with / loses its receive string and thresholds, as in ldirectord")
    func slashRequestQuirk() throws {
        let outcome = parse(
            "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 masq 5 \"/alive\", \"I am here\" l:10 u:100",
            "\trequest=\"/index.html\"", "\treceive=\"Welcome\"")
        let real = try #require(outcome.configuration?.virtualServices.first?.realServers.first)
        #expect(real.request == "/alive")
        #expect(real.receive == "Welcome")
        #expect(real.checkURL == "http://10.0.0.1:80/index.html")
        #expect(real.lowerThreshold == 0 && real.upperThreshold == 0)
        #expect(real.weight == 5)
        #expect(real.ownCheckStrings == .requestOnly)
        #expect(
            outcome.warnings.map(\.message) == [
                "ldirectord loses the receive string \"I am here\" and the l:/u: thresholds of a real server whose request starts with \"/\"; its HTTP check uses the virtual's request and receive string. directord reads it the same way; write \"alive\" without the leading \"/\" to have them used"
            ])
    }

    @Test("ldirectord's greedy reading of \"request\", \"receive\": the receive string ends at the last quote")
    func greedyRequest() throws {
        let service = try virtualService(
            "virtual=10.0.0.10:80", "real=10.0.0.1:80 gate \"a\", \"b\", \"c\"")
        // /\s+"(.*)"[, ]\s*"(.*)"(.*)/ makes the first group as long as possible.
        #expect(service.realServers[0].request == "/a\", \"b")
        #expect(service.realServers[0].receive == "c")
    }

    @Test("a range expands to one real server per address")
    func ranges() throws {
        let service = try virtualService(
            "virtual=10.0.0.10:80", "real=10.0.0.254->10.0.1.2:8080 masq 3", "real=web1->web5 gate")
        #expect(
            service.realServers.map(\.endpoint) == [
                "10.0.0.254:8080", "10.0.0.255:8080", "10.0.1.0:8080", "10.0.1.1:8080", "10.0.1.2:8080",
                "10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80", "10.0.0.5:80",
            ])
        #expect(service.realServers.allSatisfy { $0.line == 2 || $0.line == 3 })
        #expect(service.realServers.prefix(5).allSatisfy { $0.weight == 3 })
    }

    @Test("ldirectord compares range ends as strings; directord compares numbers")
    func rangeAcrossDigitCount() throws {
        // 5.245.224.254 is 99999998 and 5.245.225.1 is 100000001: "99999998" le "100000001"
        // is false in Perl, so ldirectord adds none of these four.
        let service = try virtualService("virtual=10.0.0.10:80", "real=5.245.224.254->5.245.225.1 gate")
        #expect(
            service.realServers.map(\.address.description) == [
                "5.245.224.254", "5.245.224.255", "5.245.225.0", "5.245.225.1",
            ])
    }
}
