import ArgumentParser
import DirectordCore
import DirectordIPVS
import FoundationEssentials

/// `directord table`: the kernel's IPVS table, read over netlink, printed as `ipvsadm -Ln`
/// prints it (or as JSON).
struct TableCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "table",
        abstract: "Print the kernel's IPVS table, as ipvsadm -Ln prints it.",
        discussion: """
            The listing is byte for byte that of ipvsadm 1.31 with -n (numeric addresses and ports), \
            in the same order. --json prints the table with every counter instead. Needs root (the \
            kernel refuses IPVS requests without CAP_NET_ADMIN) and the ip_vs module.
            """
    )

    enum Listing: String, EnumerableFlag {
        case plain, stats, rate, thresholds, persistentConn, save, daemon

        static func name(for value: Listing) -> NameSpecification {
            switch value {
            case .persistentConn: .customLong("persistent-conn")
            default: .long
            }
        }

        static func help(for value: Listing) -> ArgumentHelp? {
            switch value {
            case .plain: "Forwarding method, weight and connections of each real server (the default)."
            case .stats: "Connections, packets and bytes (ipvsadm --stats)."
            case .rate: "Rates of the same (ipvsadm --rate)."
            case .thresholds: "Upper and lower connection thresholds (ipvsadm --thresholds)."
            case .persistentConn: "Weight and persistent connections (ipvsadm --persistent-conn)."
            case .save: "The table as ipvsadm-restore rules (ipvsadm -Sn)."
            case .daemon: "The connection-sync daemons (ipvsadm -L --daemon)."
            }
        }
    }

    @Flag(exclusivity: .exclusive)
    var listing: Listing = .plain

    @Flag(help: "Print JSON: the table with every counter, or the sync daemons.")
    var json = false

    @Flag(help: "Counters in full instead of scaled to K, M, G, T (ipvsadm --exact).")
    var exact = false

    @Flag(name: .customLong("nosort"), help: "In the kernel's order (ipvsadm --nosort).")
    var noSort = false

    @Option(name: .customLong("netns"), help: "The IPVS table of this network namespace (a name under /run/netns).")
    var networkNamespace: String?

    func run() throws {
        let client: NetlinkIPVSClient
        do {
            client = try NetlinkIPVSClient(networkNamespace: networkNamespace)
            if listing == .daemon {
                let daemons = try client.syncDaemons()
                if json {
                    print(try encodeJSON(daemons))
                } else {
                    print(daemons.map { $0.ipvsadmLine + "\n" }.joined(), terminator: "")
                }
                return
            }
            let snapshot = try client.snapshot()
            if json {
                print(try encodeJSON(snapshot))
                return
            }
            let style: IPVSListing.Style =
                switch listing {
                case .plain, .daemon: .plain
                case .stats: .stats
                case .rate: .rate
                case .thresholds: .thresholds
                case .persistentConn: .persistentConnections
                case .save: .rules
                }
            print(
                IPVSListing.format(snapshot, options: .init(style: style, exact: exact, sorted: !noSort)),
                terminator: "")
        } catch let error as IPVSError {
            printError("directord: \(error)")
            throw ExitCode(1)
        }
    }
}
