import DirectordCore
import Prometheus

/// directord's Prometheus metrics, kept in a swift-prometheus registry, which also writes the
/// text format. Counters move as things happen (a check ends, a reload, a table operation);
/// the series about the table and the servers are copied from a ``MetricsView`` at each scrape,
/// which reads the kernel's table once. The series of servers and services that are gone are
/// unregistered, so a scrape never shows a stale one.
///
/// The registry is used directly, not through swift-metrics' factory: that path writes no
/// `# HELP` lines, which `promtool check metrics` asks for. Owned by the director (its actor);
/// nothing here is shared.
final class DirectorMetrics {
    let registry = PrometheusCollectorRegistry()

    private let reloadsApplied: Counter
    private let reloadsRefused: Counter
    private let lastReloadSuccess: Gauge
    private let transitionsUp: Counter
    private let transitionsDown: Counter
    private let checksLate: Counter
    private var checks: [String: (passed: Counter, failed: Counter, duration: DurationHistogram)] = [:]
    private var operations: [String: Counter] = [:]

    private struct RealServerSeries {
        var up: Gauge
        var drained: Gauge
        var held: Gauge
        var weight: Gauge?
    }
    private struct DestinationSeries {
        var active: Gauge
        var inactive: Gauge
        var connections: Counter
        var packetsIn: Counter
        var packetsOut: Counter
        var bytesIn: Counter
        var bytesOut: Counter
        /// The kernel's counters as last copied: a smaller value means a new entry.
        var last: IPVSStatistics
    }
    private var realServers: [MetricsView.Labels: RealServerSeries] = [:]
    private var services: [MetricsView.Labels: Gauge] = [:]
    private var destinations: [MetricsView.Labels: DestinationSeries] = [:]
    private var syncDaemons: [IPVSSyncDaemon.Role: Gauge] = [:]
    private let localFault: Gauge

    /// The buckets of the check duration histogram: a millisecond to half a minute (the
    /// longest a check may take is its timeout).
    static let durationBuckets: [Duration] = [
        .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
    ]

    init(version: String) {
        registry.makeGauge(
            descriptor: Self.name("build_info", help: "directord's version, as a label; always 1"),
            labels: [("version", version)]
        ).set(to: 1)
        localFault = registry.makeGauge(
            descriptor: Self.name(
                "local_fault_active",
                help:
                    "1 while nearly every check fails with an error of the director's own and their results are set aside"
            ),
            labels: [])
        let reloads = Self.name(
            "config_reloads", unit: "total", help: "Reloads of the configuration, by result (applied or refused)")
        reloadsApplied = registry.makeCounter(descriptor: reloads, labels: [("result", "success")])
        reloadsRefused = registry.makeCounter(descriptor: reloads, labels: [("result", "failure")])
        lastReloadSuccess = registry.makeGauge(
            descriptor: Self.name(
                "config_last_reload_success_timestamp", unit: "seconds",
                help: "When the configuration was last loaded (at start or by a reload), in seconds since 1970"))
        let transitions = Self.name(
            "transitions", unit: "total", help: "Real servers' health changes (up to down, down to up), by new state")
        transitionsUp = registry.makeCounter(descriptor: transitions, labels: [("to", "up")])
        transitionsDown = registry.makeCounter(descriptor: transitions, labels: [("to", "down")])
        checksLate = registry.makeCounter(
            descriptor: Self.name(
                "checks_late", unit: "total",
                help: "Checks that started late because as many were in flight as the loop allows"))
    }

