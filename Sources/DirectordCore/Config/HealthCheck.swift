/// Everything needed to check one real server of one virtual service.
///
/// Built by ``VirtualService/healthCheck(for:)`` from resolved values only; checkers never look
/// at the configuration.
///
/// A check is a value of two dozen fields, and it is held in many places at once: the schedule's
/// entries, the list of scheduled checks a reload builds, the loop's plan, each check in flight.
/// Its fields live in one shared, immutable box, so every copy is a reference (at 10,000 real
/// servers the inline copies were about 12 MB of the daemon's peak); setting a field makes a
/// new box, which only building a check does.
public struct HealthCheck: Hashable, Sendable, Codable {
    private var storage: Storage

    public init(
        type: CheckType,
        service: ServiceType,
        protocol: ServiceProtocol,
        address: IPAddress,
        port: UInt16?,
        request: String,
        receive: String,
        url: String,
        virtualHost: String?,
        httpMethod: HTTPMethod,
        checkTimeout: Duration,
        negotiateTimeout: Duration,
        checkCount: Int,
        login: String,
        password: String,
        database: String,
        secret: String,
        checkCommand: String,
        externalArguments: [String],
        caFile: String?,
        sniName: String?,
        acceptedStatus: HTTPStatusSet = .success,
        headers: [String] = [],
        agent: Bool = false,
        forwardingPath: ForwardingPath? = nil
    ) {
        self.storage = Storage(
            Fields(
                type: type,
                service: service,
                protocol: `protocol`,
                address: address,
                port: port,
                request: request,
                receive: receive,
                url: url,
                virtualHost: virtualHost,
                httpMethod: httpMethod,
                checkTimeout: checkTimeout,
                negotiateTimeout: negotiateTimeout,
                checkCount: checkCount,
                login: login,
                password: password,
                database: database,
                secret: secret,
                checkCommand: checkCommand,
                externalArguments: externalArguments,
                caFile: caFile,
                sniName: sniName,
                acceptedStatus: acceptedStatus,
                headers: headers,
                agent: agent,
                forwardingPath: forwardingPath))
    }

    public var type: CheckType {
        get { storage.fields.type }
        set { update { $0.type = newValue } }
    }

    public var service: ServiceType {
        get { storage.fields.service }
        set { update { $0.service = newValue } }
    }

    /// The protocol of the virtual service: a connect check on a UDP service pings.
    public var `protocol`: ServiceProtocol {
        get { storage.fields.`protocol` }
        set { update { $0.`protocol` = newValue } }
    }

    public var address: IPAddress {
        get { storage.fields.address }
        set { update { $0.address = newValue } }
    }

    public var port: UInt16? {
        get { storage.fields.port }
        set { update { $0.port = newValue } }
    }

    public var request: String {
        get { storage.fields.request }
        set { update { $0.request = newValue } }
    }

    public var receive: String {
        get { storage.fields.receive }
        set { update { $0.receive = newValue } }
    }

    public var url: String {
        get { storage.fields.url }
        set { update { $0.url = newValue } }
    }

    public var virtualHost: String? {
        get { storage.fields.virtualHost }
        set { update { $0.virtualHost = newValue } }
    }

    public var httpMethod: HTTPMethod {
        get { storage.fields.httpMethod }
        set { update { $0.httpMethod = newValue } }
    }

    /// How long a connect, ping or external check may take (checktimeout, at least a second:
    /// the parser guarantees it, so no checker clamps it again).
    public var checkTimeout: Duration {
        get { storage.fields.checkTimeout }
        set { update { $0.checkTimeout = newValue } }
    }

    /// How long a negotiate check may take (negotiatetimeout, at least a second).
    public var negotiateTimeout: Duration {
        get { storage.fields.negotiateTimeout }
        set { update { $0.negotiateTimeout = newValue } }
    }

    /// Ping attempts.
    public var checkCount: Int {
        get { storage.fields.checkCount }
        set { update { $0.checkCount = newValue } }
    }

