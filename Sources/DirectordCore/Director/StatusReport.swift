/// What the daemon knows right now, for `directord status --verbose`: every real server's
/// health with the check's reason, and the kernel's entry for it.
public struct StatusReport: Codable, Hashable, Sendable {
    public var pid: Int32
    public var configuration: String
    public var daemonStatus: String
    public var virtualServices: [Service]
    /// Table operations the kernel refused at the last attempt, with its reason.
    public var refusedOperations: [String] = []

    public struct Service: Codable, Hashable, Sendable {
        public var id: String
        /// The fallback server's entry, when it is in the kernel's table.
        public var fallback: String?
        /// Why the service is not run (the kernel would refuse it); nil when it runs.
        public var refusal: String?
        public var realServers: [Real]
        /// Real servers a reload removed, at weight 0 until their last connection ends
        /// (`draintimeout`); nil when none, and in older reports.
        public var departing: [String]? = nil
    }

    public struct Real: Codable, Hashable, Sendable {
        public var endpoint: String
        /// up, down, waiting (not checked yet), maintenance, not run (the kernel would refuse it).
        public var state: String
        /// Consecutive failures while still up (soft failures).
        public var failures: Int
        public var reason: String
        /// The weight in the kernel's table; nil when it has no entry.
        public var kernelWeight: Int32?
        /// Kept at weight 0 on the operator's word (see DirectorState+Drains); nil when not.
        public var drained: String? = nil
        /// Its checks fail, but `maxejection` keeps it in; nil in older reports and otherwise.
        public var heldByMaxEjection: Bool? = nil
        /// A slow start under way (`slowstart`): "weight 30 of 100, 12 s of 20"; nil otherwise.
        public var slowStart: String? = nil
        /// What the real server's agent said last and what it made of it (`agentport`); nil
        /// without an agent.
        public var agent: String? = nil
        /// The last check: how long it took (seconds), and when it ended (seconds since 1970).
        public var lastCheckSeconds: Double? = nil
        public var lastCheckAt: Double? = nil
        /// The last change of this real server in the table (its log line), and when; nil
        /// when there was none since the daemon started.
        public var lastChange: String? = nil
        public var lastChangeAt: Double? = nil
    }

    /// When the report was made (seconds since 1970), for "for 3m12s"; nil in older reports.
    public var madeAt: Double? = nil
    /// The kernel's connection-sync daemons, as `ipvsadm -L --daemon` prints them, when the
    /// file asks for some (`syncdaemon=`); nil otherwise and in older reports.
    public var syncDaemons: [String]? = nil
    /// The local error whose check results are set aside (DirectorState+LocalFault); nil when
    /// none is, and in older reports.
    public var localFault: String? = nil

    public init(pid: Int32, configuration: String, daemonStatus: String, virtualServices: [Service]) {
        self.pid = pid
        self.configuration = configuration
        self.daemonStatus = daemonStatus
        self.virtualServices = virtualServices
    }

    /// A table for a terminal.
    public var text: String {
        var lines = ["directord (pid \(pid)) for \(configuration): \(daemonStatus)"]
        if let localFault {
            lines.append(
                "checks failing with \"\(localFault)\", a fault of this director: their results are set aside, the table is kept"
            )
        }
        for service in virtualServices {
            lines.append("")
            lines.append(
                service.id + (service.fallback.map { "  fallback \($0) in use" } ?? "")
                    + (service.refusal.map { "  NOT RUN: \($0)" } ?? ""))
            let width = service.realServers.map(\.endpoint.count).max() ?? 0
            for real in service.realServers {
                let padding = String(repeating: " ", count: width - real.endpoint.count)
                let weight = real.kernelWeight.map { "weight \($0)" } ?? "not in the table"
                let soft = real.failures > 0 && real.state == "up" ? ", \(real.failures) soft failures" : ""
                let drained = real.drained.map { ", drained: \($0)" } ?? ""
                let held = real.heldByMaxEjection == true ? ", held in by maxejection" : ""
                let ramp = real.slowStart.map { ", slow start: \($0)" } ?? ""
                lines.append(
                    "  \(real.endpoint)\(padding)  \(real.state) (\(weight)\(soft)\(drained)\(held)\(ramp)): \(real.reason)"
                )
                if let detail = Self.detail(real, now: madeAt) { lines.append("      " + detail) }
                if let agent = real.agent { lines.append("      agent: " + agent) }
            }
            for departing in service.departing ?? [] { lines.append("  \(departing)") }
        }
        if let syncDaemons {
            lines.append("")
            lines.append("connection sync:" + (syncDaemons.isEmpty ? " no daemon runs" : ""))
            lines += syncDaemons.map { "  \($0)" }
        }
        if !refusedOperations.isEmpty {
            lines.append("")
            lines.append("refused by the kernel:")
            lines += refusedOperations.map { "  \($0)" }
        }
        return lines.map(VisibleText.escaping).joined(separator: "\n") + "\n"
    }
}