    private static func name(_ name: String, unit: String = "", help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "directord", metricName: name, unitName: unit, helpText: help)
    }

    // MARK: As things happen

    func configurationLoaded(at seconds: Double) {
        lastReloadSuccess.set(to: seconds)
    }

    func reload(applied: Bool, at seconds: Double) {
        if applied {
            reloadsApplied.increment()
            lastReloadSuccess.set(to: seconds)
        } else {
            reloadsRefused.increment()
        }
    }

    func transition(toUp: Bool) {
        (toUp ? transitionsUp : transitionsDown).increment()
    }

    func checksStartedLate(_ count: Int) {
        if count > 0 { checksLate.increment(by: Int64(count)) }
    }

    func checkFinished(_ check: HealthCheck, result: CheckResult) {
        let type = check.metricsName
        let series: (passed: Counter, failed: Counter, duration: DurationHistogram)
        if let known = checks[type] {
            series = known
        } else {
            let total = Self.name("checks", unit: "total", help: "Checks finished, by check type and result")
            series = (
                registry.makeCounter(descriptor: total, labels: [("check", type), ("result", "success")]),
                registry.makeCounter(descriptor: total, labels: [("check", type), ("result", "failure")]),
                registry.makeDurationHistogram(
                    descriptor: Self.name(
                        "check_duration", unit: "seconds", help: "How long checks took, by check type"),
                    labels: [("check", type)], buckets: Self.durationBuckets)
            )
            checks[type] = series
        }
        (result.status == .up ? series.passed : series.failed).increment()
        series.duration.record(result.latency)
    }

    func tableOperation(_ operation: TableOperation, succeeded: Bool) {
        let key = "\(operation.metricsName)/\(succeeded)"
        if let counter = operations[key] {
            counter.increment()
            return
        }
        let counter = registry.makeCounter(
            descriptor: Self.name(
                "table_operations", unit: "total",
                help: "Changes sent to the kernel's IPVS table, by operation and result"),
            labels: [("operation", operation.metricsName), ("result", succeeded ? "success" : "failure")])
        operations[key] = counter
        counter.increment()
    }

    // MARK: At a scrape

    /// Copies the view into the registry and writes the whole text format.
    func scrape(_ view: MetricsView) -> [UInt8] {
        update(view)
        return registry.emitToBuffer()
    }

    /// `directord_sync_daemon_running{role}`: 1 when the kernel runs the connection-sync daemon
    /// of a role the file asks for (`syncdaemon=`), else 0; no series for the other roles.
    func syncDaemons(wanted: [IPVSSyncDaemon.Role], running: [IPVSSyncDaemon]) {
        for role in IPVSSyncDaemon.Role.allCases {
            guard wanted.contains(role) else {
                if let gauge = syncDaemons.removeValue(forKey: role) { registry.unregisterGauge(gauge) }
                continue
            }
            let gauge =
                syncDaemons[role]
                ?? registry.makeGauge(
                    descriptor: Self.name(
                        "sync_daemon_running",
                        help: "1 when the kernel runs the connection-sync daemon of the role that syncdaemon= asks for"),
                    labels: [("role", role.rawValue)])
            gauge.set(to: running.contains { $0.role == role } ? 1 : 0)
            syncDaemons[role] = gauge
        }
    }

    private func update(_ view: MetricsView) {
        localFault.set(to: view.localFault ? 1 : 0)
        var seenReal: Set<MetricsView.Labels> = []
        for real in view.realServers {
            seenReal.insert(real.labels)
            let labels = real.labels.destinationPairs
            var series =
                realServers[real.labels]
                ?? RealServerSeries(
                    up: registry.makeGauge(
                        descriptor: Self.name(
                            "real_server_up",
                            help: "1 when the real server's last check passed (and it is not in maintenance), else 0"),
                        labels: labels),
                    drained: registry.makeGauge(
                        descriptor: Self.name(
                            "real_server_drained",
                            help: "1 when the real server is drained (directord drain, or weight 0 set with ipvsadm)"),
                        labels: labels),
                    held: registry.makeGauge(
                        descriptor: Self.name(
                            "real_server_ejection_held",
                            help: "1 when the real server's checks fail but maxejection keeps it in the table"),
                        labels: labels),
                    weight: nil)
            series.up.set(to: real.up ? 1 : 0)
            series.drained.set(to: real.drained ? 1 : 0)
            series.held.set(to: real.ejectionHeld ? 1 : 0)
            if let weight = real.kernelWeight {
                let gauge =
                    series.weight
                    ?? registry.makeGauge(
                        descriptor: Self.name(
                            "real_server_weight",
                            help: "The real server's weight in the kernel's table (absent when it has no entry)"),
                        labels: labels)
                gauge.set(Int64(weight))
                series.weight = gauge
            } else if let gauge = series.weight {
                registry.unregisterGauge(gauge)
                series.weight = nil
            }
            realServers[real.labels] = series
        }
        for (labels, series) in realServers where !seenReal.contains(labels) {
            registry.unregisterGauge(series.up)
            registry.unregisterGauge(series.drained)
            registry.unregisterGauge(series.held)
            if let weight = series.weight { registry.unregisterGauge(weight) }
            realServers[labels] = nil
        }

        var seenServices: Set<MetricsView.Labels> = []
        for service in view.services {
            seenServices.insert(service.labels)
            let gauge =
                services[service.labels]
                ?? registry.makeGauge(
                    descriptor: Self.name(
                        "fallback_active",
                        help: "1 when the virtual service's fallback (sorry) server is in the kernel's table"),
                    labels: service.labels.servicePairs)
            gauge.set(to: service.fallbackActive ? 1 : 0)
            services[service.labels] = gauge
        }
        for (labels, gauge) in services where !seenServices.contains(labels) {
            registry.unregisterGauge(gauge)
            services[labels] = nil
        }

        var seenDestinations: Set<MetricsView.Labels> = []
        for destination in view.destinations {
            seenDestinations.insert(destination.labels)
            var series = destinations[destination.labels] ?? makeDestinationSeries(destination.labels)
            series.active.set(Int64(destination.connections.active))
            series.inactive.set(Int64(destination.connections.inactive))
            let now = destination.statistics
            let last = series.last
            // The kernel's counters only grow while its entry lives; a smaller one is a new
            // entry, which Prometheus reads as a counter reset.
            let grew =
                now.connections >= last.connections && now.incomingPackets >= last.incomingPackets
                && now.outgoingPackets >= last.outgoingPackets && now.incomingBytes >= last.incomingBytes
                && now.outgoingBytes >= last.outgoingBytes
            let base = grew ? last : .zero
            if !grew {
                for counter in [
                    series.connections, series.packetsIn, series.packetsOut, series.bytesIn, series.bytesOut,
                ] {
                    counter.reset()
                }
            }
            Self.add(now.connections - base.connections, to: series.connections)
            Self.add(now.incomingPackets - base.incomingPackets, to: series.packetsIn)
            Self.add(now.outgoingPackets - base.outgoingPackets, to: series.packetsOut)
            Self.add(now.incomingBytes - base.incomingBytes, to: series.bytesIn)
            Self.add(now.outgoingBytes - base.outgoingBytes, to: series.bytesOut)
            series.last = now
            destinations[destination.labels] = series
        }
        for (labels, series) in destinations where !seenDestinations.contains(labels) {
            registry.unregisterGauge(series.active)
            registry.unregisterGauge(series.inactive)
            for counter in [series.connections, series.packetsIn, series.packetsOut, series.bytesIn, series.bytesOut] {
                registry.unregisterCounter(counter)
            }
            destinations[labels] = nil
        }
    }

    private static func add(_ amount: UInt64, to counter: Counter) {
        if amount > 0 { counter.increment(by: Int64(clamping: amount)) }
    }

    private func makeDestinationSeries(_ labels: MetricsView.Labels) -> DestinationSeries {
        let pairs = labels.destinationPairs
        let packets = Self.name(
            "ipvs_packets", unit: "total", help: "Packets the kernel forwarded for the destination, by direction")
        let bytes = Self.name(
            "ipvs_bytes", unit: "total", help: "Bytes the kernel forwarded for the destination, by direction")
        return DestinationSeries(
            active: registry.makeGauge(
                descriptor: Self.name(
                    "ipvs_connections_active", help: "The destination's established connections (ipvsadm's ActiveConn)"),
                labels: pairs),
            inactive: registry.makeGauge(
                descriptor: Self.name(
                    "ipvs_connections_inactive",
                    help: "The destination's connections in other states (ipvsadm's InActConn)"),
                labels: pairs),
            connections: registry.makeCounter(
                descriptor: Self.name(
                    "ipvs_connections", unit: "total", help: "Connections the kernel scheduled to the destination"),
                labels: pairs),
            packetsIn: registry.makeCounter(descriptor: packets, labels: pairs + [("direction", "in")]),
            packetsOut: registry.makeCounter(descriptor: packets, labels: pairs + [("direction", "out")]),
            bytesIn: registry.makeCounter(descriptor: bytes, labels: pairs + [("direction", "in")]),
            bytesOut: registry.makeCounter(descriptor: bytes, labels: pairs + [("direction", "out")]),
            last: .zero)
    }
}

extension HealthCheck {
    /// The `check` label: the service of a negotiate check (`http`, `mysql`), else the type
    /// (`connect`, `ping`, `external`, `combined`).
    var metricsName: String {
        switch type {
        case .negotiate: service.rawValue
        case .connect: "connect"
        case .ping: "ping"
        case .external, .externalPerl: "external"
        case .combined: "combined"
        case .on, .off: "\(type)"
        }
    }
}

extension TableOperation {
    /// The `operation` label.
    var metricsName: String {
        switch self {
        case .addService: "add_service"
        case .editService: "edit_service"
        case .deleteService: "delete_service"
        case .addDestination: "add_server"
        case .editDestination: "edit_server"
        case .deleteDestination: "delete_server"
        }
    }
}
