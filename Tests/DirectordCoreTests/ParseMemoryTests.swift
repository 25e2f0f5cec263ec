import DirectordCore
import Testing

/// A parse that takes unchanged blocks from the last one gives what a full parse gives, for
/// every kind of edit; and it does take them.
@Suite("Parse memory")
struct ParseMemoryTests {
    /// A file of `blocks` virtual services of numeric real servers, one of them naming a host.
    static func generated(blocks: Int = 6) -> [String] {
        var lines = ["checkinterval=5", "quiescent=yes", "fallback=127.0.0.1:80", ""]
        for block in 0..<blocks {
            lines.append("virtual=10.0.\(block).1:80")
            for real in 0..<5 { lines.append("\treal=172.16.\(block).\(real + 1):8080 masq \(1 + real % 3)") }
            if block == 2 { lines.append("\treal=web1:8080 masq") }
            lines += ["\tservice=http", "\trequest=\"/health\"", "\treceive=\"OK\"", ""]
        }
        return lines
    }

    static func sameOutcome(
        _ text: String, after previous: String, file: String = "test.cf", previousFile: String = "test.cf",
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> ParseMemory {
        var memory = ParseMemory()
        _ = testParser.parse(previous, file: previousFile, memory: &memory)
        let remembered = testParser.parse(text, file: file, memory: &memory)
        let full = testParser.parse(text, file: file)
        #expect(remembered.configuration == full.configuration, sourceLocation: sourceLocation)
        #expect(remembered.errors == full.errors, sourceLocation: sourceLocation)
        #expect(remembered.warnings == full.warnings, sourceLocation: sourceLocation)
        return memory
    }

    @Test("the same file again: every block without a host name is taken, the one with is resolved again")
    func sameFile() {
        let text = Self.generated().joined(separator: "\n")
        let memory = Self.sameOutcome(text, after: text)
        #expect(memory.reusedBlocks == 5)
        #expect(memory.blockCount == 5)
    }

    @Test("one real server's weight changed: only its block is resolved again")
    func oneWeight() {
        var lines = Self.generated()
        let index = lines.firstIndex(of: "\treal=172.16.4.2:8080 masq 2")!
        lines[index] = "\treal=172.16.4.2:8080 masq 9"
        let memory = Self.sameOutcome(lines.joined(separator: "\n"), after: Self.generated().joined(separator: "\n"))
        #expect(memory.reusedBlocks == 4)
    }

    @Test(
        "edits that change what blocks read or where they are: the outcome is a full parse's",
        arguments: [
            "a comment line inserted at the top (every line number moves)",
            "a global changed", "a global fallback changed", "an error inside a block", "a block removed",
            "a block's own directive changed", "a warning made in a block", "another file name",
        ])
    func edits(_ edit: String) {
        let original = Self.generated()
        var lines = original
        var file = "test.cf"
        switch edit {
        case "a comment line inserted at the top (every line number moves)": lines.insert("# note", at: 0)
        case "a global changed": lines[0] = "checkinterval=7"
        case "a global fallback changed": lines[2] = "fallback=127.0.0.2:80"
        case "an error inside a block":
            lines[lines.firstIndex(of: "\treal=172.16.1.3:8080 masq 3")!] = "\treal=bad!:80 masq"
        case "a block removed":
            let start = lines.firstIndex(of: "virtual=10.0.3.1:80")!
            lines.removeSubrange(start...(start + 9))
        case "a block's own directive changed":
            lines[lines.lastIndex(of: "\treceive=\"OK\"")!] = "\treceive=\"Fine\""
        case "a warning made in a block": lines.insert("\tchecktype=negotiate", at: 5)
        default: file = "other.cf"
        }
        let memory = Self.sameOutcome(
            lines.joined(separator: "\n"), after: original.joined(separator: "\n"), file: file)
        if edit.hasPrefix("a comment") || edit.hasPrefix("a global") || edit == "another file name" {
            #expect(memory.reusedBlocks == 0)
        }
    }

    @Test("the fixtures, parsed after themselves and after each other, give a full parse's outcome")
    func fixtures() throws {
        let texts = try RoundTripTests.fixtureNames.map(RoundTripTests.fixture)
        for text in texts {
            for previous in texts { _ = Self.sameOutcome(text, after: previous) }
        }
    }
}
