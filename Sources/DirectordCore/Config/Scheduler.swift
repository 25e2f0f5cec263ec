/// An IPVS scheduling algorithm, by its kernel name.
///
/// ldirectord accepts any run of lowercase letters and leaves the kernel to refuse names it
/// does not know, after which the whole virtual service silently goes missing. directord
/// knows the kernel's schedulers and refuses others when the file is read.
public struct Scheduler: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String

    /// Every scheduler module of Linux 6.1 (Debian 12's kernel): `ip_vs_<name>.ko`.
    public static let known: [String] = [
        "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh",
    ]

    /// Schedulers that map clients to servers by a hash: a weight change moves clients, so
    /// `slowstart` leaves their servers alone.
    public static let hashing: Set<String> = ["sh", "dh", "mh"]

    /// Also accepted: schedulers newer kernels have.
    public static let newer: [String] = ["twos"]

    /// ldirectord's default for every virtual service (ipvsadm's own default is wlc).
    public static let ldirectordDefault = Scheduler(uncheckedName: "wrr")

    public init?(rawValue: String) {
        guard Self.known.contains(rawValue) || Self.newer.contains(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    /// A scheduler name read from the kernel, which is whatever a module registered.
    public init(uncheckedName: String) {
        self.rawValue = uncheckedName
    }

    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        self.init(uncheckedName: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// The scheduler flags of a virtual service (`ipvsadm -b`, ldirectord's `schedflags`).
///
/// The kernel has three generic flag bits; sh and mh give the first two a meaning.
/// The corresponding C constants are `IP_VS_SVC_F_SCHED1`, `..._SCHED2`, `..._SCHED3`.
public struct SchedulerFlags: OptionSet, Hashable, Sendable, Codable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let flag1 = SchedulerFlags(rawValue: 0x0008)
    public static let flag2 = SchedulerFlags(rawValue: 0x0010)
    public static let flag3 = SchedulerFlags(rawValue: 0x0020)

    /// The names `ipvsadm -b` accepts, with the bit each sets.
    public static let names: [(name: String, flag: SchedulerFlags)] = [
        ("flag-1", .flag1), ("flag-2", .flag2), ("flag-3", .flag3),
        ("sh-fallback", .flag1), ("sh-port", .flag2),
        ("mh-fallback", .flag1), ("mh-port", .flag2),
    ]

    /// Parses `ipvsadm -b`'s comma-separated list; nil names the first unknown word.
    public static func parse(_ text: String) -> Result<SchedulerFlags, UnknownFlag> {
        var flags: SchedulerFlags = []
        for word in text.split(separator: ",", omittingEmptySubsequences: false) {
            let name = word.trimmingSpaces
            guard let match = names.first(where: { $0.name == name }) else {
                return .failure(UnknownFlag(name: String(name)))
            }
            flags.insert(match.flag)
        }
        return .success(flags)
    }

    public struct UnknownFlag: Error, Equatable {
        public var name: String
    }

    /// The names `ipvsadm -Ln` prints for these flags under the given scheduler.
    public func names(for scheduler: Scheduler) -> [String] {
        let prefix: String? =
            switch scheduler.rawValue {
            case "sh": "sh"
            case "mh": "mh"
            default: nil
            }
        var result: [String] = []
        if contains(.flag1) { result.append(prefix.map { "\($0)-fallback" } ?? "flag-1") }
        if contains(.flag2) { result.append(prefix.map { "\($0)-port" } ?? "flag-2") }
        if contains(.flag3) { result.append("flag-3") }
        return result
    }
}
