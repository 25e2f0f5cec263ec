/// The kernel's IPVS table as a value: virtual services with their destinations.
///
/// Identity and configuration only, no counters, so a table computed from the configuration
/// compares equal (`==`) with the one read from the kernel when they mean the same thing.
/// Order carries no meaning: two tables with the same entries are equal however they were
/// built, and ``services`` and ``destinations(of:)`` list entries in a canonical order
/// (``ServiceKey`` and ``IPVSDestination/Key`` order). ``TableDiff`` computes the operations that
/// turn one table into another.
public struct IPVSTable: Hashable, Sendable {
    /// One virtual service and its destinations.
    public struct Entry: Hashable, Sendable {
        public var service: IPVSService
        fileprivate var destinationsByKey: [IPVSDestination.Key: IPVSDestination]

        public init(service: IPVSService, destinations: [IPVSDestination] = []) {
            self.service = service
            self.destinationsByKey = Dictionary(destinations.map { ($0.key, $0) }, uniquingKeysWith: { $1 })
        }

        /// The destinations in canonical order (address, then port).
        public var destinations: [IPVSDestination] {
            destinationsByKey.values.sorted { $0.key < $1.key }
        }

        public subscript(destination key: IPVSDestination.Key) -> IPVSDestination? {
            destinationsByKey[key]
        }

        public var destinationCount: Int { destinationsByKey.count }
    }

    private var entriesByKey: [ServiceKey: Entry]

    /// An empty table.
    public init() {
        entriesByKey = [:]
    }

    /// A table of these entries; a later entry for the same service key replaces an earlier one.
    public init(_ entries: [Entry]) {
        entriesByKey = Dictionary(entries.map { ($0.service.key, $0) }, uniquingKeysWith: { $1 })
    }

    /// The entries in canonical order.
    public var entries: [Entry] {
        entriesByKey.values.sorted { $0.service.key < $1.service.key }
    }

    /// The services in canonical order.
    public var services: [IPVSService] { entries.map(\.service) }

    public var isEmpty: Bool { entriesByKey.isEmpty }
    public var serviceCount: Int { entriesByKey.count }
    public var destinationCount: Int { entriesByKey.values.reduce(0) { $0 + $1.destinationCount } }

    public subscript(key: ServiceKey) -> Entry? {
        entriesByKey[key]
    }

    /// The destinations of a service in canonical order; empty when there is no such service.
    public func destinations(of key: ServiceKey) -> [IPVSDestination] {
        entriesByKey[key]?.destinations ?? []
    }

    // MARK: Building

    /// Adds the service, or replaces its attributes if present (its destinations stay).
    public mutating func upsert(_ service: IPVSService) {
        if entriesByKey[service.key] != nil {
            entriesByKey[service.key]!.service = service
        } else {
            entriesByKey[service.key] = Entry(service: service)
        }
    }

    /// Removes a service with its destinations; returns what was removed.
    @discardableResult
    public mutating func removeService(_ key: ServiceKey) -> Entry? {
        entriesByKey.removeValue(forKey: key)
    }

    /// Adds or replaces a destination of an existing service; false when the service is missing.
    @discardableResult
    public mutating func upsert(_ destination: IPVSDestination, in service: ServiceKey) -> Bool {
        guard entriesByKey[service] != nil else { return false }
        entriesByKey[service]!.destinationsByKey[destination.key] = destination
        return true
    }

    /// Removes a destination; returns what was removed.
    @discardableResult
    public mutating func removeDestination(_ key: IPVSDestination.Key, from service: ServiceKey) -> IPVSDestination? {
        entriesByKey[service]?.destinationsByKey.removeValue(forKey: key)
    }
}

extension IPVSTable: Codable {
    private enum CodingKeys: String, CodingKey { case services }

    private struct CodedEntry: Codable {
        var service: IPVSService
        var destinations: [IPVSDestination]
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let coded = try container.decode([CodedEntry].self, forKey: .services)
        self.init(coded.map { Entry(service: $0.service, destinations: $0.destinations) })
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(
            entries.map { CodedEntry(service: $0.service, destinations: $0.destinations) }, forKey: .services)
    }
}
