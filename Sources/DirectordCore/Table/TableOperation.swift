/// One change to the kernel's IPVS table, carrying the full values involved.
///
/// Deletions carry the whole entry too (not only its key), so a log line or a failure report
/// can say what went away.
public enum TableOperation: Hashable, Sendable, Codable {
    case addService(IPVSService)
    /// Changes scheduler, flags or persistence of an existing service; the key stays.
    case editService(IPVSService)
    /// Deletes a service and, with it, all its destinations.
    case deleteService(IPVSService)
    case addDestination(IPVSDestination, service: ServiceKey)
    /// Changes forwarding, weight or thresholds of an existing destination.
    case editDestination(IPVSDestination, service: ServiceKey)
    case deleteDestination(IPVSDestination, service: ServiceKey)

    /// The service the operation concerns.
    public var serviceKey: ServiceKey {
        switch self {
        case .addService(let service), .editService(let service), .deleteService(let service): service.key
        case .addDestination(_, let key), .editDestination(_, let key), .deleteDestination(_, let key): key
        }
    }

    /// The destination the operation concerns; nil for a service operation.
    public var destination: IPVSDestination? {
        switch self {
        case .addService, .editService, .deleteService: nil
        case .addDestination(let destination, _), .editDestination(let destination, _),
            .deleteDestination(let destination, _):
            destination
        }
    }
}

extension TableOperation {
    /// Why directord refuses this operation before the kernel sees it, or nil.
    ///
    /// - Firewall mark 0 is not a mark: the kernel takes a mark-0 service for TCP 0.0.0.0:0 and
    ///   lists it so, after which the table never matches the one asked for.
    /// - A persistence timeout above ``IPVSError/longestPersistenceTimeout`` would be wrapped
    ///   by the kernel into a shorter one, silently.
    public var refusal: IPVSError? {
        switch self {
        case .addService(let service), .editService(let service), .deleteService(let service):
            if case .firewallMark(0, _) = service.key {
                return .invalidService(service, reason: IPVSError.markZeroReason)
            }
            if case .deleteService = self { return nil }
            if let timeout = service.persistence?.timeout, timeout > IPVSError.longestPersistenceTimeout {
                return .invalidService(
                    service,
                    reason:
                        "persistence timeout \(timeout) s is above \(IPVSError.longestPersistenceTimeout) s (31 days); "
                        + "the kernel would wrap it")
            }
        case .addDestination(let destination, let key), .editDestination(let destination, let key),
            .deleteDestination(let destination, let key):
            if case .firewallMark(0, _) = key {
                return .invalidDestination(destination, service: key, reason: IPVSError.markZeroReason)
            }
        }
        return nil
    }
}

extension TableOperation: CustomStringConvertible {
    /// A line for a log: `add destination 10.0.0.2:80 (Route, weight 1) to TCP 10.0.0.1:80`.
    public var description: String {
        switch self {
        case .addService(let service): "add service \(service.listingSummary)"
        case .editService(let service): "edit service \(service.listingSummary)"
        case .deleteService(let service): "delete service \(service.key.listingName)"
        case .addDestination(let destination, let key):
            "add destination \(destination.key) (\(destination.listingSummary)) to \(key.listingName)"
        case .editDestination(let destination, let key):
            "edit destination \(destination.key) (\(destination.listingSummary)) in \(key.listingName)"
        case .deleteDestination(let destination, let key):
            "delete destination \(destination.key) from \(key.listingName)"
        }
    }
}

extension IPVSService {
    /// `TCP 10.0.0.1:80 wrr persistent 300 mask 255.255.255.0`: the service line of
    /// `ipvsadm -Ln`, without its column padding.
    public var listingSummary: String {
        var text = "\(key.listingName) \(scheduler)"
        let flagNames = schedulerFlags.names(for: scheduler)
        if !flagNames.isEmpty { text += " (\(flagNames.joined(separator: ",")))" }
        if let persistence {
            text += " persistent \(persistence.timeout)"
            if persistence.netmask != Persistence.defaultNetmask(for: key.family) {
                text += " mask \(persistence.netmaskText(for: key.family))"
            }
            if let persistenceEngine { text += " pe \(persistenceEngine)" }
        }
        if onePacket { text += " ops" }
        return text
    }
}

extension IPVSDestination {
    /// `Route, weight 1` or `Masq, weight 5, thresholds 10-100`.
    public var listingSummary: String {
        var text = "\(forwarding.ipvsadmName), weight \(weight)"
        if upperThreshold != 0 || lowerThreshold != 0 {
            text += ", thresholds \(lowerThreshold)-\(upperThreshold)"
        }
        return text
    }
}

extension ServiceKey {
    /// The service as `ipvsadm -Ln` names it: `TCP 10.0.0.1:80`, `UDP [2001:db8::1]:53`,
    /// `FWM 7`, `FWM 7 IPv6` (without `ipvsadm`'s double space after FWM).
    public var listingName: String {
        switch self {
        case .inet(let proto, let address, let port):
            "\(proto.ipvsadmName) \(address.bracketed):\(port)"
        case .firewallMark(let mark, let family):
            family == .ipv6 ? "FWM \(mark) IPv6" : "FWM \(mark)"
        }
    }
}

extension TransportProtocol {
    /// The name `ipvsadm -Ln` prints: TCP, UDP, SCTP.
    public var ipvsadmName: String {
        switch self {
        case .tcp: "TCP"
        case .udp: "UDP"
        case .sctp: "SCTP"
        }
    }

    /// The IP protocol number (`IPPROTO_TCP` 6, `IPPROTO_UDP` 17, `IPPROTO_SCTP` 132).
    public var ipProtocolNumber: UInt16 {
        switch self {
        case .tcp: 6
        case .udp: 17
        case .sctp: 132
        }
    }

    public init?(ipProtocolNumber: UInt16) {
        switch ipProtocolNumber {
        case 6: self = .tcp
        case 17: self = .udp
        case 132: self = .sctp
        default: return nil
        }
    }
}
