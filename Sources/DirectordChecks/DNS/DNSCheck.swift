import DirectordCore
import DirectordSystem

/// `service=dns` negotiate checks (ldirectord's `check_dns`): ask the real server for the
/// request name (an A record, or a PTR record when the name is an address), up when an A
/// address or PTR name of the answer matches `receive`.
///
/// As ldirectord (Net::DNS): over UDP, or TCP when the virtual service is TCP; a truncated UDP
/// answer is asked again over TCP; an empty `receive` never matches. Unlike Net::DNS's
/// `search`, the name is not extended with the director's resolv.conf search domains: the
/// real server is asked exactly the name written. UDP queries are sent again every second
/// until an answer or `negotiatetimeout`.
final class DNSCheck: CheckOperation {
    private let check: HealthCheck
    private var connection: StreamConnection?
    private var name = ""
    private var query: [UInt8] = []
    private var id = UInt16.random(in: 0...UInt16.max)
    private var resend: TimerID?
    private var overTCP = false
    private var tcpBuffer: [UInt8] = []

    init(context: LoopContext, check: HealthCheck) {
        self.check = check
        super.init(context: context)
    }

    private var endpoint: String { "\(check.address.bracketed):\(check.port ?? 53)" }

    override func begin() {
        let written = check.request.hasPrefix("/") ? String(check.request.dropFirst()) : check.request
        guard !written.isEmpty else {
            fail("dns: request= must name what to look up, such as www.example.com")
            return
        }
        let question = DNSMessage.question(for: written)
        name = written
        guard let query = DNSMessage.query(id: id, name: question.name, type: question.type) else {
            fail("dns: '\(written)' is not a name that can be looked up")
            return
        }
        self.query = query
        open(tcp: check.protocol == .tcp)
    }

    override func timedOut() {
        fail("dns: no answer from \(endpoint) within \(timeoutText)")
    }

    override func releaseResources() {
        context.reactor.cancel(resend)
        resend = nil
        connection?.close()
        connection = nil
    }

    private func open(tcp: Bool) {
        connection?.close()
        context.reactor.cancel(resend)
        overTCP = tcp
        tcpBuffer = []
        let connection = StreamConnection(
            reactor: context.reactor, address: check.address, port: check.port ?? 53, transport: tcp ? .tcp : .udp)
        self.connection = connection
        connection.onFailure = { [weak self] error in
            guard let self else { return }
            self.fail("dns: \(self.endpoint): \(error.reason)")
        }
        connection.onEnd = { [weak self] in
            guard let self else { return }
            self.fail("dns: \(self.endpoint) closed the connection without an answer")
        }
        connection.onData = { [weak self] bytes in
            guard let self else { return }
            self.received(bytes)
        }
        connection.connect { [weak self] in
            guard let self else { return }
            self.send()
        }
    }

    private func send() {
        guard let connection else { return }
        if overTCP {
            connection.send([UInt8(query.count >> 8), UInt8(query.count & 0xff)] + query)
            return
        }
        connection.send(query)
        resend = context.reactor.schedule(after: .seconds(1)) { [weak self] in
            guard let self else { return }
            self.send()
        }
    }

    private func received(_ bytes: [UInt8]) {
        var message = bytes
        if overTCP {
            tcpBuffer += bytes
            guard tcpBuffer.count >= 2 else { return }
            let length = Int(tcpBuffer[0]) << 8 | Int(tcpBuffer[1])
            guard tcpBuffer.count >= 2 + length else { return }
            message = Array(tcpBuffer[2..<(2 + length)])
        }
        // Over UDP anything may arrive; only the answer to this query counts.
        guard let response = DNSMessage.parse(message), response.id == id else {
            if overTCP { fail("dns: \(endpoint) sent something that is not an answer to the query") }
            return
        }
        if response.truncated && !overTCP {
            open(tcp: true)
            return
        }
        guard response.responseCode == 0 else {
            fail("dns: \(response.responseCodeText) for \(name) from \(endpoint)")
            return
        }
        judge(response.answers)
    }

    private func judge(_ answers: [(type: DNSMessage.RecordType, value: String)]) {
        let values = answers.map(\.value)
        let listed = values.isEmpty ? "no A or PTR records" : values.joined(separator: ", ")
        // ldirectord: `length($recstr) and $rr->address =~ /$recstr/`.
        guard !check.receive.isEmpty else {
            fail("dns: \(name) answered (\(listed)), but receive= is empty and ldirectord's dns check needs one")
            return
        }
        for value in values {
            switch context.patterns.match(check.receive, in: Array(value.utf8)) {
            case .success(.found):
                succeed("dns: \(name) answered \(value), receive /\(check.receive)/ found")
                return
            case .success(.notFound):
                continue
            case .success(.gaveUp(let why)):
                fail("dns: receive /\(check.receive)/ could not be matched: \(why)")
                return
            case .failure(let error):
                fail("dns: \(error.description)")
                return
            }
        }
        fail("dns: receive /\(check.receive)/ not found in the answer for \(name) (\(listed))")
    }
}
