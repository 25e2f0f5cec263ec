import DirectordChecks
import DirectordCore
import DirectordSystem
import DirectordTestSupport
import Dispatch
import Foundation
import Glibc
import Testing

@testable import DirectordDaemon

/// `metrics=`: the registry's text (checked by Prometheus's own promtool when it is
/// installed, as the test command installs it), and the director serving it over HTTP.
@Suite("Metrics", .serialized)
struct MetricsTests {
    static let vip = ServiceKey.inet(.tcp, IPAddress("10.0.0.10")!, port: 80)

    static func view(bytes: UInt64, active: UInt32 = 2) -> MetricsView {
        let labels = MetricsView.Labels(
            service: vip, destination: IPVSDestination.Key(address: IPAddress("127.0.0.1")!, port: 8080))
        return MetricsView(
            realServers: [.init(labels: labels, up: true, drained: false, kernelWeight: 3)],
            services: [.init(labels: MetricsView.Labels(service: vip), fallbackActive: false)],
            destinations: [
                .init(
                    labels: labels, connections: IPVSConnectionCounts(active: active, inactive: 1),
                    statistics: IPVSStatistics(
                        connections: 5, incomingPackets: 50, outgoingPackets: 40, incomingBytes: bytes,
                        outgoingBytes: 2 * bytes))
            ])
    }

    static let destination =
        #"virtual_service="tcp:10.0.0.10:80",local_address="10.0.0.10",local_port="80",proto="TCP",remote_address="127.0.0.1",remote_port="8080""#

    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    /// Gauges are written as floating point (`1.0`), counters as integers: swift-prometheus's
    /// choice, and both are the text format.
    @Test("every series the issue lists, with HELP and TYPE; the kernel's counters follow the kernel's")
    func registry() throws {
        let metrics = DirectorMetrics(version: "9.9.9")
        metrics.configurationLoaded(at: 1_700_000_000)
        metrics.reload(applied: false, at: 1_700_000_100)
        let check = HealthCheckSample.http
        metrics.checkFinished(check, result: .up("HTTP 200", latency: .milliseconds(3)))
        metrics.checkFinished(check, result: .down("HTTP 500", latency: .milliseconds(700)))
        metrics.transition(toUp: false)
        metrics.checksStartedLate(4)
        metrics.tableOperation(
            .addService(IPVSService(key: Self.vip, scheduler: Scheduler(rawValue: "wlc")!)), succeeded: true)
        let text = Self.text(metrics.scrape(Self.view(bytes: 1000)))
        for line in [
            #"directord_build_info{version="9.9.9"} 1.0"#,
            #"directord_config_reloads_total{result="failure"} 1"#,
            #"directord_config_reloads_total{result="success"} 0"#,
            "directord_config_last_reload_success_timestamp_seconds 1700000000.0",
            #"directord_checks_total{check="http",result="success"} 1"#,
            #"directord_checks_total{check="http",result="failure"} 1"#,
            #"directord_check_duration_seconds_bucket{check="http",le="0.005"} 1"#,
            #"directord_check_duration_seconds_bucket{check="http",le="1.0"} 2"#,
            #"directord_check_duration_seconds_count{check="http"} 2"#,
            #"directord_transitions_total{to="down"} 1"#,
            "directord_checks_late_total 4",
            #"directord_table_operations_total{operation="add_service",result="success"} 1"#,
            "directord_real_server_up{\(Self.destination)} 1.0",
            "directord_real_server_drained{\(Self.destination)} 0.0",
            "directord_real_server_weight{\(Self.destination)} 3.0",
            #"directord_fallback_active{virtual_service="tcp:10.0.0.10:80",local_address="10.0.0.10",local_port="80",proto="TCP"} 0.0"#,
            "directord_ipvs_connections_active{\(Self.destination)} 2.0",
            "directord_ipvs_connections_inactive{\(Self.destination)} 1.0",
            "directord_ipvs_connections_total{\(Self.destination)} 5",
            "directord_ipvs_packets_total{\(Self.destination),direction=\"in\"} 50",
            "directord_ipvs_bytes_total{\(Self.destination),direction=\"in\"} 1000",
            "directord_ipvs_bytes_total{\(Self.destination),direction=\"out\"} 2000",
            "# TYPE directord_ipvs_bytes_total counter",
            "# HELP directord_real_server_up 1 when the real server's last check passed (and it is not in maintenance), else 0",
        ] {
            #expect(text.contains("\n" + line + "\n") || text.hasPrefix(line + "\n"), "missing: \(line)\n\(text)")
        }
        // The kernel's counters are copied, not added up; a smaller one is a new entry (a reset).
        #expect(Self.text(metrics.scrape(Self.view(bytes: 1500))).contains("direction=\"in\"} 1500\n"))
        #expect(Self.text(metrics.scrape(Self.view(bytes: 200))).contains("direction=\"in\"} 200\n"))
        // A destination gone from the kernel, and a real server gone from the file: no stale series.
        let empty = Self.text(metrics.scrape(MetricsView(realServers: [], services: [], destinations: [])))
        #expect(!empty.contains("directord_ipvs_bytes_total"))
        #expect(!empty.contains("directord_real_server_up"))
        #expect(empty.contains("directord_checks_total"))
    }

