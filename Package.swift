// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "directord",
    products: [
        .executable(name: "directord", targets: ["directord"]),
        // For the benchmarks' own package (Benchmarks/), not for other software: directord's
        // modules have no stable API.
        .library(
            name: "DirectordModules",
            targets: ["DirectordCore", "DirectordSystem", "DirectordChecks", "DirectordIPVS", "CSystemShims"]),
        .library(name: "DirectordTestSupport", targets: ["DirectordTestSupport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        // The logging seam: checks and netlink log debug lines through swift-log's API; the
        // daemon's handler writes them with ldirectord's framing wherever its log goes.
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        // `metrics=`: the registry and the Prometheus text format of /metrics (it brings
        // swift-metrics' CoreMetrics and swift-atomics; nothing else).
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
    ],
    targets: [
        // MARK: C libraries from Debian, located with pkg-config
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CMariaDB", pkgConfig: "libmariadb", providers: [.apt(["libmariadb-dev"])]),
        .systemLibrary(name: "CNetlink", pkgConfig: "libnl-genl-3.0", providers: [.apt(["libnl-genl-3-dev"])]),
        // Perl-compatible receive= regexes, matched on bytes with a bounded backtracking budget.
        .systemLibrary(name: "CPCRE2", pkgConfig: "libpcre2-8", providers: [.apt(["libpcre2-dev"])]),
        // PostgreSQL's client library, for pgsql checks (its non-blocking API).
        .systemLibrary(name: "CPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        // Only what Swift cannot import: curl's variadic setopt/getinfo.
        .target(name: "CCurlShims", dependencies: ["CCurl"]),
        // The Linux that Glibc's module leaves out: epoll, pidfd, wait-status macros, pipe2,
        // closefrom for spawns, the child subreaper, environ.
        .target(name: "CSystemShims"),
        // GNU extensions Swift's Glibc module does not import (setns, recvmmsg).
        .target(name: "CIPVSShims"),

        // MARK: Pure core: the config language, health, tables. No C, no I/O.
        .target(name: "DirectordCore"),

        // MARK: Edges
        // The operating system, once: errors and EINTR, the one process spawner and its
        // children, files, name resolution. Kept out of the core so the core stays pure.
        .target(name: "DirectordSystem", dependencies: ["DirectordCore", "CSystemShims"]),
        // The health checkers: every check concurrent on one Dispatch-driven event loop.
        .target(
            name: "DirectordChecks",
            dependencies: [
                "DirectordCore", "DirectordSystem", "CCurl", "CMariaDB", "CPQ", "CPCRE2", "CCurlShims", "CSystemShims",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The kernel's IPVS table over generic netlink (libnl-genl-3).
        .target(
            name: "DirectordIPVS",
            dependencies: [
                "DirectordCore", "DirectordSystem", "CNetlink", "CIPVSShims",
                .product(name: "Logging", package: "swift-log"),
            ]),

        // MARK: Wiring: the daemon
        .target(
            name: "DirectordDaemon",
            dependencies: [
                "DirectordCore", "DirectordSystem", "DirectordChecks", "DirectordIPVS",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),

        // MARK: Executables
        .executableTarget(
            name: "directord",
            dependencies: [
                "DirectordCore", "DirectordSystem", "DirectordIPVS", "DirectordDaemon",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // MARK: Test support: for tests, the fuzzers and the benchmarks, never the product
        // Servers/test_servers.py: the one set of fake servers every test suite starts.
        .target(name: "DirectordTestSupport", dependencies: ["DirectordCore"], resources: [.copy("Servers")]),

        // MARK: Tests
        .testTarget(
            name: "DirectordCoreTests", dependencies: ["DirectordCore", "DirectordTestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(name: "DirectordSystemTests", dependencies: ["DirectordCore", "DirectordSystem"]),
        .testTarget(
            name: "CompatibilityTests", dependencies: ["DirectordCore", "DirectordSystem"],
            resources: [.copy("Resources")]),
        .testTarget(
            name: "DirectordDaemonTests",
            dependencies: [
                "DirectordDaemon", "DirectordCore", "DirectordChecks", "DirectordSystem", "DirectordTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "SystemLibraryTests", dependencies: ["CCurl", "CMariaDB", "CNetlink"]),
        .testTarget(
            name: "DirectordChecksTests",
            dependencies: ["DirectordChecks", "DirectordCore", "DirectordSystem", "DirectordTestSupport"]),
        // Runs the built directord executable.
        .testTarget(name: "CommandLineTests", dependencies: ["DirectordCore", "DirectordTestSupport"]),
        // Golden netlink bytes on the host; kernel tests that run only inside lab/run.
        .testTarget(
            name: "DirectordIPVSTests",
            dependencies: [
                "DirectordCore", "DirectordIPVS", "CNetlink", .product(name: "Logging", package: "swift-log"),
            ]),
    ]
)

// Under CI (CI=true, as .ci/run runs) every warning of ours is an error; a developer's build
// only warns. Read here, not passed as -Xswiftc, so that every `swift build` of the run (the lab's
// scripts, the benchmark package) builds with the same settings and nothing is rebuilt.
let warningsAreErrors = Context.environment["CI"] == "true"

for target in package.targets where [.regular, .executable, .test].contains(target.type) {
    var settings = target.swiftSettings ?? []
    if warningsAreErrors { settings.append(.treatAllWarnings(as: .error)) }
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    settings.append(.enableUpcomingFeature("InternalImportsByDefault"))
    target.swiftSettings = settings
}
