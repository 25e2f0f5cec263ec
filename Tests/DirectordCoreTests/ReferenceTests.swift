import Foundation
import Testing

@testable import DirectordCore

/// docs/configuration.md is the configuration reference (the man page directord.cf(5) is made
/// from it): it must describe exactly the directives the parser knows, and mark directord's own.
@Suite("The configuration reference")
struct ReferenceTests {
    static func reference() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
    }

    /// The directive names written as `name=...` in some text.
    static func directives(in text: Substring) -> Set<String> {
        Set(text.matches(of: /`([a-z0-9]+)=/).map { String($0.output.1) })
    }

    /// The reference's table rows, by the directives their first cell names.
    static func rows() throws -> [(names: Set<String>, row: Substring)] {
        try reference().split(separator: "\n").compactMap { line in
            guard line.hasPrefix("| `") else { return nil }
            let firstCell = line.dropFirst(2).prefix { $0 != "|" }
            return (directives(in: firstCell), line)
        }
    }

    @Test("every directive the parser knows is described in the reference")
    func everyDirectiveDocumented() throws {
        let missing = Directive.all.subtracting(Self.directives(in: try Self.reference()[...]))
        #expect(missing.isEmpty, "not in docs/configuration.md: \(missing.sorted())")
    }

    @Test("the reference's tables describe no directive the parser does not know")
    func nothingInvented() throws {
        let unknown = try Self.rows().reduce(into: Set<String>()) { $0.formUnion($1.names) }
            .subtracting(Directive.all)
        #expect(unknown.isEmpty, "documented but unknown to the parser: \(unknown.sorted())")
    }

    @Test("directord's own directives are marked as unknown to ldirectord")
    func extensionsMarked() throws {
        let own = Directive.extensions.union(Directive.globalExtensions)
        let rows = try Self.rows()
        for name in own {
            let row = rows.first { $0.names.contains(name) }
            #expect(row?.row.contains("*directord only.*") == true, "\(name)= has no row marked directord only")
        }
    }
}
