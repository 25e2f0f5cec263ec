import DirectordCore

// The IPVS generic netlink family's messages (linux/ip_vs.h), encoded from and decoded into
// DirectordCore values. Plain Swift: the constants are repeated here with their C names, and a
// host test checks each against the C header.

/// `IPVS_CMD_*`
enum IPVSCommand: UInt8, CaseIterable {
    case newService = 1  // IPVS_CMD_NEW_SERVICE
    case setService  // IPVS_CMD_SET_SERVICE
    case deleteService  // IPVS_CMD_DEL_SERVICE
    case getService  // IPVS_CMD_GET_SERVICE
    case newDestination  // IPVS_CMD_NEW_DEST
    case setDestination  // IPVS_CMD_SET_DEST
    case deleteDestination  // IPVS_CMD_DEL_DEST
    case getDestination  // IPVS_CMD_GET_DEST
    case newDaemon  // IPVS_CMD_NEW_DAEMON
    case deleteDaemon  // IPVS_CMD_DEL_DAEMON
    case getDaemon  // IPVS_CMD_GET_DAEMON
    case setConfig  // IPVS_CMD_SET_CONFIG
    case getConfig  // IPVS_CMD_GET_CONFIG
    case setInfo  // IPVS_CMD_SET_INFO (the reply to GET_INFO)
    case getInfo  // IPVS_CMD_GET_INFO
    case zero  // IPVS_CMD_ZERO
    case flush  // IPVS_CMD_FLUSH
}

/// Attribute numbers of the IPVS family.
enum IPVSAttribute {
    /// `IPVS_GENL_VERSION`
    static let familyVersion: UInt8 = 1

    // IPVS_CMD_ATTR_*
    static let commandService: UInt16 = 1
    static let commandDestination: UInt16 = 2
    static let commandDaemon: UInt16 = 3

    // IPVS_SVC_ATTR_*
    static let serviceFamily: UInt16 = 1
    static let serviceProtocol: UInt16 = 2
    static let serviceAddress: UInt16 = 3
    static let servicePort: UInt16 = 4
    static let serviceMark: UInt16 = 5
    static let serviceScheduler: UInt16 = 6
    static let serviceFlags: UInt16 = 7
    static let serviceTimeout: UInt16 = 8
    static let serviceNetmask: UInt16 = 9
    static let serviceStats: UInt16 = 10
    static let servicePersistenceEngine: UInt16 = 11
    static let serviceStats64: UInt16 = 12

    // IPVS_DEST_ATTR_*
    static let destinationAddress: UInt16 = 1
    static let destinationPort: UInt16 = 2
    static let destinationForwarding: UInt16 = 3
    static let destinationWeight: UInt16 = 4
    static let destinationUpperThreshold: UInt16 = 5
    static let destinationLowerThreshold: UInt16 = 6
    static let destinationActiveConnections: UInt16 = 7
    static let destinationInactiveConnections: UInt16 = 8
    static let destinationPersistentConnections: UInt16 = 9
    static let destinationStats: UInt16 = 10
    static let destinationFamily: UInt16 = 11
    static let destinationStats64: UInt16 = 12

    // IPVS_DAEMON_ATTR_*
    static let daemonState: UInt16 = 1
    static let daemonInterface: UInt16 = 2
    static let daemonSyncID: UInt16 = 3
    static let daemonMaxLength: UInt16 = 4
    static let daemonGroup: UInt16 = 5
    static let daemonGroup6: UInt16 = 6
    static let daemonPort: UInt16 = 7
    static let daemonTTL: UInt16 = 8

    // IPVS_STATS_ATTR_*
    static let statsConnections: UInt16 = 1
    static let statsIncomingPackets: UInt16 = 2
    static let statsOutgoingPackets: UInt16 = 3
    static let statsIncomingBytes: UInt16 = 4
    static let statsOutgoingBytes: UInt16 = 5
    static let statsConnectionRate: UInt16 = 6
    static let statsIncomingPacketRate: UInt16 = 7
    static let statsOutgoingPacketRate: UInt16 = 8
    static let statsIncomingByteRate: UInt16 = 9
    static let statsOutgoingByteRate: UInt16 = 10

    // IPVS_INFO_ATTR_*
    static let infoVersion: UInt16 = 1
    static let infoConnectionTableSize: UInt16 = 2

    /// `AF_INET`, `AF_INET6`
    static func addressFamily(_ family: AddressFamily) -> UInt16 { family == .ipv4 ? 2 : 10 }
    static func addressFamily(_ value: UInt16) -> AddressFamily? {
        switch value {
        case 2: .ipv4
        case 10: .ipv6
        default: nil
        }
    }
}

