import DirectordChecks
import DirectordCore
import DirectordSystem
import Dispatch
import Glibc
import Synchronization

/// ldirectord's e-mail alerts (`emailalert`, `emailalertfreq`, `emailalertstatus`, `smtp`,
/// `emailalertfrom`).
///
/// An alert goes out for each change of a real or fallback server, its subject the log line
/// (after `[servicename]` when there is one); while a real server stays down, "Inaccessible
/// real server" repeats every `emailalertfreq` seconds. Only in the daemon states that
/// `emailalertstatus` lists. Mail goes over SMTP to `smtp` when it is set, else through the
/// local `sendmail -t`. Sending happens on its own queue: a slow mail server never delays a
/// check.
final class EmailAlerter: Sendable {
    /// The daemon state an alert is sent in (ldirectord's DAEMON_STATUS).
    enum DaemonStatus: String, Sendable {
        case starting, running, stopping, reloading

        var flag: DaemonStatusSet {
            switch self {
            case .starting: .starting
            case .running: .running
            case .stopping: .stopping
            case .reloading: .reloading
            }
        }
    }

    struct Message: Equatable, Sendable {
        var recipients: [String]
        var from: String?
        var subject: String
        var body: String
        var smtpServer: String?
    }

    private struct Repeat {
        var subjectID: String
        var virtual: VirtualService
        var from: String?
        var lastSent: ContinuousClock.Instant
    }

    private let queue = DispatchQueue(label: "directord.mail")
    private let repeats = Mutex<[String: Repeat]>([:])
    private let hostName: String
    private let log: DirectorLog
    private let sendmailPath: String
    /// Replaces sending, for tests.
    private let deliver: (@Sendable (Message) -> Void)?

    init(
        hostName: String, log: DirectorLog, sendmailPath: String = "/usr/sbin/sendmail",
        deliver: (@Sendable (Message) -> Void)? = nil
    ) {
        self.hostName = hostName
        self.log = log
        self.sendmailPath = sendmailPath
        self.deliver = deliver
    }

    /// Sends the alert an event calls for, if the service has alerts and the status allows.
    func alert(
        _ event: DirectorEvent, virtual: VirtualService, from: String?, status: DaemonStatus,
        now: ContinuousClock.Instant = .now
    ) {
        guard let kind = Self.alertKind(event) else { return }
        let id = "\(kind.server) (\(virtual.key))"
        repeats.withLock { table in
            if kind.startsRepeating, let alert = virtual.emailAlert, alert.frequency > 0 {
                table[id] = Repeat(subjectID: id, virtual: virtual, from: from, lastSent: now)
            } else {
                table[id] = nil
            }
        }
        send(subject: event.message, virtual: virtual, from: from, status: status, reason: event.reason)
    }

    /// Repeats "Inaccessible real server" for servers down longer than their frequency.
    func resendDue(status: DaemonStatus, now: ContinuousClock.Instant = .now) {
        let due: [Repeat] = repeats.withLock { table in
            var due: [Repeat] = []
            for (id, entry) in table {
                guard let frequency = entry.virtual.emailAlert?.frequency, frequency > 0 else { continue }
                if now - entry.lastSent >= .seconds(frequency) {
                    table[id]?.lastSent = now
                    due.append(entry)
                }
            }
            return due
        }
        for entry in due {
            send(
                subject: "Inaccessible real server: \(entry.subjectID)", virtual: entry.virtual, from: entry.from,
                status: status, reason: nil)
        }
    }

    /// Forgets repeats of services a reload removed or changed.
    func retain(_ configuration: Configuration) {
        repeats.withLock { table in
            table = table.filter { _, entry in
                configuration.virtualServices.contains { $0 == entry.virtual }
            }
        }
    }

    /// Which events ldirectord mails: real and fallback server changes. A real server's
    /// removal or quiescence starts the repeats; its return ends them.
    static func alertKind(_ event: DirectorEvent) -> (server: String, startsRepeating: Bool)? {
        switch event {
        case .realServerDeleted(let real, _, _), .realServerQuiesced(let real, _, _),
            .realServerReaddedQuiescent(let real, _, _):
            return ("\(real)", true)
        case .realServerAdded(let real, _, _, _), .realServerRestored(let real, _, _, _),
            .realServerPurged(let real, _, _):
            return ("\(real)", false)
        case .fallbackAdded(let server, _), .fallbackRestored(let server, _), .fallbackDeleted(let server, _):
            return ("\(server)", false)
        default:
            return nil
        }
    }

