/// Checks through the forwarding path (`checkpath=forwarding`): in direct routing and
/// tunnelling, a real server that answers its own address but has no virtual address on its
/// loopback (or answers ARP for it) passes every check while the traffic the kernel forwards to
/// it is lost. Its checks are sent to the virtual address instead, through a private IPVS
/// service that holds only that real server: a firewall-mark service, and the check's socket
/// carries the mark. The check passes only if the real server takes traffic for the virtual
/// address as the kernel forwards it.
///
/// The rules, as the README states them:
/// - Each such real server gets a mark of its own from ``checkPathMarkBase`` up, in file order,
///   skipping the marks of the file's own firewall-mark services; its private service (`rr`,
///   the real server alone at weight 1, with its forwarding method) is in the table whatever
///   the server's health, repaired like any other, and deleted at stop whatever `cleanstop`.
/// - The replies come from the virtual address, which is the director's own: the daemon lets
///   the interface they arrive on accept them (`accept_local`).
extension DirectorState {
    /// The first firewall mark of the private services ("dv" in its high bytes): far from the
    /// small marks firewall rules usually set.
    public static let checkPathMarkBase: UInt32 = 0x6476_0000

    /// The mark of each real server checked through the forwarding path.
    static func checkPathMarks(for configuration: Configuration) -> [RealServerRef: UInt32] {
        var taken: Set<UInt32> = []
        for virtual in configuration.virtualServices {
            if case .firewallMark(let mark, _) = virtual.key { taken.insert(mark) }
        }
        var marks: [RealServerRef: UInt32] = [:]
        var next = checkPathMarkBase
        for virtual in configuration.virtualServices where virtual.refusal == nil {
            for real in virtual.realServers where real.refusal == nil && virtual.checksThroughForwarding(real) {
                let ref = RealServerRef(service: virtual.key, destination: real.destinationKey)
                guard marks[ref] == nil else { continue }
                while taken.contains(next) { next &+= 1 }
                marks[ref] = next
                next &+= 1
            }
        }
        return marks
    }

    /// The check path of a real server, for its checks; nil when it is checked directly.
    func forwardingPath(_ ref: RealServerRef) -> ForwardingPath? {
        guard let mark = checkPaths[ref], case .inet(_, let address, _) = ref.service else { return nil }
        return ForwardingPath(virtualAddress: address, mark: mark)
    }

    /// The private services, each with its one real server.
    var checkPathEntries: [(service: IPVSService, destination: IPVSDestination)] {
        checkPaths.sorted { $0.value < $1.value }.compactMap { ref, mark in
            guard let real = realServer(ref)?.1 else { return nil }
            let service = IPVSService(
                key: .firewallMark(mark, ref.service.family), scheduler: Scheduler(uncheckedName: "rr"))
            return (service, real.destination(weight: 1))
        }
    }

    /// Whether a service is one of the private services of the check paths.
    public func isCheckPathService(_ key: ServiceKey) -> Bool {
        guard case .firewallMark(let mark, _) = key else { return false }
        return checkPathOwners[key] != nil
            || (mark >= Self.checkPathMarkBase && !configured(key) && managedServices.contains(key))
    }

    var checkPathServiceKeys: Set<ServiceKey> { Set(checkPathOwners.keys) }

    private func configured(_ key: ServiceKey) -> Bool { virtualService(key) != nil }
}

extension DirectorState {
    /// The line of a table operation on a check path's private service.
    func checkPathEvent(for operation: TableOperation, key: ServiceKey) -> DirectorEvent {
        let real = checkPathOwners[key]
        let subject = real.map { " for real server \($0.endpoint) (\($0.service))" } ?? ""
        switch operation {
        case .addService: return .checkPathChanged(key, "added\(subject)")
        case .deleteService: return .checkPathChanged(key, "removed")
        default: return .checkPathChanged(key, "\(operation)\(subject)")
        }
    }
}
