import DirectordCore
import DirectordTestSupport
import Foundation
import Glibc
import Synchronization
import Testing

@testable import DirectordDaemon

@Suite("E-mail alerts")
struct EmailAlerterTests {
    final class Outbox: Sendable {
        let messages = Mutex<[EmailAlerter.Message]>([])
        var all: [EmailAlerter.Message] { messages.withLock { $0 } }
    }

    static func virtual(_ lines: String...) throws -> VirtualService {
        try #require(
            try ConfigParser(resolver: StaticNameResolver()).configuration(
                from: lines.joined(separator: "\n"), file: "m.cf"
            ).0.virtualServices.first)
    }

    static let real = DirectorEvent.Endpoint(address: IPAddress("10.0.0.1")!, port: 80)
    static let vip = ServiceKey.inet(.tcp, IPAddress("10.0.0.10")!, port: 80)

    static func alerter(_ outbox: Outbox) -> EmailAlerter {
        EmailAlerter(
            hostName: "director1", log: DirectorLog(destination: .file(path: "/dev/null"), configName: "m"),
            deliver: { message in outbox.messages.withLock { $0.append(message) } })
    }

    @Test("a real server's change is mailed with ldirectord's subject and body")
    func message() throws {
        let outbox = Outbox()
        let virtual = try Self.virtual(
            "emailalert=\"ops@example.com, web@example.com\"", "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate",
            "\tservicename=Web Shop", "\tcomment=front end")
        Self.alerter(outbox).alert(
            .realServerDeleted(Self.real, in: Self.vip, reason: "HTTP 503"), virtual: virtual, from: "lvs@example.com",
            status: .running)
        #expect(
            outbox.all == [
                EmailAlerter.Message(
                    recipients: ["ops@example.com", "web@example.com"], from: "lvs@example.com",
                    subject: "[Web Shop] Deleted real server: 10.0.0.1:80 (10.0.0.10:80)",
                    body: """
                        ldirectord host: director1
                        Log-Message: [Web Shop] Deleted real server: 10.0.0.1:80 (10.0.0.10:80)
                        Daemon-Status: running
                        Reason: HTTP 503

                        Service name: Web Shop
                        Comment: front end

                        """,
                    smtpServer: nil)
            ])
    }

    @Test("no alerts without emailalert, outside emailalertstatus, or for events ldirectord does not mail")
    func filtered() throws {
        let outbox = Outbox()
        let alerter = Self.alerter(outbox)
        let quiet = try Self.virtual("virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate")
        alerter.alert(
            .realServerDeleted(Self.real, in: Self.vip, reason: nil), virtual: quiet, from: nil, status: .running)
        let startingOnly = try Self.virtual(
            "emailalert=ops@example.com", "emailalertstatus=starting", "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate"
        )
        alerter.alert(
            .realServerDeleted(Self.real, in: Self.vip, reason: nil), virtual: startingOnly, from: nil, status: .running
        )
        alerter.alert(.virtualServiceAdded(Self.vip), virtual: startingOnly, from: nil, status: .starting)
        alerter.alert(
            .softFailure(Self.real, virtualID: "tcp:10.0.0.10:80", count: 1, limit: 2, reason: ""),
            virtual: startingOnly,
            from: nil, status: .starting)
        #expect(outbox.all.isEmpty)
        alerter.alert(.fallbackAdded(Self.real, in: Self.vip), virtual: startingOnly, from: nil, status: .starting)
        #expect(outbox.all.map(\.subject) == ["Added fallback server: 10.0.0.1:80 (10.0.0.10:80) (Weight set to 1)"])
    }

    @Test("a server still down is mailed again every emailalertfreq seconds until it returns")
    func repeats() throws {
        let outbox = Outbox()
        let alerter = Self.alerter(outbox)
        let virtual = try Self.virtual(
            "emailalert=ops@example.com", "emailalertfreq=60", "virtual=10.0.0.10:80", "\treal=10.0.0.1:80 gate")
        let start = ContinuousClock.now
        func at(_ seconds: Int) -> ContinuousClock.Instant { start + .seconds(seconds) }
        alerter.alert(
            .realServerQuiesced(Self.real, in: Self.vip, reason: nil), virtual: virtual, from: nil, status: .running,
            now: at(1000))
        alerter.resendDue(status: .running, now: at(1059))
        #expect(outbox.all.count == 1)
        alerter.resendDue(status: .running, now: at(1060))
        alerter.resendDue(status: .running, now: at(1061))
        #expect(outbox.all.map(\.subject).last == "Inaccessible real server: 10.0.0.1:80 (10.0.0.10:80)")
        #expect(outbox.all.count == 2)
        alerter.alert(
            .realServerRestored(Self.real, in: Self.vip, weight: 1, reason: nil), virtual: virtual, from: nil,
            status: .running, now: at(1070))
        alerter.resendDue(status: .running, now: at(2000))
        #expect(outbox.all.count == 3)
    }

    @Test("alerts go over SMTP when smtp= is set")
    func smtp() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("directord-smtp-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let transcript = directory.appendingPathComponent("transcript").path
        // A one-session SMTP server that records what it is told.
        let server = try TestServerProcess("smtp-recorder", [transcript])
        defer { server.stop() }
        let port = server.port("smtp")
        let message = EmailAlerter.Message(
            recipients: ["a@example.com", "b@example.com"], from: "lvs@example.com", subject: "Deleted real server: x",
            body: "ldirectord host: h\n.starts with a dot\n", smtpServer: "127.0.0.1:\(port)")
        let outcome = SMTPClient.send(message, via: message.smtpServer!, hostName: "director1")
        guard case .success = outcome else {
            Issue.record("\(outcome)")
            return
        }
        server.waitForExit()
        let lines = try String(contentsOfFile: transcript, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.first == "EHLO director1")
        #expect(lines.contains { $0.hasPrefix("MAIL FROM:<") && $0.hasSuffix("@director1>") })
        #expect(lines.contains("RCPT TO:<a@example.com>") && lines.contains("RCPT TO:<b@example.com>"))
        #expect(lines.contains("From: lvs@example.com"))
        #expect(lines.contains("Subject: Deleted real server: x"))
        #expect(lines.contains("..starts with a dot"))
        #expect(lines.last == "QUIT")
    }

    @Test("without smtp=, alerts go to sendmail -t")
    func sendmail() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("directord-sendmail-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let fake = directory.appendingPathComponent("sendmail").path
        let captured = directory.appendingPathComponent("captured").path
        try "#!/bin/sh\necho \"$@\" > \(captured)\ncat >> \(captured)\n".write(
            toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        let message = EmailAlerter.Message(
            recipients: ["ops@example.com"], from: nil, subject: "Added real server: y", body: "body\n", smtpServer: nil
        )
        guard case .success = Sendmail.send(message, path: fake, hostName: "director1") else {
            Issue.record("sendmail failed")
            return
        }
        let text = try String(contentsOfFile: captured, encoding: .utf8)
        #expect(text.hasPrefix("-t -oi\nFrom: "))
        #expect(text.contains("@director1\nTo: ops@example.com\nSubject: Added real server: y\n\nbody\n"))
    }
}