    func message(subject: String, virtual: VirtualService, from: String?, status: DaemonStatus, reason: String?)
        -> Message?
    {
        guard let alert = virtual.emailAlert, alert.statuses.contains(status.flag) else { return nil }
        let recipients = alert.recipients.split(separator: ",").map { $0.filter { $0 != " " && $0 != "\t" } }.filter {
            !$0.isEmpty
        }
        guard !recipients.isEmpty else { return nil }
        let fullSubject = virtual.serviceName.map { "[\($0)] \(subject)" } ?? subject
        var body = "ldirectord host: \(hostName)\nLog-Message: \(fullSubject)\nDaemon-Status: \(status.rawValue)\n"
        if let reason { body += "Reason: \(reason)\n" }
        var details = ""
        if let name = virtual.serviceName { details += "Service name: \(name)\n" }
        if let comment = virtual.comment { details += "Comment: \(comment)\n" }
        if !details.isEmpty { body += "\n\(details)" }
        return Message(recipients: recipients, from: from, subject: fullSubject, body: body, smtpServer: alert.smtp)
    }

    private func send(subject: String, virtual: VirtualService, from: String?, status: DaemonStatus, reason: String?) {
        guard let message = message(subject: subject, virtual: virtual, from: from, status: status, reason: reason)
        else { return }
        log.log("emailalert: \(message.subject)")
        if let deliver {
            deliver(message)
            return
        }
        let hostName = self.hostName
        let sendmailPath = self.sendmailPath
        let log = self.log
        queue.async {
            let outcome =
                message.smtpServer.map { SMTPClient.send(message, via: $0, hostName: hostName) }
                ?? Sendmail.send(message, path: sendmailPath, hostName: hostName)
            if case .failure(let problem) = outcome {
                log.log("failed to send email message: \(problem)", priority: .error)
            }
        }
    }
}

extension DirectorEvent {
    /// The virtual service the event concerns.
    var serviceKey: ServiceKey {
        switch self {
        case .virtualServiceAdded(let key), .virtualServiceChanged(let key), .virtualServicePurged(let key, _),
            .realServerAdded(_, let key, _, _), .realServerRestored(_, let key, _, _),
            .realServerQuiesced(_, let key, _),
            .realServerReaddedQuiescent(_, let key, _), .realServerDeleted(_, let key, _),
            .realServerPurged(_, let key, _),
            .fallbackAdded(_, let key), .fallbackRestored(_, let key), .fallbackDeleted(_, let key),
            .firstCheckFailed(_, let key, _), .ejectionLimitHolds(_, let key, _, _), .realServerDrained(_, let key, _),
            .realServerUndrained(_, let key, _), .slowStartBegan(_, let key, _, _), .realServerRamped(_, let key, _, _),
            .realServerDraining(_, let key, _, _), .agentReported(_, let key, _, _):
            return key
        case .softFailure, .softFailureReset, .localFaultBegan, .localFaultEnded, .checkPathChanged:
            // Soft failures are not mailed; their virtual ID is text.
            return .firewallMark(0, .ipv4)
        }
    }

    /// The check's reason carried by the event, if any.
    var reason: String? {
        switch self {
        case .realServerAdded(_, _, _, let reason), .realServerRestored(_, _, _, let reason),
            .realServerQuiesced(_, _, let reason), .realServerReaddedQuiescent(_, _, let reason),
            .realServerDeleted(_, _, let reason):
            return reason
        default:
            return nil
        }
    }
}

/// The envelope sender ldirectord uses: the user's name at the host.
func defaultSender(hostName: String) -> String {
    let user = getpwuid(getuid()).map { String(cString: $0.pointee.pw_name) } ?? "root"
    return "\(user)@\(hostName)"
}

func mailHeaders(_ message: EmailAlerter.Message, hostName: String) -> String {
    "From: \(message.from ?? defaultSender(hostName: hostName))\nTo: \(message.recipients.joined(separator: ", "))\n"
        + "Subject: \(message.subject)\n\n"
}

/// Mail through the local MTA: `sendmail -t -oi`, the message on its standard input.
enum Sendmail {
    static func send(_ message: EmailAlerter.Message, path: String, hostName: String) -> Result<Void, MailProblem> {
        let (readEnd, writeEnd): (Int32, Int32)
        switch Spawner.pipe() {
        case .success(let ends): (readEnd, writeEnd) = ends
        case .failure(let error): return .failure(MailProblem("\(error)"))
        }
        let spawned = Spawner.spawn([path, "-t", "-oi"], .init(input: readEnd))
        close(readEnd)
        guard case .success(let pid) = spawned else {
            close(writeEnd)
            if case .failure(let error) = spawned { return .failure(MailProblem("\(error)")) }
            return .failure(MailProblem(path))
        }
        FileDescriptorOutput(descriptor: writeEnd).write(mailHeaders(message, hostName: hostName) + message.body)
        close(writeEnd)
        let exit = Spawner.wait(for: pid)
        return exit == .exited(0) ? .success(()) : .failure(MailProblem("\(path) exited \(exit.shellCode)"))
    }
}

struct MailProblem: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
