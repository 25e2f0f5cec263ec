/// The operations that turn one IPVS table into another.
public enum TableDiff {
    /// The smallest list of operations that turns `observed` into `desired`, in an order the
    /// kernel accepts.
    ///
    /// - A service or destination whose key is in both tables is edited in place when anything
    ///   else about it differs, never deleted and re-added (that would drop its connections).
    /// - A service that goes away is deleted on its own: the kernel deletes its destinations
    ///   with it.
    /// - Order: new services, each followed by its destinations; then for each kept service its
    ///   edit, added destinations, edited destinations and removed destinations; then deleted
    ///   services. A service is always there before its destinations are touched, and a
    ///   service's new destinations are in place before old ones go (make before break), so a
    ///   service never passes through an empty state it does not end in.
    /// - Services go in ``ServiceKey`` order and destinations in address-and-port order, so the
    ///   result is deterministic.
    ///
    /// - Parameters:
    ///   - observed: the table as it is (usually read from the kernel).
    ///   - desired: the table as it should be.
    /// - Returns: operations whose application to `observed` yields a table equal to `desired`.
    public static func diff(from observed: IPVSTable, to desired: IPVSTable) -> [TableOperation] {
        var additions: [TableOperation] = []
        var changes: [TableOperation] = []
        var deletions: [TableOperation] = []

        for entry in desired.entries {
            let key = entry.service.key
            guard let current = observed[key] else {
                additions.append(.addService(entry.service))
                additions += entry.destinations.map { .addDestination($0, service: key) }
                continue
            }
            if current.service != entry.service {
                changes.append(.editService(entry.service))
            }
            var edits: [TableOperation] = []
            for destination in entry.destinations {
                if let existing = current[destination: destination.key] {
                    if existing != destination { edits.append(.editDestination(destination, service: key)) }
                } else {
                    changes.append(.addDestination(destination, service: key))
                }
            }
            changes += edits
            for destination in current.destinations where entry[destination: destination.key] == nil {
                changes.append(.deleteDestination(destination, service: key))
            }
        }
        for entry in observed.entries where desired[entry.service.key] == nil {
            deletions.append(.deleteService(entry.service))
        }
        return additions + changes + deletions
    }
}

extension IPVSTable {
    /// The table after these operations, applied with the kernel's structural rules: adding
    /// what exists, or touching what does not, throws (``IPVSError/serviceExists(_:)`` and the
    /// like). Attribute checks the kernel also makes (scheduler names, weights, thresholds) are
    /// ``InMemoryIPVSTable``'s business.
    ///
    /// - Throws: the first operation's error, as ``IPVSError``.
    public func applying(_ operations: [TableOperation]) throws(IPVSError) -> IPVSTable {
        var table = self
        for operation in operations {
            try table.apply(operation)
        }
        return table
    }

    /// Applies one operation with the kernel's structural rules (see ``applying(_:)``).
    public mutating func apply(_ operation: TableOperation) throws(IPVSError) {
        switch operation {
        case .addService(let service):
            guard self[service.key] == nil else { throw .serviceExists(service.key) }
            upsert(service)
        case .editService(let service):
            guard self[service.key] != nil else { throw .serviceNotFound(service.key) }
            upsert(service)
        case .deleteService(let service):
            guard removeService(service.key) != nil else { throw .serviceNotFound(service.key) }
        case .addDestination(let destination, let key):
            guard let entry = self[key] else { throw .serviceNotFound(key) }
            guard entry[destination: destination.key] == nil else {
                throw .destinationExists(destination.key, service: key)
            }
            upsert(destination, in: key)
        case .editDestination(let destination, let key):
            guard let entry = self[key] else { throw .serviceNotFound(key) }
            guard entry[destination: destination.key] != nil else {
                throw .destinationNotFound(destination.key, service: key)
            }
            upsert(destination, in: key)
        case .deleteDestination(let destination, let key):
            guard self[key] != nil else { throw .serviceNotFound(key) }
            guard removeDestination(destination.key, from: key) != nil else {
                throw .destinationNotFound(destination.key, service: key)
            }
        }
    }
}
