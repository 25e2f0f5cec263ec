/// Text from a peer or a file made safe to show: every control character (C0 but tab, DEL,
/// C1) and every bidirectional override is written as an escape, so a reason phrase with
/// ESC/OSC bytes cannot drive the operator's terminal, and a NUL or a stray CR cannot hide
/// part of a line.
public enum VisibleText {
    /// `text` with each invisible or terminal-driving character escaped (`\x1B`, `\u{202E}`).
    /// Newlines become `\x0A`: the result is always one line.
    public static func escaping(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var result = ""
        result.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar) else {
                result.unicodeScalars.append(scalar)
                continue
            }
            if scalar.value < 0x100 {
                let digits = Array("0123456789ABCDEF")
                result += "\\x" + String(digits[Int(scalar.value >> 4)]) + String(digits[Int(scalar.value & 0xF)])
            } else {
                result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            }
        }
        return result
    }

    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09: false
        case 0x00...0x1F, 0x7F...0x9F: true
        // Bidirectional embeddings, overrides and isolates ("Trojan Source"), and U+FEFF.
        case 0x202A...0x202E, 0x2066...0x2069, 0xFEFF: true
        default: false
        }
    }
}
