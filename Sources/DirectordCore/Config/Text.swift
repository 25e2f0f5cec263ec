// The parser's text helpers work on UTF-8 bytes: every character they look for (blanks,
// digits, letters, punctuation) is ASCII, and a byte below 0x80 is always a whole scalar, so
// they cut where Characters would, without the grapheme breaking that walking Characters
// costs. A file of 10,000 real servers is read at every reload.

extension UInt8 {
    /// A space, tab, carriage return or newline.
    var isConfigBlank: Bool {
        self == UInt8(ascii: " ") || self == UInt8(ascii: "\t") || self == UInt8(ascii: "\r")
            || self == UInt8(ascii: "\n")
    }
    var isASCIIDigit: Bool { self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9") }
    var isASCIILetter: Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self | 0x20) }
}

extension StringProtocol where SubSequence == Substring {
    /// The text without leading and trailing spaces, tabs, carriage returns and newlines.
    var trimmingSpaces: Substring {
        let whole: Substring = self[...]
        let bytes = whole.utf8
        guard let first = bytes.firstIndex(where: { !$0.isConfigBlank }) else { return whole[whole.endIndex...] }
        let last = bytes.lastIndex(where: { !$0.isConfigBlank })!
        return whole[first..<bytes.index(after: last)]
    }
}

extension Substring {
    var isAllDigits: Bool { !isEmpty && utf8.allSatisfy(\.isASCIIDigit) }

    /// The longest prefix whose bytes all pass `predicate`, which must pass ASCII bytes only.
    func prefix(whileByte predicate: (UInt8) -> Bool) -> Substring {
        self[..<(utf8.firstIndex { !predicate($0) } ?? endIndex)]
    }

    /// What follows `prefix`, a prefix of this text.
    func after(_ prefix: Substring) -> Substring { self[prefix.endIndex...] }

    /// Whether the text holds this ASCII byte.
    func contains(byte: UInt8) -> Bool { utf8.contains(byte) }
}
