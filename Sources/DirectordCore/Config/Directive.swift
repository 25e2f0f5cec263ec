/// The directive names of ldirectord.cf, and where each may appear.
enum Directive {
    /// Directives of the whole file (ldirectord's `read_config` outer loop).
    static let global: Set<String> = Set([
        "checktimeout", "connecttimeout", "negotiatetimeout", "checkinterval", "checkcount", "failurecount",
        "fallback", "fallback6", "fallbackcommand", "autoreload", "callback", "logfile", "execute", "fork",
        "supervised", "quiescent", "readdquiescent", "emailalert", "emailalertfreq", "emailalertstatus",
        "emailalertfrom", "cleanstop", "smtp", "maintenancedir", "timeout", "virtual", "virtual6",
    ]).union(globalExtensions)

    /// Directives of a virtual block (ldirectord's inner loop), plus directord's extensions.
    static let virtual: Set<String> = Set([
        "real", "real6", "request", "receive", "checktype", "checkcommand", "checktimeout", "connecttimeout",
        "negotiatetimeout", "checkcount", "failurecount", "checkinterval", "checkport", "login", "passwd",
        "database", "secret", "load", "scheduler", "persistent", "schedflags", "netmask", "protocol", "ops",
        "service", "httpmethod", "virtualhost", "fallback", "fallback6", "fallbackcommand", "quiescent",
        "emailalert", "emailalertfreq", "emailalertstatus", "monitorfile", "cleanstop", "smtp", "servicename",
        "comment", "timeout",
    ]).union(extensions)

    /// directord's own directives of a virtual block, which ldirectord would refuse.
    static let extensions: Set<String> = Set(["cafile", "sniname", "httpstatus", "httpheader"]).union(policy)

    /// directord's health policy, global and per virtual service.
    static let policy: Set<String> = [
        "risecount", "downinterval", "maxejection", "slowstart", "draintimeout", "agentport", "agentinterval",
        "checkpath",
    ]

    /// directord's own global directives, which ldirectord would refuse.
    static let globalExtensions: Set<String> = Set([
        "repair", "repairinterval", "metrics", "syncdaemon", "syncinterface", "syncid", "syncgroup", "syncport",
        "syncttl", "syncmaxlen",
    ]).union(policy)

    /// Directives that may be given several times, each adding something.
    static let repeatable: Set<String> = ["real", "real6", "execute", "httpheader"]

    static let all = global.union(virtual)

    /// The known directive closest to a misspelt one, if it is close enough to be a typo.
    static func suggestion(for name: Substring) -> String? {
        let lowered = name.lowercased()
        if all.contains(lowered) { return lowered }
        let scored = all.map { ($0, editDistance(lowered, $0)) }.filter { $0.1 <= 2 }
        return scored.min { ($0.1, $0.0) < ($1.1, $1.0) }?.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8)
        let b = Array(b.utf8)
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        if abs(a.count - b.count) > 2 { return 3 }
        var previous = Array(0...b.count)
        var current = previous
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = Swift.min(
                    previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
