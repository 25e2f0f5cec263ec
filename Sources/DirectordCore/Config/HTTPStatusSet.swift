/// The HTTP statuses a check accepts (directord's `httpstatus`): codes and ranges, such as
/// `200-299,301,302`. Without it, a check passes on 2xx, as ldirectord's does.
public struct HTTPStatusSet: Hashable, Sendable, Codable, CustomStringConvertible {
    /// In the order written; each within 100...599.
    public private(set) var ranges: [ClosedRange<Int>]

    /// 200 to 299.
    public static let success = HTTPStatusSet(ranges: [200...299])

    init(ranges: [ClosedRange<Int>]) {
        self.ranges = ranges
    }

    /// Reads `200`, `200-299`, and lists of them separated by commas (spaces allowed around
    /// them); nil for anything else, a code outside 100...599 or a range written backwards.
    public init?(_ text: Substring) {
        var ranges: [ClosedRange<Int>] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = item.split(separator: "-", omittingEmptySubsequences: false).map(\.trimmingSpaces)
            guard (1...2).contains(bounds.count) else { return nil }
            let codes = bounds.compactMap(Self.code)
            guard codes.count == bounds.count, codes[0] <= codes[codes.count - 1] else { return nil }
            ranges.append(codes[0]...codes[codes.count - 1])
        }
        self.ranges = ranges
    }

    private static func code(_ text: Substring) -> Int? {
        guard text.utf8.count == 3, text.isAllDigits, let value = Int(text), (100...599).contains(value)
        else { return nil }
        return value
    }

    public func contains(_ status: Int) -> Bool { ranges.contains { $0.contains(status) } }

    /// As the file writes it.
    public var description: String {
        ranges.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ",")
    }
}