/// Encodes IPVS requests for one family id (the number the kernel gave "IPVS").
struct IPVSRequestEncoder {
    var family: UInt16

    /// The request for one table operation.
    func encode(_ operation: TableOperation, sequence: UInt32, flags: UInt16, into writer: inout NetlinkWriter) {
        switch operation {
        case .addService(let service):
            begin(.newService, sequence: sequence, flags: flags, into: &writer)
            putService(service.key, attributesOf: service, into: &writer)
        case .editService(let service):
            begin(.setService, sequence: sequence, flags: flags, into: &writer)
            putService(service.key, attributesOf: service, into: &writer)
        case .deleteService(let service):
            begin(.deleteService, sequence: sequence, flags: flags, into: &writer)
            putService(service.key, attributesOf: nil, into: &writer)
        case .addDestination(let destination, let key):
            begin(.newDestination, sequence: sequence, flags: flags, into: &writer)
            putService(key, attributesOf: nil, into: &writer)
            putDestination(destination, full: true, into: &writer)
        case .editDestination(let destination, let key):
            begin(.setDestination, sequence: sequence, flags: flags, into: &writer)
            putService(key, attributesOf: nil, into: &writer)
            putDestination(destination, full: true, into: &writer)
        case .deleteDestination(let destination, let key):
            begin(.deleteDestination, sequence: sequence, flags: flags, into: &writer)
            putService(key, attributesOf: nil, into: &writer)
            putDestination(destination, full: false, into: &writer)
        }
        writer.endMessage()
    }

    /// A request without attributes: `GET_INFO`, `FLUSH`, or a dump of services or daemons.
    func encodeBare(_ command: IPVSCommand, sequence: UInt32, flags: UInt16, into writer: inout NetlinkWriter) {
        begin(command, sequence: sequence, flags: flags, into: &writer)
        writer.endMessage()
    }

    /// A dump of one service's destinations (`IPVS_CMD_GET_DEST` with `NLM_F_DUMP`).
    func encodeDestinationDump(of key: ServiceKey, sequence: UInt32, into writer: inout NetlinkWriter) {
        begin(.getDestination, sequence: sequence, flags: Netlink.flagRequest | Netlink.flagDump, into: &writer)
        putService(key, attributesOf: nil, into: &writer)
        writer.endMessage()
    }

    /// `IPVS_CMD_NEW_DAEMON`.
    func encodeStartDaemon(_ daemon: IPVSSyncDaemon, sequence: UInt32, flags: UInt16, into writer: inout NetlinkWriter)
    {
        begin(.newDaemon, sequence: sequence, flags: flags, into: &writer)
        writer.beginNested(IPVSAttribute.commandDaemon)
        writer.appendAttribute(IPVSAttribute.daemonState, u32: daemon.role.kernelValue)
        writer.appendAttribute(IPVSAttribute.daemonInterface, string: daemon.interface)
        writer.appendAttribute(IPVSAttribute.daemonSyncID, u32: UInt32(daemon.syncID))
        if let maxLength = daemon.maxLength { writer.appendAttribute(IPVSAttribute.daemonMaxLength, u16: maxLength) }
        if let port = daemon.port { writer.appendAttribute(IPVSAttribute.daemonPort, u16: port) }
        if let ttl = daemon.ttl { writer.appendAttribute(IPVSAttribute.daemonTTL, u8: ttl) }
        switch daemon.group {
        case .v4?: writer.appendAttribute(IPVSAttribute.daemonGroup, daemon.group!.bytes)
        case .v6?: writer.appendAttribute(IPVSAttribute.daemonGroup6, daemon.group!.bytes)
        case nil: break
        }
        writer.endNested()
        writer.endMessage()
    }

    /// `IPVS_CMD_DEL_DAEMON`.
    func encodeStopDaemon(
        _ role: IPVSSyncDaemon.Role, sequence: UInt32, flags: UInt16, into writer: inout NetlinkWriter
    ) {
        begin(.deleteDaemon, sequence: sequence, flags: flags, into: &writer)
        writer.beginNested(IPVSAttribute.commandDaemon)
        writer.appendAttribute(IPVSAttribute.daemonState, u32: role.kernelValue)
        writer.endNested()
        writer.endMessage()
    }

