/// One line of an ldirectord.cf, split into directive name and value.
///
/// A tab in a line of a virtual block is four spaces, as ldirectord reads it (also inside a
/// quoted request or receive string).
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
    /// The line as written, without its newline.
    let raw: Substring
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
        self.raw = raw
        let first = raw.utf8.first
        isIndented = first == UInt8(ascii: " ") || first == UInt8(ascii: "\t")
        // ldirectord makes every tab of a block's line four spaces, inside quotes too.
        let source = isIndented && raw.contains(byte: UInt8(ascii: "\t")) ? Substring(raw.replacingTabs()) : raw
        let content = Self.removingComment(source).trimmingSpaces
        text = content
        guard !content.isEmpty else {
            kind = .blank
            name = ""
            hasEquals = false
            value = ""
            return
        }
        kind = .directive
        name = content.prefix(whileByte: {
            $0 != UInt8(ascii: "=") && $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t")
        })
        let afterName = content.after(name).trimmingSpaces
        if afterName.utf8.first == UInt8(ascii: "=") {
            hasEquals = true
            value = afterName.dropFirst().trimmingSpaces
        } else {
            hasEquals = false
            value = afterName
        }
    }

    /// The value as ldirectord's `^NAME\s*=\s*(.*)` captures it, which is what ldirectord
    /// judges: a global line as written (a comment, trailing blanks and a CR included); a
    /// line of a virtual block cut at its first `#` (quoted or not) with tabs made four
    /// spaces. nil when ldirectord would not see `NAME=` at all.
    var ldirectordValue: Substring? {
        var line = raw
        if isIndented {
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            if line.contains("\t") { line = Substring(line.replacingTabs()) }
            line = line.drop { $0 == " " }
        }
        guard line.hasPrefix(name) else { return nil }
        var rest = line.dropFirst(name.count).drop(while: \.isPerlSpace)
        guard rest.first == "=" else { return nil }
        rest = rest.dropFirst().drop(while: \.isPerlSpace)
        return rest
    }

    /// The number of leading spaces of an indented line once ldirectord has made each tab four
    /// spaces; ldirectord needs at least four to keep a line in its virtual block.
    var ldirectordIndent: Int {
        var count = 0
        for byte in raw.utf8 {
            if byte == UInt8(ascii: " ") { count += 1 } else if byte == UInt8(ascii: "\t") { count += 4 } else { break }
        }
        return count
    }

    /// The line up to its first `#` outside double quotes.
    static func removingComment(_ raw: Substring) -> Substring {
        // Most lines have no comment: no need to walk their characters.
        guard raw.utf8.contains(UInt8(ascii: "#")) else { return raw }
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

/// How ldirectord reads numbers: `/(\d+)/`, the first run of digits anywhere in the value,
/// whatever its length (Perl turns it into a number only when it is used).
struct LenientInteger {
    /// nil when there is no digit at all. Digits beyond what an `Int` holds saturate at
    /// `Int.max`: every use clamps far below it.
    var value: Int?
    /// The value is exactly the digits: ldirectord and a strict reader agree.
    var isExact: Bool
    /// The digits as written (`00`, `080`).
    var digits: Substring

    init(_ text: Substring) {
        let start = text.utf8.firstIndex(where: \.isASCIIDigit) ?? text.endIndex
        digits = text[start...].prefix(whileByte: \.isASCIIDigit)
        guard !digits.isEmpty else {
            value = nil
            isExact = false
            return
        }
        var result = 0
        for digit in digits.utf8 {
            let (times, overflow1) = result.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int(digit - UInt8(ascii: "0")))
            if overflow1 || overflow2 {
                result = Int.max
                break
            }
            result = sum
        }
        value = result
        isExact = digits.utf8.count == text.utf8.count
    }
}

extension Substring {
    /// Each tab made four spaces. On the UTF-8 bytes: a tab is always a character of its own
    /// (a grapheme breaks after a control character), so this is the same as per character, at
    /// a fraction of the cost (it ran for every line of a 10,000-server file at each reload).
    func replacingTabs() -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count + 12)
        for byte in utf8 {
            if byte == UInt8(ascii: "\t") {
                for _ in 0..<4 { bytes.append(UInt8(ascii: " ")) }
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Character {
    /// Perl's `\s`: space, tab, newline, carriage return, form feed, vertical tab.
    var isPerlSpace: Bool {
        self == " " || self == "\t" || self == "\n" || self == "\r" || self == "\u{0C}" || self == "\u{0B}"
    }
    var isASCIIDigit: Bool { self >= "0" && self <= "9" }
    var isASCIILetter: Bool { (self >= "a" && self <= "z") || (self >= "A" && self <= "Z") }
    /// Perl's `\w` restricted to ASCII.
    var isWordCharacter: Bool { isASCIIDigit || isASCIILetter || self == "_" }
}
