/// Prints an ``IPVSSnapshot`` exactly as Debian 12's `ipvsadm` 1.31 prints the kernel's table
/// with `-Ln` (numeric), byte for byte, so scripts and eyes that read `ipvsadm` read directord.
///
/// Everything `ipvsadm` does is reproduced, including its quirks: the service column is cut at
/// 33 characters and the destination column at 28 for IPv4 (not for IPv6); large counters
/// are scaled to K/M/G/T unless ``Options/exact``; a firewall mark is printed as a signed
/// `int`; and services and destinations are sorted with `ipvsadm`'s comparison, which
/// subtracts unsigned addresses into a signed `int` (so 192.168.0.1 lists before 10.0.0.1) and
/// is therefore not a total order: the result depends on the sort algorithm and the kernel's
/// order, which is why the snapshot keeps that order and the sort here is glibc's `qsort`
/// (a top-down merge sort).
public enum IPVSListing {
    /// Which of `ipvsadm`'s listings.
    public enum Style: String, Hashable, Sendable, CaseIterable, Codable {
        /// `ipvsadm -Ln`: forwarding, weight and connection counts.
        case plain
        /// `ipvsadm -Ln --stats`: connections, packets and bytes.
        case stats
        /// `ipvsadm -Ln --rate`: rates of the same.
        case rate
        /// `ipvsadm -Ln --thresholds`: upper and lower thresholds.
        case thresholds
        /// `ipvsadm -Ln --persistent-conn`: weight and persistent connections.
        case persistentConnections
        /// `ipvsadm -Sn`: the table as `ipvsadm-restore` rules.
        case rules
    }

    public struct Options: Hashable, Sendable {
        public var style: Style
        /// `--exact`: counters in full instead of scaled to K, M, G, T.
        public var exact: Bool
        /// `--nosort`: the kernel's order.
        public var sorted: Bool

        public init(style: Style = .plain, exact: Bool = false, sorted: Bool = true) {
            self.style = style
            self.exact = exact
            self.sorted = sorted
        }
    }

    /// The whole listing, header included, ending with a newline.
    public static func format(_ snapshot: IPVSSnapshot, options: Options = Options()) -> String {
        var out = ""
        if options.style != .rules {
            out += "IP Virtual Server version \(snapshot.info.versionString) "
            out += "(size=\(Int32(bitPattern: snapshot.info.connectionTableSize)))\n"
        }
        out += title(options.style)
        var services = snapshot.services
        if options.sorted { mergeSort(&services, by: compareServices) }
        for service in services {
            out += serviceLines(service, options: options)
        }
        return out
    }

    /// The column titles `ipvsadm` prints under the version line.
    public static func title(_ style: Style) -> String {
        let local = "Prot LocalAddress:Port"
        let remote = "  -> RemoteAddress:Port\n"
        switch style {
        case .plain:
            return "Prot LocalAddress:Port Scheduler Flags\n"
                + "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
        case .stats:
            return pad(local, 33) + " "
                + ["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"]
                .map { padLeft($0, 8) }.joined(separator: " ") + "\n" + remote
        case .rate:
            return pad(local, 33) + " "
                + ["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"]
                .map { padLeft($0, 8) }.joined(separator: " ") + "\n" + remote
        case .thresholds:
            return pad(local, 33) + " "
                + ["Uthreshold", "Lthreshold", "ActiveConn", "InActConn"]
                .map { pad($0, 10) }.joined(separator: " ") + "\n" + remote
        case .persistentConnections:
            return pad(local, 33) + " " + pad("Weight", 9) + " " + pad("PersistConn", 11) + " "
                + pad("ActiveConn", 10) + " " + pad("InActConn", 10) + "\n" + remote
        case .rules:
            return ""
        }
    }

    // MARK: Lines

    private static func serviceLines(_ entry: IPVSSnapshot.Service, options: Options) -> String {
        let service = entry.service
        let style = options.style
        var out: String
        let name = serviceName(service.key, rules: style == .rules)
        switch style {
        case .rules:
            out = "-A " + serviceRule(service)
        case .stats:
            let s = entry.statistics
            out = pad(name, 33)
            for value in [s.connections, s.incomingPackets, s.outgoingPackets, s.incomingBytes, s.outgoingBytes] {
                out += largeNumber(value, exact: options.exact)
            }
        case .rate:
            let s = entry.statistics
            out = pad(name, 33)
            for value in [
                s.connectionRate, s.incomingPacketRate, s.outgoingPacketRate, s.incomingByteRate,
                s.outgoingByteRate,
            ] {
                out += largeNumber(value, exact: options.exact)
            }
        case .plain, .thresholds, .persistentConnections:
            out = "\(name) \(service.scheduler)"
            let flags = schedulerFlagText(service)
            if !flags.isEmpty { out += " (\(flags))" }
            if let persistence = service.persistence {
                out += " persistent \(persistence.timeout)"
                if persistence.netmask != Persistence.defaultNetmask(for: service.key.family) {
                    out += " mask \(netmaskText(persistence.netmask, family: service.key.family))"
                }
                if let engine = service.persistenceEngine, !engine.isEmpty { out += " pe \(engine)" }
            }
            if service.onePacket { out += " ops" }
        }
        out += "\n"

        var destinations = entry.destinations
        if options.sorted { mergeSort(&destinations, by: compareDestinations) }
        for destination in destinations {
            out += destinationLine(destination, service: service, options: options)
        }
        return out
    }