    private func begin(_ command: IPVSCommand, sequence: UInt32, flags: UInt16, into writer: inout NetlinkWriter) {
        writer.beginGenericMessage(
            family: family, flags: flags, sequence: sequence, command: command.rawValue,
            version: IPVSAttribute.familyVersion)
    }

    /// `IPVS_CMD_ATTR_SERVICE`: the identifying attributes, plus scheduler, flags, timeout and
    /// netmask when `service` is given (adding or editing needs them all).
    private func putService(_ key: ServiceKey, attributesOf service: IPVSService?, into writer: inout NetlinkWriter) {
        writer.beginNested(IPVSAttribute.commandService)
        writer.appendAttribute(IPVSAttribute.serviceFamily, u16: IPVSAttribute.addressFamily(key.family))
        switch key {
        case .firewallMark(let mark, _):
            writer.appendAttribute(IPVSAttribute.serviceMark, u32: mark)
        case .inet(let proto, let address, let port):
            writer.appendAttribute(IPVSAttribute.serviceProtocol, u16: proto.ipProtocolNumber)
            writer.appendAttribute(IPVSAttribute.serviceAddress, Self.addressBytes(address))
            writer.appendAttribute(IPVSAttribute.servicePort, be16: port)
        }
        if let service {
            writer.appendAttribute(IPVSAttribute.serviceScheduler, string: service.scheduler.rawValue)
            if let engine = service.persistenceEngine {
                writer.appendAttribute(IPVSAttribute.servicePersistenceEngine, string: engine)
            }
            // struct ip_vs_flags { u32 flags; u32 mask; }: every bit is ours to set.
            writer.appendAttribute(
                IPVSAttribute.serviceFlags,
                NetlinkWriter.native(service.flags.rawValue) + NetlinkWriter.native(~UInt32(0)))
            writer.appendAttribute(IPVSAttribute.serviceTimeout, u32: service.persistence?.timeout ?? 0)
            writer.appendAttribute(
                IPVSAttribute.serviceNetmask, Self.netmaskBytes(service.effectiveNetmask, family: key.family))
        }
        writer.endNested()
    }

    /// `IPVS_CMD_ATTR_DEST`: address and port, plus forwarding, weight and thresholds if `full`.
    private func putDestination(_ destination: IPVSDestination, full: Bool, into writer: inout NetlinkWriter) {
        writer.beginNested(IPVSAttribute.commandDestination)
        writer.appendAttribute(
            IPVSAttribute.destinationFamily, u16: IPVSAttribute.addressFamily(destination.address.family))
        writer.appendAttribute(IPVSAttribute.destinationAddress, Self.addressBytes(destination.address))
        writer.appendAttribute(IPVSAttribute.destinationPort, be16: destination.port)
        if full {
            writer.appendAttribute(IPVSAttribute.destinationForwarding, u32: destination.forwarding.kernelValue)
            writer.appendAttribute(IPVSAttribute.destinationWeight, u32: UInt32(bitPattern: destination.weight))
            writer.appendAttribute(IPVSAttribute.destinationUpperThreshold, u32: destination.upperThreshold)
            writer.appendAttribute(IPVSAttribute.destinationLowerThreshold, u32: destination.lowerThreshold)
        }
        writer.endNested()
    }

    /// A `union nf_inet_addr`: 16 bytes, an IPv4 address in the first four (as the kernel
    /// writes addresses in its replies and `ipvsadm` in its requests).
    static func addressBytes(_ address: IPAddress) -> [UInt8] {
        let bytes = address.bytes
        return bytes + [UInt8](repeating: 0, count: 16 - bytes.count)
    }

    /// `IPVS_SVC_ATTR_NETMASK` is a `__be32` to the kernel, but only IPv4 masks are in network
    /// byte order: an IPv6 prefix length is an integer in host byte order in the same four
    /// bytes (the kernel compares it with 1...128 without converting; `ipvsadm` sends it so).
    static func netmaskBytes(_ netmask: UInt32, family: AddressFamily) -> [UInt8] {
        switch family {
        case .ipv4: IPAddress.v4(netmask).bytes
        case .ipv6: NetlinkWriter.native(netmask)
        }
    }
}

/// Decodes the kernel's IPVS replies.
enum IPVSReplyDecoder {
    /// The answer to `IPVS_CMD_GET_INFO`.
    static func info(_ attributes: NetlinkAttributes) throws(NetlinkDecodingError) -> IPVSInfo {
        guard let version = attributes[IPVSAttribute.infoVersion]?.u32,
            let size = attributes[IPVSAttribute.infoConnectionTableSize]?.u32
        else { throw NetlinkDecodingError("info reply without version or connection table size") }
        return IPVSInfo(version: version, connectionTableSize: size)
    }

