// libFuzzer entry point for the configuration parser, compiled into the DirectordCore module
// by fuzz/run. The parser must never trap or hang, and whatever it accepts must print back to
// a file that parses to the same configuration.

private let fuzzParser = ConfigParser(
    resolver: StaticNameResolver(
        hosts: ["web1": [.v4(0x0a00_0001)], "v6web": [.v6(high: 0x2001_0db8_0000_0000, low: 1)]],
        services: StaticNameResolver.commonServices))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfigParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let outcome = fuzzParser.parse(text, file: "fuzz.cf")
    guard let configuration = outcome.configuration else { return 0 }
    let printed = ConfigPrinter.print(configuration)
    let again = fuzzParser.parse(printed, file: "printed.cf")
    guard let reparsed = again.configuration,
        reparsed.sourceLinesCleared() == configuration.sourceLinesCleared()
    else {
        fatalError(
            "round trip changed the configuration:\n--- input\n\(text)\n--- printed\n\(printed)\n--- errors\n\(again.errors)"
        )
    }
    return 0
}
