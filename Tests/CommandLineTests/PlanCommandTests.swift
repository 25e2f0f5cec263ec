import DirectordCore
import DirectordTestSupport
import Foundation
import Testing

/// `directord plan` against a table an ldirectord left (given as `directord table --json`
/// writes it), with real servers this test starts: the operations a start would make, in
/// ipvsadm's words, and nothing else.
@Suite("directord plan")
struct PlanCommandTests {
    static let vip = ServiceKey.inet(.tcp, IPAddress("10.0.0.10")!, port: 80)

    static func destination(_ port: UInt16, weight: Int32) -> IPVSDestination {
        IPVSDestination(address: IPAddress("127.0.0.1")!, port: port, forwarding: .masq, weight: weight)
    }

    /// Writes `table` as `directord table --json` would, next to `file`.
    static func writeSnapshot(_ table: IPVSTable, beside file: URL) throws -> URL {
        let snapshot = try InMemoryIPVSTable(table: table).snapshot()
        let path = file.deletingLastPathComponent().appendingPathComponent("table.json")
        try JSONEncoder().encode(snapshot).write(to: path)
        return path
    }

    @Test("a table left by ldirectord: the weight it set is edited, the dead server deleted, a stale one purged")
    func leftByLdirectord() throws {
        let web = try TestServerProcess.healthPage()
        defer { web.stop() }
        let up = web.port("web")

        let file = try CheckConfigCommandTests.write(
            """
            virtual=10.0.0.10:80
            \treal=127.0.0.1:\(up) masq 5
            \treal=127.0.0.1:1 masq 2
            \tservice=http
            \trequest="health"
            \treceive="OK"
            \tscheduler=wrr
            virtual=10.0.0.11:80
            \treal=127.0.0.1:\(up) masq
            \tservice=http
            \trequest="health"
            \treceive="OK"

            """, name: "web.cf")
        var table = IPVSTable()
        table.upsert(IPVSService(key: Self.vip, scheduler: Scheduler(uncheckedName: "wrr")))
        table.upsert(Self.destination(up, weight: 1), in: Self.vip)
        table.upsert(Self.destination(1, weight: 2), in: Self.vip)
        table.upsert(Self.destination(9, weight: 1), in: Self.vip)
        let snapshot = try Self.writeSnapshot(table, beside: file)
        let before = try Data(contentsOf: snapshot)

        let run = try CheckConfigCommandTests.run([file.path, "plan", "--table", snapshot.path])
        #expect(run.status == 0, "\(run.errors)")
        let commands = run.output.split(separator: "\n").filter { !$0.hasPrefix("#") }.map(String.init)
        #expect(
            commands == [
                // At start: what the file says of the services; the servers ldirectord had in
                // are trusted until their first check, the one it does not list is purged.
                "ipvsadm -A -t 10.0.0.11:80 -s wrr",
                "ipvsadm -e -t 10.0.0.10:80 -r 127.0.0.1:\(up) -m -w 5",
                "ipvsadm -d -t 10.0.0.10:80 -r 127.0.0.1:9",
                // After the first checks.
                "ipvsadm -d -t 10.0.0.10:80 -r 127.0.0.1:1",
                "ipvsadm -a -t 10.0.0.11:80 -r 127.0.0.1:\(up) -m -w 1",
            ], "\(run.output)")
        #expect(run.output.contains("\n#   Purged real server (start): 127.0.0.1:9 (10.0.0.10:80)\n"), "\(run.output)")
        #expect(run.output.contains("\n#   Deleted real server: 127.0.0.1:1 (10.0.0.10:80)\n"), "\(run.output)")
        // Nothing changed: the plan only reads.
        #expect(try Data(contentsOf: snapshot) == before)

        // Once applied, the same plan has nothing left to do.
        let settled = try Self.writeSnapshot(
            try table.applying(
                TableDiff.diff(
                    from: table,
                    to: {
                        var target = IPVSTable()
                        target.upsert(IPVSService(key: Self.vip, scheduler: Scheduler(uncheckedName: "wrr")))
                        target.upsert(Self.destination(up, weight: 5), in: Self.vip)
                        let other = ServiceKey.inet(.tcp, IPAddress("10.0.0.11")!, port: 80)
                        target.upsert(IPVSService(key: other, scheduler: Scheduler(uncheckedName: "wrr")))
                        target.upsert(Self.destination(up, weight: 1), in: other)
                        return target
                    }())), beside: file)
        let again = try CheckConfigCommandTests.run([file.path, "plan", "--table", settled.path])
        #expect(again.status == 0)
        #expect(again.output == "# nothing to change: the table is what a start would leave\n", "\(again.output)")
    }

    @Test("an invalid file exits 2, an unreadable table 1, and neither plans anything")
    func failures() throws {
        let bad = try CheckConfigCommandTests.write("virtual=10.0.0.10:80\n\tquiescent=maybe\n")
        let invalid = try CheckConfigCommandTests.run([bad.path, "plan", "--table", "/nonexistent"])
        #expect(invalid.status == 2)
        #expect(invalid.output.isEmpty)
        let good = try CheckConfigCommandTests.write("virtual=10.0.0.10:80\n\treal=10.0.0.1 gate\n")
        let missing = try CheckConfigCommandTests.run([good.path, "plan", "--table", "/nonexistent"])
        #expect(missing.status == 1)
        #expect(missing.errors.contains("/nonexistent"))
    }
}
