import DirectordCore
import Glibc

/// The control socket's verbs: status, drain, undrain.
extension Director {
    func serveControl(_ request: ControlRequest) async -> ControlReply {
        switch request.verb {
        case .status:
            return ControlReply(ok: true, message: "", report: await currentStatusReport())
        case .events:
            return ControlReply(
                ok: true, message: "following", report: request.sinceStart == true ? await currentStatusReport() : nil)
        case .drain, .undrain:
            guard let real = request.real, !real.isEmpty else {
                return ControlReply(ok: false, message: "name a real server: IP, IP:PORT or a host name")
            }
            let configuration = state.configuration
            let names = await Self.offLoop { MaintenanceDirectory.candidateNames(for: configuration) }
            let refs = state.refs(named: real, in: request.virtual, names: names)
            guard !refs.isEmpty else {
                let scope = request.virtual.map { " in the virtual service \($0)" } ?? ""
                return ControlReply(ok: false, message: "no real server \(real)\(scope) in \(settings.configPath)")
            }
            let events: [DirectorEvent]
            if request.verb == .drain {
                // Without --timeout, the longest draintimeout of the services named.
                let timeout =
                    request.timeout ?? refs.compactMap { state.virtualService($0.service)?.drainTimeout }.max()
                let deadline = timeout.map { Self.wallClockSeconds() + Double($0) }
                events = state.drain(refs, removeWhenIdle: request.removeWhenIdle ?? false, deadline: deadline)
            } else {
                events = state.undrain(refs)
            }
            for event in events { report(event) }
            saveDrains()
            await reconcile(phase: .repair)
            let done = request.verb == .drain ? "drained" : "undrained"
            return ControlReply(ok: true, message: "\(done): " + refs.map { "\($0)" }.joined(separator: ", "))
        }
    }

    /// Drains waiting for their last connection: the kernel's counters decide. Established
    /// connections count (ActiveConn); closed ones the kernel keeps a while for their late
    /// packets (InActConn, two minutes in TIME_WAIT) carry nothing and do not.
    func removeIdleDrains() async {
        guard !state.drainsAwaitingIdle.isEmpty || !state.departuresAwaitingIdle.isEmpty,
            let connections = await activeConnections()
        else { return }
        let now = Self.wallClockSeconds()
        state.removeIdleDrains(connections: connections, now: now)
        state.endIdleDepartures(connections: connections, now: now)
        saveDrains()
    }

    /// ActiveConn of every entry of the kernel's table; nil when it cannot be read.
    func activeConnections() async -> [RealServerRef: UInt32]? {
        guard let snapshot = try? await writer.snapshot() else { return nil }
        var connections: [RealServerRef: UInt32] = [:]
        for service in snapshot.services {
            for destination in service.destinations {
                let ref = RealServerRef(service: service.service.key, destination: destination.destination.key)
                connections[ref] = destination.connections.active
            }
        }
        return connections
    }

    /// At stop, `draintimeout`: the entries of the services the clean-up will delete go to
    /// weight 0, and the stop waits until none has an established connection or their time is
    /// up, looking at the kernel's counters once a second.
    func drainBeforeStop() async {
        guard state.configuration.virtualServices.contains(where: { $0.cleanStop && $0.drainTimeout != nil }) else {
            return
        }
        let plan = state.shutdownDrain()
        let failed = await apply(plan)
        for (index, event) in plan.events.enumerated() where !failed.contains(index) { report(event) }
        state.commit(plan, refused: failed)
        let started = ContinuousClock.now
        while let connections = await activeConnections() {
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            guard state.shutdownDrainWaits(connections: connections, elapsed: seconds) else { break }
            // systemd gives a stop TimeoutStopSec (90 s) unless told it is still working.
            notifier.send("EXTEND_TIMEOUT_USEC=5000000")
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// Seconds since 1970: a drain's deadline means the same after a restart.
    static func wallClockSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
