/// Daemon states during which e-mail alerts are sent (ldirectord's `emailalertstatus`).
public struct DaemonStatusSet: OptionSet, Hashable, Sendable, Codable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let starting = DaemonStatusSet(rawValue: 0x1)
    public static let running = DaemonStatusSet(rawValue: 0x2)
    public static let stopping = DaemonStatusSet(rawValue: 0x4)
    public static let reloading = DaemonStatusSet(rawValue: 0x8)
    public static let all: DaemonStatusSet = [.starting, .running, .stopping, .reloading]

    public static let names: [(name: String, status: DaemonStatusSet)] = [
        ("starting", .starting), ("running", .running), ("stopping", .stopping), ("reloading", .reloading),
    ]

    /// The value as ldirectord.cf writes it: `all`, `none` or a comma-separated list.
    public var configValue: String {
        if self == .all { return "all" }
        if isEmpty { return "none" }
        return Self.names.filter { contains($0.status) }.map(\.name).joined(separator: ",")
    }
}
