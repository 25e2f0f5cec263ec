import DirectordCore
import DirectordSystem

/// `checktype=connect`: a TCP connection to the real server's check port within `checktimeout`,
/// closed at once (ldirectord's `check_connect`).
final class ConnectCheck: CheckOperation {
    private let connection: StreamConnection
    /// Prefixed to reasons when the connect stands in for a service directord does not speak.
    private let label: String?

    init(context: LoopContext, check: HealthCheck, label: String?) {
        connection = StreamConnection(reactor: context.reactor, check: check, port: check.port ?? 0)
        self.label = label
        super.init(context: context)
    }

    override func begin() {
        connection.onFailure = { [weak self] error in
            guard let self else { return }
            self.fail(self.labelled("connect to \(self.connection.endpoint): \(error.reason)"))
        }
        connection.connect { [weak self] in
            guard let self else { return }
            self.succeed(self.labelled("connected to \(self.connection.endpoint)"))
        }
    }

    override func timedOut() {
        fail(labelled("connect to \(connection.endpoint): no answer within \(timeoutText)"))
    }

    override func releaseResources() {
        connection.close()
    }

    private func labelled(_ text: String) -> String {
        label.map { "\($0): \(text)" } ?? text
    }
}
