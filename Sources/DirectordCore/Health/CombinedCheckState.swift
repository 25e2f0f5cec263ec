/// The state `checktype=N` (combined) keeps per real server: ldirectord's `num_connects`.
///
/// ldirectord runs a negotiate check first; after a negotiate check passes it runs connect
/// checks, and once N of them have passed in a row, a negotiate check again. A failed connect
/// check makes the next check a negotiate check; a failed negotiate check is repeated until it
/// passes. Keep one value per (virtual service, real server) and ask it what to run:
///
/// ```swift
/// var combined = CombinedCheckState(for: check)    // once per real server
/// let next = combined.nextCheck(check)             // each time the real server is due
/// let result = await loop.check(next)
/// combined.record(result)
/// ```
///
/// For a check type other than `combined` it passes the check through unchanged. For a UDP
/// service the connect half pings, as `checktype=connect` does there (ldirectord's combined
/// check connected a UDP socket, which always succeeds).
public struct CombinedCheckState: Hashable, Sendable {
    /// N of `checktype=N`; nil when the check is not combined.
    public let negotiateEvery: Int?
    /// Connect checks passed since the last passing negotiate check; ldirectord starts it at
    /// 999999 so that the first check negotiates.
    public private(set) var connectsSinceNegotiate: Int = 999_999
    /// The kind of the check last handed out by ``nextCheck(_:)``.
    private var pending: CheckType?

    public init(for check: HealthCheck) {
        if case .combined(let every) = check.type { negotiateEvery = every } else { negotiateEvery = nil }
    }

    /// Whether the next check of a combined check type is its negotiate half.
    public var nextIsNegotiate: Bool {
        guard let negotiateEvery else { return false }
        return connectsSinceNegotiate >= negotiateEvery
    }

    /// The check to run now: `check` with its type set to `.negotiate` or `.connect`.
    public mutating func nextCheck(_ check: HealthCheck) -> HealthCheck {
        guard negotiateEvery != nil else { return check }
        var next = check
        next.type = nextIsNegotiate ? .negotiate : .connect
        pending = next.type
        return next
    }

    /// Counts the result of the check ``nextCheck(_:)`` handed out last.
    public mutating func record(_ result: CheckResult) {
        guard negotiateEvery != nil, let kind = pending else { return }
        pending = nil
        switch (kind, result.isUp) {
        case (.negotiate, true): connectsSinceNegotiate = 0
        case (.negotiate, false): break
        case (_, true): connectsSinceNegotiate += 1
        case (_, false): connectsSinceNegotiate = 999_999
        }
    }
}
