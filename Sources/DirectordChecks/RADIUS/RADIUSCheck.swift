import DirectordCore
import DirectordSystem

/// `service=radius` negotiate checks (ldirectord's `check_radius`, Authen::Radius's
/// `check_pwd`): an Access-Request for `login`/`passwd` with the shared `secret`, up on
/// Access-Accept. Always UDP, as RADIUS is; the request is sent again every second until an
/// answer or `checktimeout` (ldirectord's alarm around the whole exchange).
///
/// The reply's Response Authenticator is verified, so a reply from a server with another
/// secret is down and says so. ldirectord died on an unreachable RADIUS server; here that is
/// a down result like any other.
final class RADIUSCheck: CheckOperation {
    private let check: HealthCheck
    private let connection: StreamConnection
    private let id = UInt8.random(in: 0...255)
    private let authenticator = (0..<16).map { _ in UInt8.random(in: 0...255) }
    private var packet: [UInt8] = []
    private var resend: TimerID?

    init(context: LoopContext, check: HealthCheck) {
        self.check = check
        connection = StreamConnection(
            reactor: context.reactor, address: check.address, port: check.port ?? 1812, transport: .udp)
        super.init(context: context)
    }

    override func begin() {
        connection.onFailure = { [weak self] error in
            guard let self else { return }
            self.fail("radius: \(self.connection.endpoint): \(error.reason)")
        }
        connection.onData = { [weak self] bytes in
            guard let self else { return }
            self.received(bytes)
        }
        connection.connect { [weak self] in
            guard let self else { return }
            self.packet = RADIUSPacket.accessRequest(
                id: self.id, authenticator: self.authenticator, user: self.check.login,
                password: self.check.password, secret: self.check.secret,
                nasAddress: self.connection.localAddress?.address)
            self.send()
        }
    }

    override func timedOut() {
        fail("radius: no answer from \(connection.endpoint) within \(timeoutText)")
    }

    override func releaseResources() {
        context.reactor.cancel(resend)
        resend = nil
        connection.close()
    }

    private func send() {
        connection.send(packet)
        resend = context.reactor.schedule(after: .seconds(1)) { [weak self] in
            guard let self else { return }
            self.send()
        }
    }

    private func received(_ bytes: [UInt8]) {
        guard
            let reply = RADIUSPacket.parseReply(bytes, requestAuthenticator: authenticator, secret: check.secret),
            reply.id == id
        else { return }
        let said = reply.message.map { ": \($0)" } ?? ""
        guard reply.isAuthentic else {
            fail(
                "radius: the \(reply.codeName) from \(connection.endpoint) is not signed with secret= (the secrets differ)"
            )
            return
        }
        if reply.code == RADIUSPacket.Code.accessAccept.rawValue {
            succeed("radius: Access-Accept for \(check.login)\(said)")
        } else {
            fail("radius: \(reply.codeName) for \(check.login)\(said)")
        }
    }
}
