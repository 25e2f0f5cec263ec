/// Reading one directive's value as ldirectord reads it: quotes, numbers, yes/no, text.
extension ParseSession {
    /// The value without its quotes; warns about ignored text. A quote that is never closed
    /// is read past, as ldirectord's unanchored patterns read it.
    mutating func unquoted(_ line: ConfigLine) -> Substring? {
        let value = UnquotedValue(line.value)
        if value.isUnterminated {
            warn(
                line, "missing closing quote: read as \"\(value.text)\"",
                ldirectord: Self.keepsOpeningQuote.contains(line.name) ? .differs : .same)
        }
        if !value.trailing.isEmpty {
            warn(line, "text after the closing quote is ignored: \(value.trailing)")
        }
        return value.text
    }

    /// String directives whose value ldirectord keeps as written when its quote is never
    /// closed (the opening quote included); for the others it reads the same word or number.
    static let keepsOpeningQuote: Set<Substring> = [
        "checkcommand", "fallbackcommand", "emailalertfrom", "execute", "maintenancedir",
        "servicename", "comment", "monitorfile",
    ]

    /// The directives whose value ldirectord reads only between double quotes
    /// (`NAME\s*=\s*"(.*)"`): unquoted, ldirectord refuses the line.
    static let quotedOnly: Set<Substring> = [
        "request", "receive", "login", "passwd", "database", "secret", "load", "callback", "logfile",
    ]

    /// Notes, for `--strict`, a value ldirectord would refuse for want of quotes.
    mutating func checkQuotes(_ line: ConfigLine) {
        guard Self.quotedOnly.contains(line.name), let value = line.ldirectordValue else { return }
        if !(value.first == "\"" && value.dropFirst().contains("\"")) {
            ldirectordRefuses(line, "ldirectord reads \(line.name) only between double quotes")
        }
    }

    /// ldirectord's `/(\d+)/`: the first run of digits anywhere in the value, any length; an
    /// error with ldirectord's words when there is none.
    mutating func digits(_ line: ConfigLine, problem: String, expected: String) -> LenientInteger? {
        guard let text = unquoted(line) else { return nil }
        let read = LenientInteger(text)
        guard read.value != nil else {
            invalid(line, "\(problem) \"\(text)\"", expected: expected)
            return nil
        }
        if !read.isExact {
            warn(line, "read as \(read.digits), as ldirectord reads it; write \(line.name)=\(read.digits)")
        }
        return read
    }

    /// A count or a number of seconds as ldirectord reads it, within `range`: below it is read
    /// as `range.lowerBound` (a warning: ldirectord takes 0 as no limit, or no pause), above it
    /// as `range.upperBound`.
    mutating func number(
        _ line: ConfigLine, problem: String, expected: String, range: ClosedRange<Int>, zeroMeans: String? = nil
    ) -> Int? {
        guard let read = digits(line, problem: problem, expected: expected), let value = read.value else { return nil }
        // ldirectord's `/(\d+)/ && $1` is false for "0" but true for "00", which it reads as 0.
        if read.digits == "0" && range.lowerBound > 0 {
            invalid(line, "\(problem) \"\(read.digits)\"", expected: expected)
            return nil
        }
        if value < range.lowerBound {
            warn(
                line,
                "\(line.name)=\(read.digits) is read as \(range.lowerBound)\(zeroMeans.map { " (ldirectord: \($0))" } ?? "")",
                ldirectord: zeroMeans == nil ? .same : .differs, severe: zeroMeans != nil)
            return range.lowerBound
        }
        if value > range.upperBound {
            warn(line, "\(line.name)=\(read.digits) is read as \(range.upperBound), the largest directord takes")
            return range.upperBound
        }
        return value
    }

    /// `yes` or `no`. ldirectord compares the whole value, so anything after it (a blank, a
    /// comment, a CR) makes it refuse the file, where directord reads the word.
    mutating func yesNo(_ line: ConfigLine) -> Bool? {
        guard let text = unquoted(line) else { return nil }
        let result: Bool
        switch text {
        case "yes": result = true
        case "no": result = false
        default:
            invalid(line, "\(line.name) must be 'yes' or 'no'", expected: "yes or no")
            return nil
        }
        if line.ldirectordValue != text {
            ldirectordRefuses(line, "ldirectord needs exactly 'yes' or 'no', with nothing after it")
        }
        return result
    }

    /// A string; an empty one (which ldirectord takes for a string of two quotes, or refuses) is
    /// none, with a warning naming `emptyMeans`.
    mutating func text(_ line: ConfigLine, problem: String, expected: String) -> String? {
        guard let text = unquoted(line) else { return nil }
        guard !text.isEmpty else {
            invalid(line, problem, expected: expected)
            return nil
        }
        return String(text)
    }

    /// A global string value that ldirectord keeps exactly as written, quotes, comment and
    /// trailing blanks included; directord reads it without them. Empty reads as nil.
    mutating func globalText(_ line: ConfigLine, problem: String, expected: String, emptyMeans: String) -> String? {
        guard let text = unquoted(line) else { return nil }
        let written = line.ldirectordValue ?? line.value
        if written.isEmpty {
            invalid(line, problem, expected: expected)
            return nil
        }
        if text.isEmpty {
            warn(
                line, "\(line.name) is empty: \(emptyMeans) (ldirectord reads \"\(written)\" and gets nothing from it)",
                severe: false)
            return nil
        }
        if written != text {
            warn(
                line, "read as \"\(text)\"; ldirectord reads \"\(written)\", quotes, comment and blanks included",
                ldirectord: .differs)
        }
        return String(text)
    }

    /// Records a directive in `seen`; returns a warning when it was already set, since ldirectord
    /// silently keeps the last value.
    static func repeatWarning(_ line: ConfigLine, seen: inout [String: Int], scope: String) -> String? {
        let name = String(line.name)
        guard !Directive.repeatable.contains(name) else { return nil }
        defer { seen[name] = line.number }
        guard let first = seen[name] else { return nil }
        return "\(name) is set again\(scope); this replaces line \(first), as in ldirectord"
    }
}
