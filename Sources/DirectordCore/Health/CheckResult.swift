/// What one check of one real server found.
///
/// A failing check is data, not an error: timeouts, resets and garbage all become `.down`
/// with a reason a person can read, which ends up in the log line of the transition.
public struct CheckResult: Hashable, Sendable {
    public enum Status: String, Hashable, Sendable, Codable {
        case up
        case down
    }

    public var status: Status
    /// From the start of the check to its verdict.
    public var latency: Duration
    /// Why, in a few words: "HTTP 200, body matched /ok/", "connect: Connection refused",
    /// "no answer within 5 s".
    public var reason: String

    public init(status: Status, latency: Duration, reason: String) {
        self.status = status
        self.latency = latency
        self.reason = reason
    }

    public static func up(_ reason: String, latency: Duration) -> CheckResult {
        CheckResult(status: .up, latency: latency, reason: reason)
    }

    public static func down(_ reason: String, latency: Duration) -> CheckResult {
        CheckResult(status: .down, latency: latency, reason: reason)
    }

    public var isUp: Bool { status == .up }
}