    private static func destinationLine(
        _ entry: IPVSSnapshot.Destination, service: IPVSService, options: Options
    ) -> String {
        let destination = entry.destination
        var name = "\(destination.address.bracketed):\(destination.port)"
        if options.style != .rules && destination.address.family == .ipv4 { name = String(name.prefix(28)) }
        let counts = entry.connections
        let s = entry.statistics
        switch options.style {
        case .rules:
            var line =
                "-a \(serviceName(service.key, rules: true)) -r \(name) \(forwardingSwitch(destination.forwarding))"
            line += " -w \(destination.weight)"
            if destination.forwarding == .ipip { line += " --tun-type ipip" }
            return line + "\n"
        case .stats:
            var line = "  -> " + pad(name, 28)
            for value in [s.connections, s.incomingPackets, s.outgoingPackets, s.incomingBytes, s.outgoingBytes] {
                line += largeNumber(value, exact: options.exact)
            }
            return line + "\n"
        case .rate:
            var line = "  -> " + pad(name, 28)
            line += " " + padLeft("\(s.connectionRate)", 8) + " " + padLeft("\(s.incomingPacketRate)", 8)
            line += " " + padLeft("\(s.outgoingPacketRate)", 8)
            line += largeNumber(s.incomingByteRate, exact: options.exact)
            line += largeNumber(s.outgoingByteRate, exact: options.exact)
            return line + "\n"
        case .thresholds:
            return "  -> " + pad(name, 28) + " " + pad("\(destination.upperThreshold)", 10) + " "
                + pad("\(destination.lowerThreshold)", 10) + " " + pad("\(counts.active)", 10) + " "
                + pad("\(counts.inactive)", 10) + "\n"
        case .persistentConnections:
            return "  -> " + pad(name, 28) + " " + pad("\(UInt32(bitPattern: destination.weight))", 9) + " "
                + pad("\(counts.persistent)", 11) + " " + pad("\(counts.active)", 10) + " "
                + pad("\(counts.inactive)", 10) + "\n"
        case .plain:
            return "  -> " + pad(name, 28) + " " + pad(forwardingName(destination.forwarding), 7) + " "
                + pad("\(destination.weight)", 6) + " " + pad("\(counts.active)", 10) + " "
                + pad("\(counts.inactive)", 10) + "\n"
        }
    }

    /// `TCP  10.0.0.1:80` (protocol padded to 4, cut at 33 characters for IPv4), `FWM  7`,
    /// `FWM  7 IPv6`; in rules `-t 10.0.0.1:80`, `-f 7 -6`.
    static func serviceName(_ key: ServiceKey, rules: Bool) -> String {
        switch key {
        case .inet(let proto, let address, let port):
            let endpoint = "\(address.bracketed):\(port)"
            if rules {
                let option: String =
                    switch proto {
                    case .tcp: "-t"
                    case .udp: "-u"
                    case .sctp: "--sctp-service"
                    }
                return "\(option) \(endpoint)"
            }
            let name = pad(proto.ipvsadmName, 4) + " " + endpoint
            return address.family == .ipv6 ? name : String(name.prefix(33))
        case .firewallMark(let mark, let family):
            let signed = Int32(bitPattern: mark)
            if rules { return family == .ipv6 ? "-f \(signed) -6" : "-f \(signed)" }
            return family == .ipv6 ? "FWM  \(signed) IPv6" : "FWM  \(signed)"
        }
    }

    static func schedulerFlagText(_ service: IPVSService) -> String {
        service.schedulerFlags.names(for: service.scheduler).joined(separator: ",")
    }

    static func netmaskText(_ netmask: UInt32, family: AddressFamily) -> String {
        family == .ipv4 ? IPAddress.v4(netmask).description : "\(Int32(bitPattern: netmask))"
    }

    /// `ipvsadm`'s `fwd_name`: bypass and the unused values have no name, and glibc prints a
    /// null `%s` as `(null)`.
    private static func forwardingName(_ method: ForwardingMethod) -> String {
        method == .bypass ? "(null)" : method.ipvsadmName
    }

    static func forwardingSwitch(_ method: ForwardingMethod) -> String {
        switch method {
        case .masq: "-m"
        case .ipip: "-i"
        case .gate, .local: "-g"
        case .bypass: "(null)"
        }
    }

    /// `print_largenum`: nine columns, scaled with a K/M/G/T suffix past 99,999,999 unless
    /// exact.
    static func largeNumber(_ value: UInt64, exact: Bool) -> String {
        if exact {
            let digits = "\(value)"
            return padLeft(digits, digits.count <= 8 ? 9 : digits.count + 1)
        }
        switch value {
        case ..<100_000_000: return padLeft("\(value)", 9)
        case ..<1_000_000_000: return padLeft("\(value / 1000)", 8) + "K"
        case ..<100_000_000_000: return padLeft("\(value / 1_000_000)", 8) + "M"
        case ..<100_000_000_000_000: return padLeft("\(value / 1_000_000_000)", 8) + "G"
        default: return padLeft("\(value / 1_000_000_000_000)", 8) + "T"
        }
    }

