import DirectordChecks
import DirectordCore
import DirectordSystem
import Dispatch

/// `metrics=`: the server of `/metrics`, started, moved or stopped as the file says, and the
/// scrape, which reads the kernel's table once.
extension Director {
    /// Follows the file's `metrics=` after a start or a reload. A port that cannot be had is
    /// an error line, not a stop: the table matters more than the dashboard; the next reload
    /// tries again.
    func configureMetrics() {
        let wanted = state.configuration.globals.metrics
        guard wanted != metricsServer?.address else { return }
        metricsServer?.close()
        metricsServer = nil
        guard let wanted else {
            log.log("Metrics: no longer served")
            return
        }
        if metrics == nil { metrics = DirectorMetrics(version: Version.current) }
        do {
            // Scrapes are served off the loop; each asks the director for its figures.
            metricsServer = try MetricsServer(address: wanted, queue: DispatchQueue(label: "directord.metrics")) {
                [weak self] in
                guard let self else { return .unavailable("directord is stopping") }
                return await self.scrape()
            }
            log.log("Metrics: serving http://\(wanted)/metrics")
        } catch {
            log.log("Metrics: cannot serve on \(wanted): \(error); a reload tries again", priority: .error)
        }
    }

    /// One read of the kernel's table (with its counters) into the registry, and its text.
    func scrapeMetrics() async -> MetricsServer.Response {
        guard let metrics else { return .unavailable("metrics are off") }
        do {
            let snapshot = try await writer.snapshot()
            let wanted = state.configuration.globals.connectionSync.daemons.map(\.role)
            metrics.syncDaemons(wanted: wanted, running: wanted.isEmpty ? [] : try await writer.syncDaemons())
            return .metrics(metrics.scrape(state.metricsView(kernel: snapshot)))
        } catch {
            return .unavailable("cannot read the IPVS table: \(error)")
        }
    }
}