    public var login: String {
        get { storage.fields.login }
        set { update { $0.login = newValue } }
    }

    public var password: String {
        get { storage.fields.password }
        set { update { $0.password = newValue } }
    }

    public var database: String {
        get { storage.fields.database }
        set { update { $0.database = newValue } }
    }

    public var secret: String {
        get { storage.fields.secret }
        set { update { $0.secret = newValue } }
    }

    public var checkCommand: String {
        get { storage.fields.checkCommand }
        set { update { $0.checkCommand = newValue } }
    }

    /// ldirectord's arguments to an external check: virtual server (or mark), virtual port,
    /// real server, real port as written (0 when none was).
    public var externalArguments: [String] {
        get { storage.fields.externalArguments }
        set { update { $0.externalArguments = newValue } }
    }

    public var caFile: String? {
        get { storage.fields.caFile }
        set { update { $0.caFile = newValue } }
    }

    public var sniName: String? {
        get { storage.fields.sniName }
        set { update { $0.sniName = newValue } }
    }

    /// The statuses that pass (`httpstatus`, 2xx when not written).
    public var acceptedStatus: HTTPStatusSet {
        get { storage.fields.acceptedStatus }
        set { update { $0.acceptedStatus = newValue } }
    }

    /// `httpheader` lines, sent as written after the check's own.
    public var headers: [String] {
        get { storage.fields.headers }
        set { update { $0.headers = newValue } }
    }

    /// A query of the real server's HAProxy agent (`agentport`), not a health check: its
    /// answer is a weight share or a state, within `checkTimeout`.
    public var agent: Bool {
        get { storage.fields.agent }
        set { update { $0.agent = newValue } }
    }

    /// `checkpath=forwarding`: connect to this virtual address, through the private service of
    /// this firewall mark, instead of to ``address``; nil: directly.
    public var forwardingPath: ForwardingPath? {
        get { storage.fields.forwardingPath }
        set { update { $0.forwardingPath = newValue } }
    }

    /// A new box with one change: the box is shared by every copy, so it is never changed.
    private mutating func update(_ change: (inout Fields) -> Void) {
        var fields = storage.fields
        change(&fields)
        self.storage = Storage(fields)
    }

    public static func == (lhs: HealthCheck, rhs: HealthCheck) -> Bool {
        lhs.storage === rhs.storage || lhs.storage.fields == rhs.storage.fields
    }

    /// Hashes what tells checks apart cheaply (where, how, what kind); equality still
    /// compares every field. Checks are keys of the schedule's tables, and a reload of 10,000
    /// real servers hashed every request, receive and URL string of every check twice: a
    /// quarter of its time. Two checks of the same real server that differ in a string only
    /// share a hash and are told apart by `==`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(address)
        hasher.combine(port)
        hasher.combine(type)
        hasher.combine(agent)
        hasher.combine(forwardingPath?.mark)
    }

    public init(from decoder: any Decoder) throws {
        self.storage = Storage(try Fields(from: decoder))
    }

    public func encode(to encoder: any Encoder) throws {
        try storage.fields.encode(to: encoder)
    }

    /// The stored fields of a check, as ``HealthCheck`` shows them.
    private struct Fields: Hashable, Sendable, Codable {
        var type: CheckType
        var service: ServiceType
        var `protocol`: ServiceProtocol
        var address: IPAddress
        var port: UInt16?
        var request: String
        var receive: String
        var url: String
        var virtualHost: String?
        var httpMethod: HTTPMethod
        var checkTimeout: Duration
        var negotiateTimeout: Duration
        var checkCount: Int
        var login: String
        var password: String
        var database: String
        var secret: String
        var checkCommand: String
        var externalArguments: [String]
        var caFile: String?
        var sniName: String?
        var acceptedStatus: HTTPStatusSet
        var headers: [String]
        var agent: Bool
        var forwardingPath: ForwardingPath?
    }

    private final class Storage: Sendable {
        let fields: Fields

        init(_ fields: Fields) {
            self.fields = fields
        }
    }
}
