import DirectordCore
import DirectordSystem
import Glibc

/// Turns a kernel error number into an ``IPVSError`` with the request's context: the same
/// number means different things for different IPVS requests (see `ip_vs_genl_set_cmd` and
/// `ipvs_strerror` in ipvsadm's libipvs).
enum IPVSErrorMapping {
    static func error(_ code: Int32, for operation: TableOperation, kernelMessage: String?) -> IPVSError {
        if code == EPERM { return .permissionDenied(operation: operation.description) }
        switch operation {
        case .addService(let service), .editService(let service):
            switch code {
            case EEXIST: return .serviceExists(service.key)
            case ESRCH: return .serviceNotFound(service.key)
            case ENOENT:
                // The kernel says ENOENT for a missing scheduler and for a missing persistence
                // engine alike; a scheduler directord knows points at the engine.
                if let engine = service.persistenceEngine, Scheduler(rawValue: service.scheduler.rawValue) != nil {
                    return .persistenceEngineNotFound(engine, service: service.key)
                }
                return .schedulerNotFound(service.scheduler.rawValue, service: service.key)
            case EINVAL:
                return .invalidService(service, reason: kernelMessage ?? serviceReason(service))
            default: break
            }
        case .deleteService(let service):
            if code == ESRCH { return .serviceNotFound(service.key) }
        case .addDestination(let destination, let key), .editDestination(let destination, let key),
            .deleteDestination(let destination, let key):
            switch code {
            case ESRCH: return .serviceNotFound(key)
            case EEXIST: return .destinationExists(destination.key, service: key)
            case ENOENT: return .destinationNotFound(destination.key, service: key)
            case ERANGE:
                if destination.weight < 0 {
                    return .weightOutOfRange(destination.weight, destination: destination.key, service: key)
                }
                return .thresholdsOutOfOrder(
                    lower: destination.lowerThreshold, upper: destination.upperThreshold, destination: destination.key,
                    service: key)
            case EINVAL:
                return .invalidDestination(
                    destination, service: key, reason: kernelMessage ?? destinationReason(destination, service: key))
            default: break
            }
        }
        return generic(code, operation: operation.description, kernelMessage: kernelMessage)
    }

    /// Any error without a meaning of its own for the request.
    static func generic(_ code: Int32, operation: String, kernelMessage: String?) -> IPVSError {
        if code == EPERM { return .permissionDenied(operation: operation) }
        var message = errnoText(code)
        if let kernelMessage, !kernelMessage.isEmpty { message += ": \(kernelMessage)" }
        return .kernel(errno: code, message: message, operation: operation)
    }

    /// What the kernel objects to in a service it answers EINVAL for.
    private static func serviceReason(_ service: IPVSService) -> String {
        if service.key.family == .ipv6, !(1...128).contains(service.effectiveNetmask) {
            return "IPv6 persistence prefix length \(service.effectiveNetmask) is outside 1 to 128"
        }
        return "invalid service (\(errnoText(EINVAL)))"
    }

    /// What the kernel objects to in a destination it answers EINVAL for.
    private static func destinationReason(_ destination: IPVSDestination, service: ServiceKey) -> String {
        if let reason = IPVSError.thresholdReason(destination) { return reason }
        if destination.address.family != service.family && destination.forwarding != .ipip {
            return "an \(destination.address.family == .ipv4 ? "IPv4" : "IPv6") destination in an "
                + "\(service.family == .ipv4 ? "IPv4" : "IPv6") service needs tunnelling (ipip)"
        }
        return "\(destination.address) is not a unicast address (multicast, broadcast, unspecified or link-local)"
    }
}
