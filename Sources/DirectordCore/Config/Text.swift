extension StringProtocol where SubSequence == Substring {
    /// The text without leading and trailing spaces, tabs, carriage returns and newlines.
    var trimmingSpaces: Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        let whole: Substring = self[...]
        guard let first = whole.firstIndex(where: { !isSpace($0) }) else { return whole[whole.endIndex...] }
        let last = whole.lastIndex(where: { !isSpace($0) })!
        return whole[first...last]
    }
}

extension Substring {
    var isAllDigits: Bool { !isEmpty && utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } }
}