    /// One service of a service dump.
    static func service(_ attributes: NetlinkAttributes) throws(NetlinkDecodingError) -> IPVSSnapshot.Service {
        guard let nested = try attributes[IPVSAttribute.commandService]?.nested() else {
            throw NetlinkDecodingError("service message without IPVS_CMD_ATTR_SERVICE")
        }
        guard let familyValue = nested[IPVSAttribute.serviceFamily]?.u16,
            let family = IPVSAttribute.addressFamily(familyValue)
        else { throw NetlinkDecodingError("service without a known address family") }

        let key: ServiceKey
        if let mark = nested[IPVSAttribute.serviceMark]?.u32 {
            key = .firewallMark(mark, family)
        } else {
            guard let protocolNumber = nested[IPVSAttribute.serviceProtocol]?.u16,
                let port = nested[IPVSAttribute.servicePort]?.be16,
                let addressAttribute = nested[IPVSAttribute.serviceAddress]
            else { throw NetlinkDecodingError("service without mark or protocol, address and port") }
            guard let proto = TransportProtocol(ipProtocolNumber: protocolNumber) else {
                throw NetlinkDecodingError("service with unknown protocol \(protocolNumber)")
            }
            key = .inet(proto, try address(addressAttribute, family: family), port: port)
        }

        guard let scheduler = nested[IPVSAttribute.serviceScheduler]?.string,
            let flagsAttribute = nested[IPVSAttribute.serviceFlags], flagsAttribute.payload.count == 8,
            let flagWord = NativeBytes.read(UInt32.self, from: flagsAttribute.payload, at: 0),
            let mask = NativeBytes.read(UInt32.self, from: flagsAttribute.payload, at: 4),
            let timeout = nested[IPVSAttribute.serviceTimeout]?.u32,
            let netmaskAttribute = nested[IPVSAttribute.serviceNetmask], netmaskAttribute.payload.count == 4
        else { throw NetlinkDecodingError("service \(key.listingName) without scheduler, flags, timeout or netmask") }

        let flags = IPVSServiceFlags(rawValue: flagWord & mask)
        let netmask: UInt32 =
            family == .ipv4
            ? netmaskAttribute.be32! : NativeBytes.read(UInt32.self, from: netmaskAttribute.payload, at: 0)!
        let engine = nested[IPVSAttribute.servicePersistenceEngine]?.string
        let service = IPVSService(
            key: key,
            scheduler: Scheduler(uncheckedName: scheduler),
            schedulerFlags: SchedulerFlags(rawValue: flags.rawValue & IPVSServiceFlags.schedulerFlags.rawValue),
            persistence: flags.contains(.persistent) ? Persistence(timeout: timeout, netmask: netmask) : nil,
            onePacket: flags.contains(.onePacket),
            persistenceEngine: engine.flatMap { $0.isEmpty ? nil : $0 })
        return IPVSSnapshot.Service(
            service,
            statistics: try statistics(
                in: nested, stats64: IPVSAttribute.serviceStats64, stats: IPVSAttribute.serviceStats))
    }

    /// One destination of a destination dump; `serviceFamily` stands in for a missing
    /// `IPVS_DEST_ATTR_ADDR_FAMILY` (kernels before 3.18).
    static func destination(
        _ attributes: NetlinkAttributes, serviceFamily: AddressFamily
    ) throws(NetlinkDecodingError) -> IPVSSnapshot.Destination {
        guard let nested = try attributes[IPVSAttribute.commandDestination]?.nested() else {
            throw NetlinkDecodingError("destination message without IPVS_CMD_ATTR_DEST")
        }
        var family = serviceFamily
        if let value = nested[IPVSAttribute.destinationFamily]?.u16 {
            guard let known = IPVSAttribute.addressFamily(value) else {
                throw NetlinkDecodingError("destination with unknown address family \(value)")
            }
            family = known
        }
        guard let addressAttribute = nested[IPVSAttribute.destinationAddress],
            let port = nested[IPVSAttribute.destinationPort]?.be16,
            let forwardingValue = nested[IPVSAttribute.destinationForwarding]?.u32,
            let weight = nested[IPVSAttribute.destinationWeight]?.u32,
            let upper = nested[IPVSAttribute.destinationUpperThreshold]?.u32,
            let lower = nested[IPVSAttribute.destinationLowerThreshold]?.u32
        else { throw NetlinkDecodingError("destination without address, port, forwarding, weight or thresholds") }
        guard let forwarding = ForwardingMethod(kernelValue: forwardingValue) else {
            throw NetlinkDecodingError("destination with unknown forwarding method \(forwardingValue)")
        }
        let destination = IPVSDestination(
            address: try address(addressAttribute, family: family), port: port, forwarding: forwarding,
            weight: Int32(bitPattern: weight), upperThreshold: upper, lowerThreshold: lower)
        let counts = IPVSConnectionCounts(
            active: nested[IPVSAttribute.destinationActiveConnections]?.u32 ?? 0,
            inactive: nested[IPVSAttribute.destinationInactiveConnections]?.u32 ?? 0,
            persistent: nested[IPVSAttribute.destinationPersistentConnections]?.u32 ?? 0)
        return IPVSSnapshot.Destination(
            destination, connections: counts,
            statistics: try statistics(
                in: nested, stats64: IPVSAttribute.destinationStats64, stats: IPVSAttribute.destinationStats))
    }

