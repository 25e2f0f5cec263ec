/// directord's health policy directives, global or in a block: how many passes bring a failed
/// real server back, how often a down one is checked, and how much of a service failed checks
/// may take out.
extension ParseSession {
    /// `policy` with the line's directive read into it.
    mutating func readPolicyDirective(_ line: ConfigLine, _ policy: HealthPolicy) -> HealthPolicy {
        var policy = policy
        guard let text = unquoted(line) else { return policy }
        switch line.name {
        case "risecount":
            policy.riseCount = strictNumber(
                line, text, range: 1...1000, expected: "passing checks in a row, 1 to 1000")
        case "downinterval":
            policy.downInterval = strictNumber(
                line, text, range: 1...Int(Int32.max), expected: "seconds between checks of a down server, at least 1")
        case "maxejection":
            // "50%" reads as 50, as an operator writes a share.
            let digits = text.hasSuffix("%") ? text.dropLast() : text
            policy.maxEjection = strictNumber(line, digits, range: 0...100, expected: "a percentage from 0 to 100")
        case "slowstart":
            policy.slowStart = strictNumber(
                line, text, range: 1...86400, expected: "seconds over which a returning server ramps up, 1 to 86400")
        case "agentport":
            policy.agentPort = strictNumber(line, text, range: 1...65535, expected: "a TCP port, 1 to 65535")
        case "agentinterval":
            policy.agentInterval = strictNumber(
                line, text, range: 1...86400, expected: "seconds between agent queries, 1 to 86400")
        case "checkpath":
            switch text.lowercased() {
            case "direct": policy.checkThroughForwarding = false
            case "forwarding": policy.checkThroughForwarding = true
            default:
                invalid(
                    line, "invalid checkpath \"\(text)\"",
                    expected: "direct (to the real server's address) or forwarding (through the virtual service)")
            }
        case "draintimeout":
            policy.drainTimeout = strictNumber(
                line, text, range: 1...86400,
                expected: "seconds a removed server keeps its connections at weight 0, 1 to 86400")
        default:
            break
        }
        return policy
    }

    /// A directive of directord's own: `check-config --strict` names it, since ldirectord
    /// refuses the file.
    mutating func warnOwnDirective(_ line: ConfigLine) {
        warn(
            line, "\(line.name) is directord's own directive; ldirectord does not know it",
            ldirectord: .unknownDirective)
    }
}
