import DirectordCore
import Testing

/// `directord events` lines, as a specification: each change with its type, service, real
/// server, states and the log line it gets.
@Suite("Control events")
struct ControlEventTests {
    static let vip = ServiceKey.inet(.tcp, IPAddress("10.0.0.10")!, port: 80)
    static let real = DirectorEvent.Endpoint(address: IPAddress("10.0.0.1")!, port: 80)

    @Test("transitions, drains and purges, each with what changed")
    func mapping() throws {
        let deleted = try #require(
            DirectorEvent.realServerDeleted(Self.real, in: Self.vip, reason: "HTTP 503").controlEvent(time: 5))
        #expect(
            deleted
                == ControlEvent(
                    time: 5, type: "real_server_deleted", service: "tcp:10.0.0.10:80", real: "10.0.0.1:80", from: "up",
                    to: "down", reason: "HTTP 503", message: "Deleted real server: 10.0.0.1:80 (10.0.0.10:80)"))
        let drained = try #require(
            DirectorEvent.realServerDrained(Self.real, in: Self.vip, origin: .ipvsadm).controlEvent(time: 5))
        #expect(drained.type == "real_server_drained" && drained.to == "drained" && drained.weight == 0)
        #expect(drained.reason == "ipvsadm")
        let purged = try #require(DirectorEvent.virtualServicePurged(Self.vip, phase: .stop).controlEvent(time: 5))
        #expect(purged.type == "virtual_service_purged" && purged.phase == "stop")
        let mark = ServiceKey.firewallMark(7, .ipv6)
        #expect(DirectorEvent.fallbackAdded(Self.real, in: mark).controlEvent(time: 5)?.service == "fwm6:7")
        // A first check's reason changes nothing: no event.
        #expect(DirectorEvent.firstCheckFailed(Self.real, in: Self.vip, reason: "refused").controlEvent(time: 5) == nil)
    }
}