extension StatusReport {
    /// `last check 1.2 ms, 3 s ago; up for 3m12s (Added real server: ...)`: what `status -v`
    /// says under a real server when the daemon knows it.
    static func detail(_ real: Real, now: Double?) -> String? {
        var parts: [String] = []
        if let seconds = real.lastCheckSeconds {
            var part = "last check \(Self.duration(seconds))"
            if let at = real.lastCheckAt, let now { part += ", \(Self.duration(max(now - at, 0))) ago" }
            parts.append(part)
        }
        if let change = real.lastChange {
            var part = "\(real.state)"
            if let at = real.lastChangeAt, let now { part += " for \(Self.duration(max(now - at, 0)))" }
            parts.append("\(part) since: \(change)")
        }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }

    /// 850 us, 12.3 ms, 4.2 s, 3m12s, 2h05m.
    static func duration(_ seconds: Double) -> String {
        if seconds < 0.001 { return "\(Int((seconds * 1_000_000).rounded())) us" }
        if seconds < 1 { return "\((seconds * 10_000).rounded() / 10) ms" }
        if seconds < 60 { return "\((seconds * 10).rounded() / 10) s" }
        let whole = Int(seconds)
        if whole < 3600 { return "\(whole / 60)m\(String(format2: whole % 60))s" }
        return "\(whole / 3600)h\(String(format2: whole / 60 % 60))m"
    }
}

extension String {
    /// Two digits, zero-padded.
    fileprivate init(format2 value: Int) {
        self = value < 10 ? "0\(value)" : "\(value)"
    }
}

extension DirectorState {
    /// The report for the kernel's table as given.
    public func statusReport(pid: Int32, configuration path: String, daemonStatus: String)
        -> StatusReport
    {
        var report = StatusReport(
            pid: pid, configuration: path, daemonStatus: daemonStatus,
            virtualServices: configuration.virtualServices.map { virtual in
                let entry = observed[virtual.key]
                let fallback = virtual.fallbackInUse { entry?[destination: $0] != nil }.map { "\($0)" }
                return StatusReport.Service(
                    id: virtual.id, fallback: fallback, refusal: virtual.refusal,
                    realServers: virtual.realServers.map { real in
                        let ref = RealServerRef(service: virtual.key, destination: real.destinationKey)
                        let health = self.health(of: ref)
                        let state: String =
                            if virtual.refusal != nil || real.refusal != nil {
                                "not run"
                            } else if health?.inMaintenance == true {
                                "maintenance"
                            } else if health?.isPending == true {
                                "waiting"
                            } else { health?.state.rawValue ?? "down" }
                        var report = StatusReport.Real(
                            endpoint: real.endpoint, state: state, failures: health?.failures ?? 0,
                            reason: health?.reason ?? "", kernelWeight: entry?[destination: real.destinationKey]?.weight
                        )
                        if ejectionHeld(virtual).contains(ref) {
                            report.heldByMaxEjection = true
                        }
                        report.agent = agentStatus(ref, configured: Int32(clamping: real.weight))
                        if let ramp = ramps[ref], let weight = report.kernelWeight {
                            let elapsed = Int(ramp.began.map { clock - $0 } ?? 0)
                            report.slowStart = "weight \(weight) of \(real.weight), \(elapsed) s of \(ramp.seconds)"
                        }
                        if let drain = drains[ref] {
                            switch drain.origin {
                            case .ipvsadm: report.drained = "weight 0 set outside directord"
                            case .command:
                                report.drained =
                                    switch drain.removal {
                                    case .none: "directord drain"
                                    case .some(let removal) where removal.done: "directord drain, removed once idle"
                                    case .some: "directord drain, to be removed once idle"
                                    }
                            }
                        }
                        return report
                    })
            })
        report.localFault = localFaultFreeze
        // The report's services are the configuration's, in order.
        for (index, virtual) in configuration.virtualServices.enumerated() {
            let departing = departingLines(of: virtual.key)
            if !departing.isEmpty { report.virtualServices[index].departing = departing }
        }
        for service in departingServiceEntries {
            report.virtualServices.append(
                StatusReport.Service(
                    id: service.key.virtualID, fallback: nil, refusal: "removed from the configuration",
                    realServers: [], departing: departingLines(of: service.key)))
        }
        return report
    }
}

extension VirtualService {
    /// The fallback server's entry when the table holds it in place of the real servers (a
    /// fallback that is also a real server is that real server): what `status` and the
    /// metrics show as the fallback in use.
    func fallbackInUse(inTable: (IPVSDestination.Key) -> Bool) -> IPVSDestination.Key? {
        guard let fallback else { return nil }
        let key = fallback.destinationKey(for: self)
        return inTable(key) && !realServers.contains { $0.destinationKey == key } ? key : nil
    }
}

extension DirectorState {
    /// `status -v` lines for a service's departing real servers.
    func departingLines(of key: ServiceKey) -> [String] {
        departures.filter { $0.key.service == key && $0.value.ended == nil }.sorted { "\($0.key)" < "\($1.key)" }
            .map { ref, departure in
                let left = departure.deadline.map { ", at most \(max(0, Int(($0 - clock).rounded(.up)))) s more" } ?? ""
                return
                    "\(ref.destination)  draining (weight 0, removed from the configuration: until its last connection ends\(left))"
            }
    }
}
