/// One line of an ldirectord.cf, split into directive name and value.
///
/// Differences from ldirectord, all of which only accept files ldirectord refuses or
/// misreads: a `#` inside double quotes is text, not a comment (ldirectord truncates the line
/// there); a comment after a global value is removed (ldirectord keeps it in the value, so
/// `quiescent=yes # note` is an error there); trailing blanks are not part of a value.
struct ConfigLine {
    enum Kind {
        /// Empty, blanks only, or a comment.
        case blank
        case directive
    }

    let number: Int
    let kind: Kind
    /// Starts with a blank: a line of a virtual block.
    let isIndented: Bool
    /// The directive without comment and surrounding blanks, for messages.
    let text: Substring
    let name: Substring
    /// False for a bare word such as `supervised`.
    let hasEquals: Bool
    /// Everything after `=`, trimmed, quotes intact.
    let value: Substring

    init(number: Int, raw: Substring) {
        self.number = number
        let content = Self.removingComment(raw).trimmingSpaces
        let first = raw.utf8.first
        isIndented = first == UInt8(ascii: " ") || first == UInt8(ascii: "\t")
        text = content
        guard !content.isEmpty else {
            kind = .blank
            name = ""
            hasEquals = false
            value = ""
            return
        }
        kind = .directive
        let nameEnd =
            content.firstIndex { $0 == "=" || $0 == " " || $0 == "\t" } ?? content.endIndex
        name = content[..<nameEnd]
        let afterName = content[nameEnd...].trimmingSpaces
        if afterName.first == "=" {
            hasEquals = true
            value = afterName.dropFirst().trimmingSpaces
        } else {
            hasEquals = false
            value = afterName
        }
    }

    /// The line up to its first `#` outside double quotes.
    static func removingComment(_ raw: Substring) -> Substring {
        var inQuotes = false
        var index = raw.startIndex
        while index < raw.endIndex {
            let character = raw[index]
            if character == "\"" {
                inQuotes.toggle()
            } else if character == "#" && !inQuotes {
                return raw[..<index]
            }
            index = raw.index(after: index)
        }
        return raw
    }
}

/// A value with its surrounding double quotes removed.
struct UnquotedValue {
    var text: Substring
    /// Text after the closing quote, which ldirectord ignores.
    var trailing: Substring = ""
    var isUnterminated = false

    /// ldirectord reads `"(.*)"` greedily: from the first quote to the last one on the line.
    init(_ value: Substring) {
        guard value.first == "\"" else {
            text = value
            return
        }
        let body = value.dropFirst()
        guard let close = body.lastIndex(of: "\"") else {
            text = body
            isUnterminated = true
            return
        }
        text = body[..<close]
        trailing = body[body.index(after: close)...].trimmingSpaces
    }
}

/// How ldirectord reads numbers: `/(\d+)/`, the first run of digits anywhere in the value.
struct LenientInteger {
    /// nil when there is no digit at all, or the digits overflow.
    var value: Int?
    /// The value is exactly the digits: ldirectord and a strict reader agree.
    var isExact: Bool
    var isTooLarge = false

    init(_ text: Substring) {
        let digits = text.drop { !$0.isASCIIDigit }.prefix { $0.isASCIIDigit }
        guard !digits.isEmpty else {
            value = nil
            isExact = false
            return
        }
        // Digits beyond what an Int holds are not a value anyone means.
        if digits.count > 12 {
            value = nil
            isTooLarge = true
        } else {
            value = Int(digits)
        }
        isExact = digits.count == text.count
    }
}

extension Character {
    var isASCIIDigit: Bool { self >= "0" && self <= "9" }
    var isASCIILetter: Bool { (self >= "a" && self <= "z") || (self >= "A" && self <= "Z") }
    /// Perl's `\w` restricted to ASCII.
    var isWordCharacter: Bool { isASCIIDigit || isASCIILetter || self == "_" }
}
