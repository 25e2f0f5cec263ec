// swift-tools-version:6.2
import Foundation
import PackageDescription

// The benchmarks, apart from the product (as swift-nio keeps its Benchmarks/): directord's
// package is found one directory up, whatever the clone's directory is called.
let directord = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()

let package = Package(
    name: "directord-benchmarks",
    products: [
        .executable(name: "directord-bench", targets: ["directord-bench"])
    ],
    dependencies: [
        .package(path: directord.path),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
    ],
    targets: [
        .executableTarget(
            name: "directord-bench",
            dependencies: [
                .product(name: "DirectordModules", package: directord.lastPathComponent.lowercased()),
                .product(name: "DirectordTestSupport", package: directord.lastPathComponent.lowercased()),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The pure parts of directord-bench (its report, percentiles, generated
        // configurations), not the benchmarks themselves, which run in the lab.
        .testTarget(
            name: "BenchTests",
            dependencies: [
                "directord-bench",
                .product(name: "DirectordModules", package: directord.lastPathComponent.lowercased()),
                .product(name: "DirectordTestSupport", package: directord.lastPathComponent.lowercased()),
            ]),
    ]
)

// Under CI (CI=true, as .ci/run runs) every warning of ours is an error; a developer's build
// only warns. Read here, not passed as -Xswiftc, so that every `swift build` of the run (the lab's
// scripts, the benchmark package) builds with the same settings and nothing is rebuilt.
let warningsAreErrors = Context.environment["CI"] == "true"

for target in package.targets {
    var settings = target.swiftSettings ?? []
    if warningsAreErrors { settings.append(.treatAllWarnings(as: .error)) }
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    settings.append(.enableUpcomingFeature("InternalImportsByDefault"))
    target.swiftSettings = settings
}
