/// Why the kernel (or the path to it) refused an IPVS request, in words an operator understands.
///
/// Kernel error numbers mean different things for different requests (`ENOENT` is an unknown
/// scheduler when adding a service and a missing destination when editing one), so each is
/// turned into a case here once, at the edge, with the request's context.
public enum IPVSError: Error, Hashable, Sendable {
    /// The kernel has no generic netlink family "IPVS": the ip_vs module is not loaded.
    case familyMissing
    /// The caller lacks `CAP_NET_ADMIN` (`EPERM`).
    case permissionDenied(operation: String)
    /// `EEXIST` adding a service.
    case serviceExists(ServiceKey)
    /// `ESRCH`: the request names a service that does not exist.
    case serviceNotFound(ServiceKey)
    /// `EEXIST` adding a destination.
    case destinationExists(IPVSDestination.Key, service: ServiceKey)
    /// `ENOENT` editing or deleting a destination.
    case destinationNotFound(IPVSDestination.Key, service: ServiceKey)
    /// `ENOENT` adding or editing a service: no scheduler module of that name is loaded.
    case schedulerNotFound(String, service: ServiceKey)
    /// `ENOENT` adding or editing a service that names a persistence engine.
    case persistenceEngineNotFound(String, service: ServiceKey)
    /// `ERANGE`: a negative weight.
    case weightOutOfRange(Int32, destination: IPVSDestination.Key, service: ServiceKey)
    /// `ERANGE`: the lower threshold is above the upper one (an upper threshold of 0, "no
    /// limit", counts as 0 here: the kernel then refuses any lower threshold but 0).
    case thresholdsOutOfOrder(lower: UInt32, upper: UInt32, destination: IPVSDestination.Key, service: ServiceKey)
    /// `EINVAL` from a service request: for IPv6, a persistence prefix length outside 1...128.
    case invalidService(IPVSService, reason: String)
    /// `EINVAL` from a destination request: the address is not a unicast address, or its family
    /// differs from the service's without tunnelling, or the like.
    case invalidDestination(IPVSDestination, service: ServiceKey, reason: String)
    /// `EEXIST` starting a connection-sync daemon of a role that already runs.
    case syncDaemonRunning(IPVSSyncDaemon.Role)
    /// `ESRCH` stopping a connection-sync daemon that does not run.
    case syncDaemonNotRunning(IPVSSyncDaemon.Role)
    /// `ENODEV`: the sync daemon's interface does not exist.
    case interfaceNotFound(String)
    /// Any other kernel error number, with the C library's text for it.
    case kernel(errno: Int32, message: String, operation: String)
    /// libnl itself failed (socket, bind, family lookup), with its text.
    case netlink(code: Int32, message: String, operation: String)
    /// The kernel's answer could not be read.
    case malformedReply(String)
    /// Some operations of a batch failed. The kernel goes on after a failed request, so every
    /// operation was attempted and the others took effect.
    case operationsFailed([IPVSOperationFailure], attempted: Int)
}

extension IPVSError {
    static let markZeroReason = "firewall mark 0 is not a mark (the kernel would make the service TCP 0.0.0.0:0)"

    /// The kernel's reason for refusing an upper threshold above `INT_MAX` (`EINVAL`, before
    /// the thresholds' order is checked). A lower threshold has no limit of its own: it must not
    /// be above the upper one.
    public static func thresholdReason(_ destination: IPVSDestination) -> String? {
        let limit = UInt32(Int32.max)
        if destination.upperThreshold > limit {
            return "upper threshold \(destination.upperThreshold) is above \(limit)"
        }
        return nil
    }

    /// The longest persistence timeout directord sends: `ipvsadm`'s maximum, 31 days. The
    /// kernel counts it in jiffies in 32 bits and silently wraps a longer one (above
    /// 17,179,869 s with Debian's HZ=250, above 4,294,967 s with HZ=1000).
    public static let longestPersistenceTimeout: UInt32 = 31 * 86400
}

/// One failed operation of a batch given to ``IPVSControl/apply(_:)``.
public struct IPVSOperationFailure: Hashable, Sendable {
    /// The position of the operation in the batch.
    public var index: Int
    public var operation: TableOperation
    public var error: IPVSError

    public init(index: Int, operation: TableOperation, error: IPVSError) {
        self.index = index
        self.operation = operation
        self.error = error
    }
}

extension IPVSError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .familyMissing:
            return "the IPVS generic netlink family is missing: load the ip_vs kernel module (modprobe ip_vs)"
        case .permissionDenied(let operation):
            return "\(operation): permission denied: changing IPVS needs root (CAP_NET_ADMIN)"
        case .serviceExists(let key):
            return "virtual service \(key.listingName) already exists"
        case .serviceNotFound(let key):
            return "virtual service \(key.listingName) does not exist"
        case .destinationExists(let destination, let service):
            return "destination \(destination) already exists in \(service.listingName)"
        case .destinationNotFound(let destination, let service):
            return "destination \(destination) does not exist in \(service.listingName)"
        case .schedulerNotFound(let name, let service):
            return "virtual service \(service.listingName): the kernel has no scheduler '\(name)' "
                + "(module ip_vs_\(name) is not loaded or does not exist; try modprobe ip_vs_\(name))"
        case .persistenceEngineNotFound(let name, let service):
            return "virtual service \(service.listingName): the kernel has no persistence engine '\(name)' "
                + "(try modprobe ip_vs_pe_\(name))"
        case .weightOutOfRange(let weight, let destination, let service):
            return "destination \(destination) in \(service.listingName): weight \(weight) is negative"
        case .thresholdsOutOfOrder(let lower, let upper, let destination, let service):
            return "destination \(destination) in \(service.listingName): lower threshold \(lower) "
                + "is above upper threshold \(upper)"
        case .invalidService(let service, let reason):
            return "virtual service \(service.key.listingName) refused by the kernel: \(reason)"
        case .invalidDestination(let destination, let service, let reason):
            return "destination \(destination.key) in \(service.listingName) refused by the kernel: \(reason)"
        case .syncDaemonRunning(let role):
            return "the \(role.rawValue) connection-sync daemon is already running"
        case .syncDaemonNotRunning(let role):
            return "no \(role.rawValue) connection-sync daemon is running"
        case .interfaceNotFound(let name):
            return "network interface \(name) does not exist"
        case .kernel(let errno, let message, let operation):
            return "\(operation): \(message) (errno \(errno))"
        case .netlink(let code, let message, let operation):
            return "\(operation): netlink: \(message) (libnl error \(code))"
        case .malformedReply(let detail):
            return "malformed IPVS netlink reply: \(detail)"
        case .operationsFailed(let failures, let attempted):
            let lines = failures.map { "  operation \($0.index + 1) (\($0.operation)): \($0.error)" }
            return "\(failures.count) of \(attempted) IPVS operations failed:\n" + lines.joined(separator: "\n")
        }
    }
}
