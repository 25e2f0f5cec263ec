/// A virtual service as the kernel's IPVS table holds it: its identity and how it schedules.
///
/// Only what identifies and configures the service is here; counters live in
/// ``IPVSStatistics`` so that a desired service (no counters) compares equal to the one the
/// kernel reports.
public struct IPVSService: Hashable, Sendable, Codable {
    /// What the kernel looks the service up by; cannot be edited in place.
    public var key: ServiceKey
    /// The scheduling algorithm (`IPVS_SVC_ATTR_SCHED_NAME`).
    public var scheduler: Scheduler
    /// The scheduler's own flags (`IP_VS_SVC_F_SCHED1` ... `_SCHED3`).
    public var schedulerFlags: SchedulerFlags
    /// Client affinity (`IP_VS_SVC_F_PERSISTENT` with its timeout and netmask); nil when the
    /// service is not persistent.
    public var persistence: Persistence?
    /// One-packet scheduling (`IP_VS_SVC_F_ONEPACKET`): every UDP datagram is scheduled on its
    /// own and no connection entry outlives it.
    public var onePacket: Bool
    /// A persistence engine such as `sip` (`ipvsadm --pe`); ldirectord.cf cannot ask for one,
    /// but a table written by other tools may hold one. nil for none.
    public var persistenceEngine: String?

    public init(
        key: ServiceKey,
        scheduler: Scheduler,
        schedulerFlags: SchedulerFlags = [],
        persistence: Persistence? = nil,
        onePacket: Bool = false,
        persistenceEngine: String? = nil
    ) {
        self.key = key
        self.scheduler = scheduler
        self.schedulerFlags = schedulerFlags
        self.persistence = persistence
        self.onePacket = onePacket
        self.persistenceEngine = persistenceEngine
    }

    /// The service the kernel will hold for a virtual service of an ldirectord.cf.
    public init(_ virtualService: VirtualService) {
        self.init(
            key: virtualService.key,
            scheduler: virtualService.scheduler,
            schedulerFlags: virtualService.schedulerFlags,
            persistence: virtualService.persistence,
            onePacket: virtualService.onePacket)
    }

    /// The persistence netmask the kernel is given: the configured one, or for a service that is
    /// not persistent the family's neutral value (all ones for IPv4, prefix length 128 for IPv6),
    /// as `ipvsadm` sends. The kernel refuses an IPv6 service whose prefix length is outside
    /// 1...128 even when it is not persistent.
    public var effectiveNetmask: UInt32 {
        persistence?.netmask ?? Persistence.defaultNetmask(for: key.family)
    }
}

/// The service flag bits of the kernel (`IP_VS_SVC_F_*`), as they travel in
/// `IPVS_SVC_ATTR_FLAGS`.
public struct IPVSServiceFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// The corresponding C constant is `IP_VS_SVC_F_PERSISTENT`.
    public static let persistent = IPVSServiceFlags(rawValue: 0x0001)
    /// Set by the kernel on every service in its hash table (`IP_VS_SVC_F_HASHED`).
    public static let hashed = IPVSServiceFlags(rawValue: 0x0002)
    /// The corresponding C constant is `IP_VS_SVC_F_ONEPACKET`.
    public static let onePacket = IPVSServiceFlags(rawValue: 0x0004)
    /// The three scheduler flags, `IP_VS_SVC_F_SCHED1` ... `IP_VS_SVC_F_SCHED3`.
    public static let schedulerFlags = IPVSServiceFlags(rawValue: 0x0038)
}

extension IPVSService {
    /// The flag word the kernel is given for this service.
    public var flags: IPVSServiceFlags {
        var flags = IPVSServiceFlags(rawValue: schedulerFlags.rawValue & IPVSServiceFlags.schedulerFlags.rawValue)
        if persistence != nil { flags.insert(.persistent) }
        if onePacket { flags.insert(.onePacket) }
        return flags
    }
}
