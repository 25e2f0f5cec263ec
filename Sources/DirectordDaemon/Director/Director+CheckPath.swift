import DirectordCore
import DirectordSystem

/// `checkpath=forwarding`: what the OS needs for checks through the forwarding path.
extension Director {
    /// Lets the interfaces toward the real servers checked through the forwarding path accept
    /// answers from the virtual addresses (this director's own), once per start and reload.
    func prepareCheckPaths() async {
        let addresses = Set(state.checkPaths.keys.map(\.destination.address)).sorted { "\($0)" < "\($1)" }
        guard !addresses.isEmpty, !settings.dryRun else { return }
        let log = self.log
        await Self.offLoop {
            for address in addresses {
                switch AcceptLocal.enable(toward: address) {
                case .success(let interface?):
                    log.log(
                        "checkpath=forwarding: net.ipv4.conf.\(interface).accept_local set to 1: answers through the forwarding path come from the virtual address, this director's own"
                    )
                case .success(nil):
                    break
                case .failure(let error):
                    log.log(
                        "checkpath=forwarding: the answers to checks of \(address) may be dropped: \(error)",
                        priority: .warning)
                }
            }
        }
    }
}
