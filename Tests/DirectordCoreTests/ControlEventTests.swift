import Testing

@testable import DirectordCore

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

    @Test("status -v: each real server's last check and how long it has been in its state")
    func statusDetail() {
        var report = StatusReport(
            pid: 7, configuration: "/etc/ha.d/web.cf", daemonStatus: "running",
            virtualServices: [
                StatusReport.Service(
                    id: "tcp:10.0.0.10:80",
                    realServers: [
                        StatusReport.Real(
                            endpoint: "10.0.0.1:80", state: "up", failures: 0, reason: "HTTP 200", kernelWeight: 3,
                            lastCheckSeconds: 0.0123, lastCheckAt: 990,
                            lastChange: "Added real server: 10.0.0.1:80 (10.0.0.10:80) (Weight set to 3)",
                            lastChangeAt: 808),
                        StatusReport.Real(
                            endpoint: "10.0.0.2:80", state: "waiting", failures: 0, reason: "not checked yet"),
                    ])
            ])
        report.madeAt = 1000
        #expect(
            report.text == """
                directord (pid 7) for /etc/ha.d/web.cf: running

                tcp:10.0.0.10:80
                  10.0.0.1:80  up (weight 3): HTTP 200
                      last check 12.3 ms, 10.0 s ago; up for 3m12s since: Added real server: 10.0.0.1:80 (10.0.0.10:80) (Weight set to 3)
                  10.0.0.2:80  waiting (not in the table): not checked yet

                """)
        #expect(StatusReport.duration(0.000_85) == "850 us")
        #expect(StatusReport.duration(7530) == "2h05m")
    }
}