    /// One daemon of a daemon dump.
    static func daemon(_ attributes: NetlinkAttributes) throws(NetlinkDecodingError) -> IPVSSyncDaemon {
        guard let nested = try attributes[IPVSAttribute.commandDaemon]?.nested() else {
            throw NetlinkDecodingError("daemon message without IPVS_CMD_ATTR_DAEMON")
        }
        guard let state = nested[IPVSAttribute.daemonState]?.u32,
            let interface = nested[IPVSAttribute.daemonInterface]?.string,
            let syncID = nested[IPVSAttribute.daemonSyncID]?.u32
        else { throw NetlinkDecodingError("daemon without state, interface or sync id") }
        let role: IPVSSyncDaemon.Role
        switch state {
        case IPVSSyncDaemon.Role.master.kernelValue: role = .master
        case IPVSSyncDaemon.Role.backup.kernelValue: role = .backup
        default: throw NetlinkDecodingError("daemon with unknown state \(state)")
        }
        var group: IPAddress?
        if let v4 = nested[IPVSAttribute.daemonGroup], v4.payload.count == 4 {
            group = IPAddress(bytes: v4.payload)
        } else if let v6 = nested[IPVSAttribute.daemonGroup6], v6.payload.count == 16 {
            group = IPAddress(bytes: v6.payload)
        }
        return IPVSSyncDaemon(
            role: role, interface: interface, syncID: UInt8(truncatingIfNeeded: syncID),
            maxLength: nested[IPVSAttribute.daemonMaxLength]?.u16, group: group,
            port: nested[IPVSAttribute.daemonPort]?.u16, ttl: nested[IPVSAttribute.daemonTTL]?.u8)
    }

    private static func address(_ attribute: NetlinkAttribute, family: AddressFamily) throws(NetlinkDecodingError)
        -> IPAddress
    {
        let size = family == .ipv4 ? 4 : 16
        guard attribute.payload.count >= size, let address = IPAddress(bytes: attribute.payload.prefix(size)) else {
            throw NetlinkDecodingError("address of \(attribute.payload.count) bytes for \(family)")
        }
        return address
    }

    /// The 64-bit statistics if present, else the older 32-bit ones (whose byte counters are
    /// 64-bit already), else zeros.
    private static func statistics(
        in attributes: NetlinkAttributes, stats64: UInt16, stats: UInt16
    ) throws(NetlinkDecodingError) -> IPVSStatistics {
        guard let nested = try (attributes[stats64] ?? attributes[stats])?.nested() else { return .zero }
        func value(_ type: UInt16) -> UInt64 {
            guard let attribute = nested[type] else { return 0 }
            return attribute.u64 ?? attribute.u32.map(UInt64.init) ?? 0
        }
        return IPVSStatistics(
            connections: value(IPVSAttribute.statsConnections),
            incomingPackets: value(IPVSAttribute.statsIncomingPackets),
            outgoingPackets: value(IPVSAttribute.statsOutgoingPackets),
            incomingBytes: value(IPVSAttribute.statsIncomingBytes),
            outgoingBytes: value(IPVSAttribute.statsOutgoingBytes),
            connectionRate: value(IPVSAttribute.statsConnectionRate),
            incomingPacketRate: value(IPVSAttribute.statsIncomingPacketRate),
            outgoingPacketRate: value(IPVSAttribute.statsOutgoingPacketRate),
            incomingByteRate: value(IPVSAttribute.statsIncomingByteRate),
            outgoingByteRate: value(IPVSAttribute.statsOutgoingByteRate))
    }
}
