import DirectordCore
import DirectordIPVS
import Logging
import Synchronization
import Testing

/// The netlink client's debug trace (`directord -d`): each request and what the kernel said.
@Suite("Kernel: the netlink client traces its exchanges", .tags(.kernel), .enabled(if: Lab.isGuest, Lab.skipReason))
struct KernelTraceTests {
    final class Lines: Sendable {
        let all = Mutex<[String]>([])
    }

    struct Capture: LogHandler {
        let lines: Lines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            lines.all.withLock { $0.append(([event.message.description] + fields).joined(separator: " ")) }
        }
    }

    @Test("operations, acknowledgements, refusals and reads are traced at debug level")
    func traced() throws {
        try withNamespace { namespace in
            let lines = Lines()
            let client = try NetlinkIPVSClient(
                networkNamespace: namespace.name, logger: Logger(label: "test") { _ in Capture(lines: lines) })
            let service = IPVSService(key: .inet(.tcp, IPAddress("10.0.0.1")!, port: 80), scheduler: sched("wlc"))
            try client.apply([.addService(service)])
            _ = try client.snapshot()
            #expect(throws: IPVSError.self) { try client.apply([.addService(service)]) }
            let trace = lines.all.withLock { $0 }
            #expect(trace.first?.hasPrefix("netlink: ") == true, "\(trace)")
            #expect(trace.contains("netlink: acknowledged operations=1"), "\(trace)")
            #expect(trace.contains { $0.hasPrefix("netlink: read the table") && $0.contains("services=1") }, "\(trace)")
            #expect(trace.contains { $0.hasPrefix("netlink: refused error=") }, "\(trace)")
        }
    }
}
