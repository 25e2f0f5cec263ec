import DirectordCore
import Testing

/// Every error names file, line, the offending text and what was expected.
@Suite("Configuration errors")
struct ConfigErrorTests {
    @Test("an error message names file, line, text and expectation")
    func messageShape() throws {
        let error = try onlyError("checkinterval=5", "checktimeout=ten")
        #expect(error.file == "test.cf")
        #expect(error.line == 2)
        #expect(error.text == "checktimeout=ten")
        #expect(
            error.description
                == "test.cf:2: error: checktimeout=ten: invalid check timeout value \"ten\": expected a whole number of seconds above 0"
        )
    }

    @Test("every error of a file is reported, in line order")
    func allErrors() {
        let outcome = parse(
            "checkinterval=0", "virtual=10.0.0.10:80", "\treal=10.0.0.1 gte", "\tquiescent=maybe",
            "bogus=1")
        #expect(outcome.configuration == nil)
        #expect(outcome.errors.map(\.line) == [1, 3, 4, 5])
    }

    @Test("unknown directives, with a suggestion for a near miss")
    func unknownDirectives() throws {
        let typo = try onlyError("chekinterval=5")
        #expect(typo.reason == .unknownDirective("chekinterval", suggestion: "checkinterval"))
        #expect(
            typo.description
                == "test.cf:1: error: chekinterval=5: unknown directive \"chekinterval\"; did you mean \"checkinterval\"?"
        )
        #expect(try onlyError("frobnicate=5").reason == .unknownDirective("frobnicate", suggestion: nil))
        #expect(
            try onlyError("virtual=10.0.0.10:80", "\tRequest=\"/\"").reason
                == .unknownDirective("Request", suggestion: "request"))
        #expect(
            try onlyError("checkinterval 5").reason
                == .invalidValue(problem: "missing \"=\" after checkinterval", expected: "checkinterval=VALUE"))
    }

    @Test("directives in the wrong place")
    func placement() throws {
        #expect(try onlyError("real=10.0.0.1 gate").reason == .onlyInVirtualBlock("real"))
        #expect(try onlyError("scheduler=rr").reason == .onlyInVirtualBlock("scheduler"))
        #expect(try onlyError("virtual=10.0.0.10:80", "\tautoreload=yes").reason == .onlyGlobal("autoreload"))
        #expect(try onlyError("virtual=10.0.0.10:80", "\tvirtual=10.0.0.11:80").reason == .indentedOutsideVirtual)
        #expect(try onlyError("  checkinterval=5").reason == .indentedOutsideVirtual)
    }

    @Test("timeout and connecttimeout are refused with ldirectord's explanation")
    func deprecated() throws {
        let timeout = try onlyError("timeout=5")
        #expect(
            timeout.description
                == "test.cf:1: error: timeout=5: timeout directive deprecated in favour of checktimeout and negotiatetimeout"
        )
        let connect = try onlyError("virtual=10.0.0.10:80", "\tconnecttimeout=5")
        #expect(connect.reason == .deprecated("connecttimeout directive deprecated in favour of negotiatetimeout"))
        #expect(connect.line == 2)
    }

    @Test("the address family of real and fallback lines must match the virtual's")
    func families() throws {
        let real6 = try onlyError("virtual=10.0.0.10:80", "\treal6=[2001:db8::1] gate")
        #expect(real6.description.hasSuffix("cannot specify \"real6\" here. please use \"real\" instead"))
        #expect(
            try onlyError("virtual6=[2001:db8::10]:80", "\treal=10.0.0.1 gate").reason
                == .wrongAddressFamily(written: "real", use: "real6"))
        #expect(
            try onlyError("virtual=10.0.0.10:80", "\tfallback6=[::1]:80").reason
                == .wrongAddressFamily(written: "fallback6", use: "fallback"))
        #expect(
            try onlyError("virtual=[2001:db8::1]:80").reason == .wrongAddressFamily(written: "virtual", use: "virtual6")
        )
        let v6InV4 = try onlyError("virtual=10.0.0.10:80", "\treal=[2001:db8::1]:80 gate")
        #expect(v6InV4.description.contains("an IPv4 address: IPv6 services are written virtual6=, real6=, fallback6="))
    }

    static let invalidValues: [(String, String)] = [
        ("checktimeout=0", "invalid check timeout value: expected a whole number of seconds above 0"),
        ("checktimeout=00", "invalid check timeout value: expected a whole number of seconds above 0"),
        (
            "negotiatetimeout=never",
            "invalid negotiate timeout value \"never\": expected a whole number of seconds above 0"
        ),
        ("checkinterval=", "invalid check interval value \"\": expected a whole number of seconds above 0"),
        ("checkcount=0", "invalid check count value \"0\": expected a whole number above 0"),
        ("failurecount=x", "invalid failure count value \"x\": expected a whole number above 0"),
        ("autoreload=true", "autoreload must be 'yes' or 'no': expected yes or no"),
        ("fork=1", "fork must be 'yes' or 'no': expected yes or no"),
        ("supervised=maybe", "supervised must be 'yes' or 'no': expected yes or no"),
        ("quiescent=", "quiescent must be 'yes' or 'no': expected yes or no"),
        ("readdquiescent=YES", "readdquiescent must be 'yes' or 'no': expected yes or no"),
        ("cleanstop=nope", "cleanstop must be 'yes' or 'no': expected yes or no"),
        ("emailalert=\"\"", "no email address specified: expected one or more e-mail addresses"),
        ("emailalertfreq=often", "invalid email alert frequency \"often\": expected a whole number of seconds"),
        (
            "emailalertstatus=sometimes",
            "invalid email alert status at: \"sometimes\": expected all, none, or a comma-separated list of starting, running, stopping, reloading"
        ),
        (
            "emailalertstatus=none,running",
            "invalid email alert status: \"running\" specified with \"none\": expected all, none, or a comma-separated list of starting, running, stopping, reloading"
        ),
        ("emailalertfrom=", "no email from address specified: expected an e-mail address"),
        ("smtp=:25", "invalid SMTP server address: expected a host name or address"),
        ("maintenancedir=", "maintenance directory not specified: expected a directory"),
        ("fallbackcommand=", "invalid fallback command: expected a command to run"),
        ("fallback=127.0.0.1:80 route", "forward method must be gate, masq or ipip: expected gate, masq or ipip"),
        ("fallback=a b c", "forward method must be gate, masq or ipip: expected gate, masq or ipip"),
        ("fallback6=::1", "could not resolve \":\" to an IPv6 address for the fallback server"),
        (
            "fallback=127.0.0.1:80000",
            "invalid port \"80000\" for the fallback server: expected a number from 0 to 65535 or a service name from /etc/services"
        ),
        (
            "fallback=nowhere.invalid",
            "could not resolve \"nowhere.invalid\" to an IPv4 address for the fallback server"
        ),
    ]

    @Test("invalid global values", arguments: invalidValues)
    func invalidGlobal(line: String, message: String) throws {
        let error = try onlyError(line)
        #expect(error.reason.description == message)
        #expect(error.line == 1)
        #expect(error.text == line)
    }

    static let invalidVirtualValues: [(String, String)] = [
        (
            "checktype=sometimes",
            "invalid checktype \"sometimes\": expected checktype must be \"connect\", \"negotiate\", \"on\", \"off\", \"ping\", \"external\", \"external-perl\" or a positive number"
        ),
        ("checktimeout=0", "invalid check timeout \"0\": expected a whole number of seconds above 0"),
        ("negotiatetimeout=0", "invalid negotiate timeout \"0\": expected a whole number of seconds above 0"),
        ("checkinterval=0", "invalid checkinterval \"0\": expected a whole number of seconds above 0"),
        ("failurecount=0", "invalid failure count \"0\": expected a whole number above 0"),
        ("checkport=0", "checkport must be in range 1..65536: expected checkport must be in range 1..65535"),
        ("checkport=65536", "checkport must be in range 1..65536: expected checkport must be in range 1..65535"),
        ("request=\"\"", "no request string specified: expected a request such as \"/\""),
        ("receive=\"\"", "invalid receive string: expected a non-empty string"),
        ("login=\"\"", "invalid login string: expected a user name"),
        ("passwd=\"\"", "invalid password: expected a password"),
        ("database=\"\"", "invalid database: expected a database name"),
        ("secret=\"\"", "invalid secret: expected a RADIUS shared secret"),
        ("load=\"!!\"", "invalid string for load testing: expected a word"),
        ("checkcommand=", "invalid check command: expected a command"),
        (
            "scheduler=WRR",
            "invalid scheduler, should be only lowercase letters (a-z): expected one of the kernel's schedulers: rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh"
        ),
        ("netmask=24", "invalid netmask: dotted quad notation is required: expected a mask such as 255.255.255.0"),
        (
            "protocol=sctp",
            "protocol must be tcp or udp if the virtual service is an address and port: expected tcp or udp"
        ),
        (
            "protocol=fwm",
            "protocol must be tcp or udp if the virtual service is an address and port: expected tcp or udp"
        ),
        ("ops=maybe", "ops must be 'yes' or 'no': expected yes or no"),
        (
            "service=gopher",
            "invalid service \"gopher\": expected service must be dns, ftp, http, https, http_proxy, imap, imaps, ldap, ldaps, mysql, nntp, none, oracle, pop, pops, radius, pgsql, simpletcp, sip, smtp or submission"
        ),
        ("httpmethod=POST", "httpmethod must be GET or HEAD: expected GET or HEAD"),
        ("quiescent=y", "quiescent must be 'yes' or 'no': expected yes or no"),
        ("monitorfile=", "invalid monitorfile: expected a file path"),
        ("cafile=", "no CA file given: expected a PEM file of trusted CAs"),
        ("sniname=\"\"", "no server name given: expected a TLS server name"),
    ]

    @Test("invalid virtual values", arguments: invalidVirtualValues)
    func invalidVirtual(directive: String, message: String) throws {
        let error = try onlyError("virtual=10.0.0.10:80", "\treal=10.0.0.1 gate", "\t" + directive)
        #expect(error.reason.description == message)
        #expect(error.line == 3)
        // A secret's value is never quoted.
        let secret = directive.hasPrefix("passwd=") || directive.hasPrefix("secret=")
        #expect(error.text == (secret ? directive.prefix { $0 != "=" } + "=<hidden>" : directive))
    }

    @Test("a file without virtual services is warned about; a comment says it is meant")
    func noServices() {
        #expect(parse("checkinterval=5").warnings.map(\.isSevere) == [true])
        let meant = parse("checkinterval=5", "# directord: no virtual services")
        #expect(meant.warnings.isEmpty)
        #expect(meant.configuration?.globals.meansNoServices == true)
        // The whole line, spaces around it aside; the comment as part of another line is not it.
        #expect(
            parse("  \t# directord: no virtual services \t", "checkinterval=5").configuration?.globals.meansNoServices
                == true)
        #expect(
            parse("# directord: no virtual services, yet", "checkinterval=5").configuration?.globals.meansNoServices
                == false)
        #expect(parse("# directord: no virtual service").configuration?.globals.meansNoServices == false)
        #expect(parse("").warnings.count == 1)
        #expect(parse("\r\r\r").warnings.map(\.message).contains { $0.contains("CR alone") })
    }

    @Test("protocol of a firewall-mark service must be fwm")
    func markProtocol() throws {
        let error = try onlyError("virtual=5", "\treal=10.0.0.1 gate", "\tprotocol=tcp")
        #expect(
            error.reason.description
                == "protocol must be fwm if the virtual service is a fwmark (a number): expected fwm")
        #expect(
            try onlyError("virtual6=[2001:db8::1]:80", "\treal6=[2001:db8::2] gate", "\tnetmask=129").reason.description
                == "invalid netmask: a prefix length between 1 and 128 is required: expected a prefix length from 1 to 128"
        )
    }

    /// Lines ldirectord refuses too, with ldirectord's words for why.
    static let invalidReals: [(String, String)] = [
        ("real=10.0.0.1:80", "invalid address for real server (wrong format)"),
        ("real=10.0.0.1:80 route", "forward method must be gate, masq or ipip"),
        ("real=10.0.0.1:80 gate 5x", "Invalid real server line, around \"x\""),
        ("real=10.0.0.1:80 gate 1 \"/x\"", "Invalid real server line, around \" \"/x\"\""),
        ("real=10.0.0.1:80 gate l:x", "Invalid real server line, around \" l:x\""),
        ("real=10.0.0.1:80 gate u:5 u:6", "Invalid real server line, around \" u:6\""),
        ("real=10.0.0.1: gate", "invalid address for real server (wrong format)"),
    ]

    @Test("real server lines ldirectord refuses are errors", arguments: invalidReals)
    func invalidRealLines(line: String, message: String) throws {
        let error = try onlyError("virtual=10.0.0.10:80", "\t" + line)
        #expect(error.reason == .invalidRealServer(message))
        #expect(error.line == 2)
    }

    @Test("real servers that cannot resolve, or a range backwards")
    func unresolvableReals() throws {
        #expect(
            try onlyError("virtual=10.0.0.10:80", "\treal=nowhere.invalid gate").reason
                == .unresolvableHost("nowhere.invalid", what: "real server", family: .ipv4))
        #expect(
            try onlyError("virtual=10.0.0.10:80", "\treal=10.0.0.1:nosuchservice gate").reason
                == .unresolvablePort("nosuchservice", what: "real server"))
        #expect(
            try onlyError("virtual=10.0.0.10:80", "\treal=10.0.0.1:65536 gate").reason
                == .unresolvablePort("65536", what: "real server"))
        #expect(
            try onlyError("virtual=10.0.0.10:80", "\treal=10.0.0.9->10.0.0.1 gate").reason.description
                == "Invalid Range: 10.0.0.9-10.0.0.1: expected the first address not above the last")
        #expect(
            try onlyError("virtual=10.0.0.10:80", "\treal=10.0.0.0->10.1.0.0 gate").reason.description
                == "range 10.0.0.0->10.1.0.0 has 65537 addresses: expected at most 65536 addresses in one range (a larger one is a typo: ldirectord would take hours to read it)"
        )
        // A whole /16 is the most one range may give.
        #expect(
            try configuration("virtual=10.0.0.10:80", "\treal=10.0.0.0->10.0.255.255 gate").virtualServices[0]
                .realServers.count == 65536)
        #expect(
            try onlyError("virtual6=[2001:db8::10]:80", "\treal6=[2001:db8::1]->[2001:db8::5] gate").reason.description
                == "Address range for IPv6 is not supported yet: expected one real6 line per address")
    }

    @Test("duplicate virtual services, as ldirectord tells them")
    func duplicateVirtual() throws {
        let error = try onlyError(
            "virtual=10.0.0.10:80", "\treal=10.0.0.1 gate", "virtual=10.0.0.10:80", "\treal=10.0.0.2 gate")
        #expect(error.reason == .duplicateVirtualService(id: "tcp:10.0.0.10:80", firstLine: 1))
        #expect(error.line == 3)
        // The same address and port over UDP is another service.
        #expect(
            parse(
                "virtual=10.0.0.10:80", "\treal=10.0.0.1 gate", "virtual=10.0.0.10:80", "\tprotocol=udp",
                "\treal=10.0.0.1 gate"
            ).errors.isEmpty)
        #expect(parse("virtual=5", "\treal=10.0.0.1 gate", "virtual6=5", "\treal6=[::1] gate").errors.isEmpty)
    }

    static let invalidVirtualLines: [(String, String)] = [
        (
            "virtual=",
            "invalid address for virtual server \"\": expected IP:PORT, HOST:PORT or a firewall mark (a number)"
        ),
        (
            "virtual=web one:80",
            "invalid address for virtual server \"web one:80\": expected IP:PORT, HOST:PORT or a firewall mark (a number)"
        ),
        (
            "virtual6=[2001:db8::zz]:80",
            "invalid address for virtual server \"[2001:db8::zz]:80\": expected [IPv6]:PORT, HOST:PORT or a firewall mark (a number)"
        ),
        (
            "virtual=10.0.0.10:99999",
            "invalid port \"99999\" for the virtual server: expected a number from 0 to 65535 or a service name from /etc/services"
        ),
        (
            "virtual=nowhere.invalid:80",
            "could not resolve \"nowhere.invalid\" to an IPv4 address for the virtual server"
        ),
    ]

    @Test("invalid virtual= lines", arguments: invalidVirtualLines)
    func invalidVirtualLine(line: String, message: String) throws {
        let error = try onlyError(line, line.hasPrefix("virtual6") ? "\treal6=[::1] gate" : "\treal=10.0.0.1 gate")
        #expect(error.reason.description == message)
        #expect(error.line == 1)
    }
}