    @Test("promtool check metrics passes on a scrape")
    func promtool() throws {
        let promtool = "/usr/bin/promtool"
        guard FileManager.default.isExecutableFile(atPath: promtool) else {
            // Under CI the test command installs Prometheus: its absence is a failure there.
            #expect(
                ProcessInfo.processInfo.environment["CI"] != "true", "promtool is missing (apt-get install prometheus)")
            return
        }
        let metrics = DirectorMetrics(version: Version.current)
        let check = HealthCheckSample.http
        metrics.checkFinished(check, result: .up("HTTP 200", latency: .milliseconds(3)))
        metrics.reload(applied: true, at: 1_700_000_000)
        let bytes = metrics.scrape(Self.view(bytes: 1000))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: promtool)
        process.arguments = ["check", "metrics"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        input.fileHandleForWriting.write(Data(bytes))
        try input.fileHandleForWriting.close()
        let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "promtool check metrics: \(said)")
    }
}

extension MetricsTests {
    /// A port nothing listens on now (the kernel's pick for port 0, released).
    static func freePort() throws -> UInt16 {
        let fd = try TCPListener.listen(ListenAddress(address: IPAddress("127.0.0.1")!, port: 0)).get()
        defer { close(fd) }
        return try #require(TCPListener.boundPort(fd))
    }

    /// One HTTP exchange with 127.0.0.1:port, off the cooperative pool: the reply's bytes.
    static func exchange(_ port: UInt16, _ request: String) async -> String {
        await withCheckedContinuation { done in
            DispatchQueue.global().async {
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                defer { close(fd) }
                var limit = Duration.seconds(10).timeval
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
                let address = SocketAddress(IPAddress("127.0.0.1")!, port: port)
                guard address.withSockAddr({ connect(fd, $0, $1) }) == 0 else {
                    done.resume(returning: "connect: \(errnoText())")
                    return
                }
                _ = Array(request.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                var answer: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: 65536)
                while true {
                    let count = read(fd, &chunk, chunk.count)
                    guard count > 0 else { break }
                    answer += chunk[0..<count]
                }
                done.resume(returning: String(decoding: answer, as: UTF8.self))
            }
        }
    }

    @Test("the director serves /metrics over HTTP: up follows the checks; other paths and methods are refused")
    func served() async throws {
        let web = try DirectorTests.WebServer()
        let port = try Self.freePort()
        let harness = try DirectorTests.Harness(
            config: DirectorTests.config(web, globals: ["metrics=127.0.0.1:\(port)"]))
        await harness.start()
        let real = IPVSDestination.Key(address: IPAddress("127.0.0.1")!, port: web.port)
        #expect(await harness.waitFor { harness.destinations(DirectorTests.vip).map(\.key) == [real] })
        let series =
            #"directord_real_server_up{virtual_service="tcp:10.0.0.10:80",local_address="10.0.0.10",local_port="80",proto="TCP",remote_address="127.0.0.1",remote_port=""#
            + "\(web.port)\"}"
        var scrape = await Self.exchange(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(scrape.hasPrefix("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"))
        #expect(scrape.contains("\n\(series) 1.0\n"), "\(scrape)")
        #expect(scrape.contains("directord_real_server_weight{"))

        web.stop()
        #expect(await harness.waitFor { harness.destinations(DirectorTests.vip).map(\.key) != [real] })
        scrape = await Self.exchange(port, "GET /metrics?x=1 HTTP/1.0\r\n\r\n")
        #expect(scrape.contains("\n\(series) 0.0\n"), "\(scrape)")
        #expect(scrape.contains("directord_transitions_total{to=\"down\"} 1\n"))
        #expect(scrape.contains("directord_fallback_active{"))

        #expect(await Self.exchange(port, "GET /other HTTP/1.1\r\n\r\n").hasPrefix("HTTP/1.1 404 "))
        #expect(await Self.exchange(port, "POST /metrics HTTP/1.1\r\n\r\n").hasPrefix("HTTP/1.1 405 "))
        #expect(await Self.exchange(port, "\u{1B}[31m nonsense\r\n\r\n").hasPrefix("HTTP/1.1 400 "))
        let head = await Self.exchange(port, "HEAD /metrics HTTP/1.1\r\n\r\n")
        #expect(head.hasPrefix("HTTP/1.1 200 OK") && head.hasSuffix("\r\n\r\n"))
        // A request head larger than the limit is refused, not buffered without end.
        let huge = "GET /metrics HTTP/1.1\r\n" + String(repeating: "X-Filler: y\r\n", count: 2000)
        #expect(await Self.exchange(port, huge).hasPrefix("HTTP/1.1 400 "))

        // A reload without metrics= stops serving.
        try DirectorTests.config(web).write(toFile: harness.configPath, atomically: true, encoding: .utf8)
        await harness.director.reload(trigger: .signal)
        #expect(await Self.exchange(port, "GET /metrics HTTP/1.1\r\n\r\n").hasPrefix("connect:"))
        await harness.stop()
    }
}

/// A health check of the usual kind, for the registry's tests.
enum HealthCheckSample {
    static let http: HealthCheck = {
        let configuration = try! ConfigParser(resolver: StaticNameResolver()).configuration(
            from: "virtual=10.0.0.10:80\n\treal=127.0.0.1:8080 masq\n\tservice=http\n", file: "t"
        ).0
        let virtual = configuration.virtualServices[0]
        return virtual.healthCheck(for: virtual.realServers[0])
    }()
}
