/// Table operations in ipvsadm's words: the command line that makes each change, for
/// `directord plan` and for anyone who wants to see a change as an operator would type it.
extension IPVSListing {
    /// `ipvsadm -a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 3`: the ipvsadm command line that
    /// makes this change. Destinations carry their thresholds (`-x`, `-y`), which `--save`
    /// leaves out but a command must set.
    public static func command(_ operation: TableOperation) -> String {
        switch operation {
        case .addService(let service): "ipvsadm -A " + serviceRule(service)
        case .editService(let service): "ipvsadm -E " + serviceRule(service)
        case .deleteService(let service): "ipvsadm -D " + serviceName(service.key, rules: true)
        case .addDestination(let destination, let key): "ipvsadm -a " + destinationRule(destination, of: key)
        case .editDestination(let destination, let key): "ipvsadm -e " + destinationRule(destination, of: key)
        case .deleteDestination(let destination, let key):
            "ipvsadm -d \(serviceName(key, rules: true)) -r \(destination.key)"
        }
    }

    /// The service part of `ipvsadm -A` (and of `--save`): `-t VIP:PORT -s wrr -p 300 ...`.
    static func serviceRule(_ service: IPVSService) -> String {
        var out = "\(serviceName(service.key, rules: true)) -s \(service.scheduler)"
        if let persistence = service.persistence {
            out += " -p \(persistence.timeout)"
            if persistence.netmask != Persistence.defaultNetmask(for: service.key.family) {
                out += " -M \(netmaskText(persistence.netmask, family: service.key.family))"
            }
        }
        if let engine = service.persistenceEngine, !engine.isEmpty { out += " --pe \(engine)" }
        if service.onePacket { out += " -o" }
        let flags = schedulerFlagText(service)
        if !flags.isEmpty { out += " -b \(flags)" }
        return out
    }

    private static func destinationRule(_ destination: IPVSDestination, of key: ServiceKey) -> String {
        var out = "\(serviceName(key, rules: true)) -r \(destination.key) \(forwardingSwitch(destination.forwarding))"
        out += " -w \(destination.weight)"
        if destination.upperThreshold > 0 { out += " -x \(destination.upperThreshold)" }
        if destination.lowerThreshold > 0 { out += " -y \(destination.lowerThreshold)" }
        if destination.forwarding == .ipip { out += " --tun-type ipip" }
        return out
    }
}
