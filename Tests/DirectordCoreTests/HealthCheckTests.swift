import DirectordCore
import FoundationEssentials
import Testing

/// A check is a value whose fields live in one shared box: copies must still behave as
/// independent values, compare by every field and encode as they did inline.
@Suite("Health checks as values")
struct HealthCheckTests {
    static func check() throws -> HealthCheck {
        let service = try virtualService(
            "virtual=192.168.1.10:80", "real=10.0.0.1:8080 masq", "checktype=negotiate", "service=http",
            "request=\"health\"", "receive=\"OK\"", "agentport=5555")
        let real = try #require(service.realServers.first)
        return service.healthCheck(for: real)
    }

    @Test("setting a field of a copy leaves the original as it was")
    func copiesAreValues() throws {
        let original = try Self.check()
        #expect(original.request == "/health" && original.port == 8080)
        var copy = original
        #expect(copy == original)
        copy.request = "other"
        copy.port = 9090
        #expect(original.request == "/health" && original.port == 8080)
        #expect(copy.request == "other" && copy.port == 9090)
        #expect(copy != original)
    }

    @Test("equality compares every field; the hash only where, what kind and how")
    func equalityAndHash() throws {
        let base = try Self.check()
        var other = base
        other.receive = "READY"
        #expect(other != base)
        #expect(other.hashValue == base.hashValue)
        var elsewhere = base
        elsewhere.address = IPAddress("10.0.0.2", family: .ipv4)!
        #expect(elsewhere != base)
        // Equal fields in two boxes are equal checks, and one key in a set.
        let rebuilt = try Self.check()
        #expect(rebuilt == base)
        #expect(Set([base, rebuilt, other]).count == 2)
    }

    @Test("a check encodes its fields at the top level and decodes to an equal check")
    func codable() throws {
        let check = try Self.check()
        let data = try JSONEncoder().encode(check)
        struct TopLevel: Decodable {
            var url: String
            var request: String
        }
        let fields = try JSONDecoder().decode(TopLevel.self, from: data)
        #expect(fields.url == "http://10.0.0.1:8080/health" && fields.request == "/health")
        #expect(try JSONDecoder().decode(HealthCheck.self, from: data) == check)
    }

    @Test("an agent's query keeps only what it uses")
    func agentQuery() throws {
        let service = try virtualService(
            "virtual=192.168.1.10:80", "real=10.0.0.1:8080 masq", "checktype=negotiate", "service=http",
            "request=\"health\"", "receive=\"OK\"", "agentport=5555", "checktimeout=3", "negotiatetimeout=20")
        let real = try #require(service.realServers.first)
        let agent = try #require(service.agentCheck(for: real))
        #expect(agent.agent && agent.type == .connect && agent.service == .none && agent.protocol == .tcp)
        #expect(agent.port == 5555 && agent.url == "tcp://10.0.0.1:5555")
        #expect(agent.checkTimeout == .seconds(3) && agent.negotiateTimeout == .seconds(3))
        #expect(agent.request.isEmpty && agent.receive.isEmpty && agent.headers.isEmpty && agent.checkCount == 1)
    }
}
