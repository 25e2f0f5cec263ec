/// What `/metrics` shows of the director at one moment, from its state and one read of the
/// kernel's table: each configured real server's health, drain and kernel weight, each virtual
/// service's fallback, and the kernel's counters for every destination it lists.
///
/// Pure, so the daemon's registry only copies it (DirectorMetrics) and the choices (which
/// server counts as up, which labels a series has) are specified by tests here.
public struct MetricsView: Hashable, Sendable {
    /// The labels of a series about a destination: node_exporter's IPVS collector's names
    /// (`local_address`, `local_port`, `remote_address`, `remote_port`, `proto`), so that
    /// both join in a query, plus `virtual_service`, ldirectord's name for the service
    /// (`tcp:192.0.2.10:80`, `fwm:7`), which also tells firewall-mark services apart.
    public struct Labels: Hashable, Sendable {
        public var virtualService: String
        /// Empty for a firewall-mark service.
        public var localAddress: String
        /// `0` for a firewall-mark service.
        public var localPort: String
        /// `TCP`, `UDP`, `SCTP` or `FWM`, as node_exporter writes them.
        public var proto: String
        /// Empty in the labels of a virtual service alone.
        public var remoteAddress: String
        public var remotePort: String

        public init(service key: ServiceKey, destination: IPVSDestination.Key? = nil) {
            virtualService = key.virtualID
            switch key {
            case .inet(let proto, let address, let port):
                localAddress = "\(address)"
                localPort = "\(port)"
                self.proto = proto.rawValue.uppercased()
            case .firewallMark:
                localAddress = ""
                localPort = "0"
                proto = "FWM"
            }
            remoteAddress = destination.map { "\($0.address)" } ?? ""
            remotePort = destination.map { "\($0.port)" } ?? ""
        }

        /// The labels of a destination's series, in one fixed order.
        public var destinationPairs: [(String, String)] {
            [
                ("virtual_service", virtualService), ("local_address", localAddress), ("local_port", localPort),
                ("proto", proto), ("remote_address", remoteAddress), ("remote_port", remotePort),
            ]
        }

        /// The labels of a virtual service's series.
        public var servicePairs: [(String, String)] {
            [
                ("virtual_service", virtualService), ("local_address", localAddress), ("local_port", localPort),
                ("proto", proto),
            ]
        }
    }

    public struct RealServer: Hashable, Sendable {
        public var labels: Labels
        /// Its last verdict is up, and it is neither in maintenance nor refused by the kernel.
        public var up: Bool
        /// Kept at weight 0 by a drain (`directord drain`, or weight 0 set with ipvsadm).
        public var drained: Bool
        /// The kernel's weight; nil when the kernel has no entry for it.
        public var kernelWeight: Int32?
        /// Its checks fail, but `maxejection` keeps it in the table.
        public var ejectionHeld: Bool

        public init(labels: Labels, up: Bool, drained: Bool, kernelWeight: Int32?, ejectionHeld: Bool = false) {
            self.labels = labels
            self.up = up
            self.drained = drained
            self.kernelWeight = kernelWeight
            self.ejectionHeld = ejectionHeld
        }
    }

    public struct Destination: Hashable, Sendable {
        public var labels: Labels
        public var connections: IPVSConnectionCounts
        public var statistics: IPVSStatistics

        public init(labels: Labels, connections: IPVSConnectionCounts, statistics: IPVSStatistics) {
            self.labels = labels
            self.connections = connections
            self.statistics = statistics
        }
    }

    public struct Service: Hashable, Sendable {
        public var labels: Labels
        /// The fallback (sorry) server is in the kernel's table in place of the real servers.
        public var fallbackActive: Bool

        public init(labels: Labels, fallbackActive: Bool) {
            self.labels = labels
            self.fallbackActive = fallbackActive
        }
    }

    /// In the configuration's order.
    public var realServers: [RealServer]
    public var services: [Service]
    /// Check results set aside as a fault of the director itself (DirectorState+LocalFault).
    public var localFault = false
    /// Every destination of the kernel's table, directord's or not, in the kernel's order.
    public var destinations: [Destination]

    public init(realServers: [RealServer], services: [Service], destinations: [Destination]) {
        self.realServers = realServers
        self.services = services
        self.destinations = destinations
    }
}

extension DirectorState {
    /// The view for the kernel's table as read in `snapshot`.
    public func metricsView(kernel snapshot: IPVSSnapshot) -> MetricsView {
        var kernel: [ServiceKey: [IPVSDestination.Key: IPVSSnapshot.Destination]] = [:]
        var destinations: [MetricsView.Destination] = []
        for service in snapshot.services {
            let key = service.service.key
            for destination in service.destinations {
                kernel[key, default: [:]][destination.destination.key] = destination
                destinations.append(
                    MetricsView.Destination(
                        labels: MetricsView.Labels(service: key, destination: destination.destination.key),
                        connections: destination.connections, statistics: destination.statistics))
            }
        }
        var realServers: [MetricsView.RealServer] = []
        var services: [MetricsView.Service] = []
        for virtual in configuration.virtualServices {
            let inKernel = kernel[virtual.key] ?? [:]
            let fallbackActive = virtual.fallbackInUse { inKernel[$0] != nil } != nil
            services.append(
                MetricsView.Service(labels: MetricsView.Labels(service: virtual.key), fallbackActive: fallbackActive))
            let held = ejectionHeld(virtual)
            for real in virtual.realServers {
                let ref = RealServerRef(service: virtual.key, destination: real.destinationKey)
                let health = self.health(of: ref)
                let up =
                    virtual.refusal == nil && real.refusal == nil && health?.inMaintenance == false
                    && health?.isPending == false && health?.state == .up
                realServers.append(
                    MetricsView.RealServer(
                        labels: MetricsView.Labels(service: virtual.key, destination: real.destinationKey), up: up,
                        drained: drains[ref] != nil, kernelWeight: inKernel[real.destinationKey]?.destination.weight,
                        ejectionHeld: held.contains(ref)))
            }
        }
        var view = MetricsView(realServers: realServers, services: services, destinations: destinations)
        view.localFault = localFaultFreeze != nil
        return view
    }
}
