import DirectordCore
import DirectordTestSupport
import Testing

/// A resolver with a few names, so tests never depend on the machine's /etc/hosts or DNS.
let testResolver = StaticNameResolver(
    hosts: [
        "web1": [.v4(0x0a00_0001)],
        "web5": [.v4(0x0a00_0005)],
        "v6web": [IPAddress("2001:db8::10")!],
        "mixed": [.v4(0xc0a8_0001), IPAddress("2001:db8::1")!],
    ],
    services: StaticNameResolver.commonServices,
    hostName: "director1")

let testParser = ConfigParser(resolver: testResolver)

/// Parses a file given as lines.
func parse(_ lines: String..., file: String = "test.cf") -> ConfigParser.Outcome {
    testParser.parse(lines.joined(separator: "\n"), file: file)
}

/// Parses and requires success.
func configuration(_ lines: String..., sourceLocation: SourceLocation = #_sourceLocation) throws -> Configuration {
    let outcome = testParser.parse(lines.joined(separator: "\n"), file: "test.cf")
    #expect(outcome.errors.isEmpty, "unexpected errors: \(outcome.errors)", sourceLocation: sourceLocation)
    return try #require(outcome.configuration, sourceLocation: sourceLocation)
}

/// Parses one virtual block with the given directives and returns its service.
func virtualService(
    _ virtualLine: String = "virtual=192.168.1.10:80", _ directives: String...,
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> VirtualService {
    let text = ([virtualLine] + directives.map { "\t" + $0 }).joined(separator: "\n")
    let outcome = testParser.parse(text, file: "test.cf")
    #expect(outcome.errors.isEmpty, "unexpected errors: \(outcome.errors)", sourceLocation: sourceLocation)
    let configuration = try #require(outcome.configuration, sourceLocation: sourceLocation)
    return try #require(configuration.virtualServices.first, sourceLocation: sourceLocation)
}

/// The single error of a file, which must have exactly one.
func onlyError(_ lines: String..., sourceLocation: SourceLocation = #_sourceLocation) throws -> ConfigError {
    let outcome = testParser.parse(lines.joined(separator: "\n"), file: "test.cf")
    #expect(outcome.configuration == nil, sourceLocation: sourceLocation)
    #expect(outcome.errors.count == 1, "errors: \(outcome.errors)", sourceLocation: sourceLocation)
    return try #require(outcome.errors.first, sourceLocation: sourceLocation)
}

/// The warnings' messages of a file that must parse.
func warnings(_ lines: String..., sourceLocation: SourceLocation = #_sourceLocation) -> [ConfigWarning] {
    let outcome = testParser.parse(lines.joined(separator: "\n"), file: "test.cf")
    #expect(outcome.errors.isEmpty, "unexpected errors: \(outcome.errors)", sourceLocation: sourceLocation)
    return outcome.warnings
}

extension IPAddress {
    static func v4(_ text: String) -> IPAddress { IPAddress(text, family: .ipv4)! }
}
