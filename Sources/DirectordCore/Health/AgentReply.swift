/// One answer of a real server's agent, in HAProxy's agent-check protocol, so that agents
/// written for HAProxy work unchanged: one line of words separated by spaces, tabs or commas,
/// a description after `#`.
///
/// - `75%`: the weight is that share of the configured one (0 to 100; more reads as 100);
/// - `drain`: weight 0, the server stays; `maint`: out of the table, as a maintenance file
///   puts it; `ready`: neither any more;
/// - `down` (also `fail`, `stopped`): out until the agent says `up`; `up`: that ends.
///
/// Words it does not know are left aside, as HAProxy leaves them.
public struct AgentReply: Hashable, Sendable {
    public enum Administrative: String, Hashable, Sendable {
        case ready, drain, maint
    }

    public enum Operational: String, Hashable, Sendable {
        case up, down
    }

    public var percent: Int?
    public var administrative: Administrative?
    public var operational: Operational?
    /// The text after `#`, if any.
    public var description: String?
    /// Words it did not understand, as written.
    public var unknown: [String] = []

    /// The prefix of the reason an agent query gives when it got an answer: the answer follows.
    public static let reasonPrefix = "agent said: "

    /// Reads a reply line (its line end already removed).
    public init(_ line: String) {
        var text = Substring(line)
        if let hash = text.firstIndex(of: "#") {
            let comment = text[text.index(after: hash)...].trimmingSpaces
            description = comment.isEmpty ? nil : String(comment)
            text = text[..<hash]
        }
        for word in text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "," || $0 == "\r" }) {
            let lowered = word.lowercased()
            if lowered.hasSuffix("%"), let value = Int(lowered.dropLast()), value >= 0 {
                percent = min(value, 100)
                continue
            }
            switch lowered {
            case "ready", "drain", "maint": administrative = Administrative(rawValue: lowered)
            case "up": operational = .up
            case "down", "fail", "stopped": operational = .down
            default: unknown.append(String(word))
            }
        }
    }

    /// The reply in a check result's reason, or nil when the query got none (the agent could
    /// not be reached, or said nothing).
    public init?(result: CheckResult) {
        guard result.isUp, result.reason.hasPrefix(Self.reasonPrefix) else { return nil }
        self.init(String(result.reason.dropFirst(Self.reasonPrefix.count)))
    }
}
