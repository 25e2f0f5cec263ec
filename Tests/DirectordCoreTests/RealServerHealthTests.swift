import DirectordCore
import Testing

@Suite("Real server health")
struct RealServerHealthTests {
    let pass = CheckResult.up("HTTP 200", latency: .milliseconds(3))
    let fail = CheckResult.down("connect: Connection refused", latency: .milliseconds(1))

    @Test("a new server is down until a check passes")
    func startsDown() {
        var health = RealServerHealth(state: .down, reason: "not checked yet")
        #expect(health.isPending)
        #expect(health.record(fail, failureCount: 1) == [])
        #expect(!health.isPending)
        #expect(health.state == .down)
        #expect(health.record(pass, failureCount: 1) == [.wentUp(reason: "HTTP 200")])
        #expect(health.state == .up)
        #expect(!health.awaitsFirstCheck)
    }

    @Test("failurecount consecutive failures take an up server down; a pass resets the count")
    func hysteresis() {
        var health = RealServerHealth(state: .up, reason: "in the kernel")
        #expect(
            health.record(fail, failureCount: 3) == [
                .softFailure(count: 1, limit: 3, reason: "connect: Connection refused")
            ])
        #expect(
            health.record(fail, failureCount: 3) == [
                .softFailure(count: 2, limit: 3, reason: "connect: Connection refused")
            ])
        #expect(health.record(pass, failureCount: 3) == [.softFailuresReset])
        #expect(health.failures == 0)
        #expect(health.record(fail, failureCount: 3).count == 1)
        #expect(health.record(fail, failureCount: 3).count == 1)
        #expect(health.state == .up)
        #expect(health.record(fail, failureCount: 3) == [.wentDown(reason: "connect: Connection refused")])
        #expect(health.state == .down)
        #expect(health.record(fail, failureCount: 3) == [])
        // ldirectord's _service_up logs the reset before restoring a server that went down.
        #expect(health.record(pass, failureCount: 3) == [.softFailuresReset, .wentUp(reason: "HTTP 200")])
    }

    @Test("failurecount=1 takes a server down at the first failure")
    func single() {
        var health = RealServerHealth(state: .up, reason: "")
        #expect(health.record(fail, failureCount: 1) == [.wentDown(reason: "connect: Connection refused")])
    }

    @Test("maintenance takes a server down at once and keeps it down until a pass after it ends")
    func maintenance() {
        var health = RealServerHealth(state: .up, reason: "")
        #expect(health.enterMaintenance() == [.wentDown(reason: "Server in maintenance")])
        #expect(health.enterMaintenance() == [])
        #expect(health.record(pass, failureCount: 3) == [])
        #expect(health.state == .down)
        health.leaveMaintenance()
        #expect(health.state == .down)
        #expect(health.record(pass, failureCount: 3) == [.wentUp(reason: "HTTP 200")])
    }

    @Test("checktype on and off force the state")
    func forced() {
        var health = RealServerHealth(state: .down, reason: "")
        #expect(health.force(.up, reason: "checktype=on") == [.wentUp(reason: "checktype=on")])
        #expect(health.force(.up, reason: "checktype=on") == [])
        #expect(health.force(.down, reason: "checktype=off") == [.wentDown(reason: "checktype=off")])
    }
}

@Suite("Log lines")
struct DirectorEventTests {
    let vip = ServiceKey.inet(.tcp, IPAddress("10.0.0.10")!, port: 80)
    let real = DirectorEvent.Endpoint(address: IPAddress("10.0.0.1")!, port: 80)

    @Test("every transition is worded as ldirectord words it")
    func ldirectordText() {
        let six = DirectorEvent.Endpoint(address: IPAddress("2001:db8::1")!, port: 443)
        let cases: [(DirectorEvent, String)] = [
            (.virtualServiceAdded(vip), "Added virtual server: 10.0.0.10:80"),
            (.virtualServiceChanged(.firewallMark(7, .ipv4)), "Changed virtual server: 7"),
            (.virtualServicePurged(vip, phase: .stop), "Purged virtual server (stop): 10.0.0.10:80"),
            (
                .realServerAdded(real, in: vip, weight: 5, reason: nil),
                "Added real server: 10.0.0.1:80 (10.0.0.10:80) (Weight set to 5)"
            ),
            (
                .realServerRestored(real, in: vip, weight: 1, reason: "HTTP 200"),
                "Restored real server: 10.0.0.1:80 (10.0.0.10:80) (Weight set to 1)"
            ),
            (
                .realServerQuiesced(real, in: vip, reason: "HTTP 503"),
                "Quiescent real server: 10.0.0.1:80 (10.0.0.10:80) (Weight set to 0)"
            ),
            (
                .realServerReaddedQuiescent(real, in: vip, reason: nil),
                "Readd Quiescent real server: 10.0.0.1:80 (10.0.0.10:80) (Weight set to 0)"
            ),
            (
                .realServerDeleted(real, in: vip, reason: "no answer within 5 s"),
                "Deleted real server: 10.0.0.1:80 (10.0.0.10:80)"
            ),
            (
                .realServerPurged(six, in: .inet(.tcp, IPAddress("2001:db8::10")!, port: 443), phase: .start),
                "Purged real server (start): [2001:db8::1]:443 ([2001:db8::10]:443)"
            ),
            (.fallbackAdded(real, in: vip), "Added fallback server: 10.0.0.1:80 (10.0.0.10:80) (Weight set to 1)"),
            (.fallbackDeleted(real, in: vip), "Deleted fallback server: 10.0.0.1:80 (10.0.0.10:80)"),
            (
                .softFailure(real, virtualID: "tcp:10.0.0.10:80", count: 1, limit: 3, reason: "HTTP 500"),
                "Soft failure real server: 10.0.0.1:80 (tcp:10.0.0.10:80) failure 1/3"
            ),
            (
                .softFailureReset(real, virtualID: "tcp:10.0.0.10:80"),
                "Resetting soft failure count: 10.0.0.1:80 (tcp:10.0.0.10:80)"
            ),
        ]
        for (event, text) in cases {
            #expect(event.message == text)
        }
    }

    @Test("the check's reason is a line of its own that no ldirectord pattern matches")
    func reasonLine() {
        let deleted = DirectorEvent.realServerDeleted(real, in: vip, reason: "HTTP 503 Service Unavailable")
        #expect(
            deleted.reasonMessage == "Check of real server 10.0.0.1:80 (10.0.0.10:80): HTTP 503 Service Unavailable")
        let soft = DirectorEvent.softFailure(
            real, virtualID: "tcp:10.0.0.10:80", count: 1, limit: 3, reason: "HTTP 500")
        #expect(soft.reasonMessage == "Check of real server 10.0.0.1:80 (tcp:10.0.0.10:80): HTTP 500")
        #expect(DirectorEvent.realServerAdded(real, in: vip, weight: 5, reason: nil).reasonMessage == nil)
        #expect(DirectorEvent.fallbackAdded(real, in: vip).reasonMessage == nil)
        // ldirectord's own line, anchored at its end as log watchers anchor it, still matches.
        let pattern = /^Deleted real server: (\S+) \((\S+)\)$/
        #expect(deleted.message.wholeMatch(of: pattern) != nil)
        for line in [deleted.reasonMessage, soft.reasonMessage].compactMap({ $0 }) {
            for word in ["Added", "Deleted", "Quiescent", "Restored", "Soft failure", "fallback"] {
                #expect(!line.contains(word))
            }
        }
    }
}