    // MARK: ipvsadm's order

    /// `ipvs_cmp_services`: mark, family, protocol, address, port, each as a C `int`
    /// difference (unsigned differences wrap into the sign bit).
    static func compareServices(_ a: IPVSSnapshot.Service, _ b: IPVSSnapshot.Service) -> Int32 {
        let left = SortFields(a.service.key)
        let right = SortFields(b.service.key)
        var result = Int32(bitPattern: left.mark &- right.mark)
        if result != 0 { return result }
        result = left.family - right.family
        if result != 0 { return result }
        result = left.protocolNumber - right.protocolNumber
        if result != 0 { return result }
        result = compareAddressWords(left.words, right.words, ipv6: left.family == 10)
        if result != 0 { return result }
        return left.port - right.port
    }

    /// `ipvs_cmp_dests`: address (as the first destination's family), then port.
    static func compareDestinations(_ a: IPVSSnapshot.Destination, _ b: IPVSSnapshot.Destination) -> Int32 {
        let left = a.destination.address
        let right = b.destination.address
        let result = compareAddressWords(addressWords(left), addressWords(right), ipv6: left.family == .ipv6)
        if result != 0 { return result }
        return Int32(a.destination.port) - Int32(b.destination.port)
    }

    private static func compareAddressWords(_ a: [UInt32], _ b: [UInt32], ipv6: Bool) -> Int32 {
        var result: Int32 = 0
        for index in 0..<(ipv6 ? 4 : 1) where result == 0 {
            result = Int32(bitPattern: a[index] &- b[index])
        }
        return result
    }

    /// The address as the four 32-bit words of a C `union nf_inet_addr` (IPv4 in the first).
    private static func addressWords(_ address: IPAddress) -> [UInt32] {
        switch address {
        case .v4(let value): [value, 0, 0, 0]
        case .v6(let high, let low):
            [UInt32(high >> 32), UInt32(truncatingIfNeeded: high), UInt32(low >> 32), UInt32(truncatingIfNeeded: low)]
        }
    }

    /// What `libipvs` fills in for a dumped service: a mark service has protocol 0, address 0
    /// and port 0; an address service has mark 0.
    private struct SortFields {
        var mark: UInt32 = 0
        var family: Int32
        var protocolNumber: Int32 = 0
        var words: [UInt32] = [0, 0, 0, 0]
        var port: Int32 = 0

        init(_ key: ServiceKey) {
            family = key.family == .ipv4 ? 2 : 10
            switch key {
            case .inet(let proto, let address, let port):
                protocolNumber = Int32(proto.ipProtocolNumber)
                words = IPVSListing.addressWords(address)
                self.port = Int32(port)
            case .firewallMark(let mark, _):
                self.mark = mark
            }
        }
    }

    /// glibc 2.36's `qsort` (`msort_with_tmp`): split at n/2, sort both halves, merge taking
    /// from the left while the comparison is <= 0. Reproduced because `ipvsadm`'s comparisons
    /// are not transitive, so another algorithm could order the same entries differently.
    static func mergeSort<Element>(_ elements: inout [Element], by compare: (Element, Element) -> Int32) {
        guard elements.count > 1 else { return }
        var scratch = elements
        mergeSort(&elements, &scratch, 0, elements.count, compare)
    }

    private static func mergeSort<Element>(
        _ elements: inout [Element], _ scratch: inout [Element], _ start: Int, _ count: Int,
        _ compare: (Element, Element) -> Int32
    ) {
        guard count > 1 else { return }
        let leftCount = count / 2
        let rightCount = count - leftCount
        mergeSort(&elements, &scratch, start, leftCount, compare)
        mergeSort(&elements, &scratch, start + leftCount, rightCount, compare)
        var left = start
        var right = start + leftCount
        let leftEnd = right
        let rightEnd = start + count
        var out = start
        while left < leftEnd && right < rightEnd {
            if compare(elements[left], elements[right]) <= 0 {
                scratch[out] = elements[left]
                left += 1
            } else {
                scratch[out] = elements[right]
                right += 1
            }
            out += 1
        }
        while left < leftEnd {
            scratch[out] = elements[left]
            left += 1
            out += 1
        }
        while right < rightEnd {
            scratch[out] = elements[right]
            right += 1
            out += 1
        }
        for index in start..<rightEnd { elements[index] = scratch[index] }
    }

    // MARK: printf

    /// `%-Ns`: left-justified, padded with spaces to N, never cut.
    static func pad(_ text: String, _ width: Int) -> String {
        let count = text.count
        return count >= width ? text : text + String(repeating: " ", count: width - count)
    }

    /// `%Ns`: right-justified.
    static func padLeft(_ text: String, _ width: Int) -> String {
        let count = text.count
        return count >= width ? text : String(repeating: " ", count: width - count) + text
    }
}
