// swift-tools-version:6.0
// Gatehouse: an HTTPS front-end proxy for Exchange-style services.
// The module layout follows ../shared/design/ARCHITECTURE.md: each C library is imported by exactly
// one Swift module (COpenSSL -> GatehouseTLS, CNGHTTP2 -> GatehouseHTTP2, CZlib -> GatehouseCompression,
// CPSL -> GatehouseTLS, CPCRE2 -> GatehouseScreening).
import PackageDescription

/// Gatehouse's own data-path modules, in release builds only: no run-time exclusivity checks
/// (`swift_beginAccess` and its access set cost ~10 % of a proxied request's instructions under
/// callgrind). The trade-off: an exclusivity violation in these modules is then undefined behaviour
/// instead of a trap. Debug builds, and so `swift test` and the end-to-end suite's debug runs, keep
/// the checks; NIO and the other dependencies are compiled as they are.
let releaseDataPath: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))
]

let package = Package(
    name: "Gatehouse",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "gatehouse", targets: ["GatehouseCLI"]),
        .executable(name: "mailbox-sim", targets: ["MailboxSim"]),
        .executable(name: "compression-bench", targets: ["CompressionBench"]),
        .executable(name: "tls-bench-server", targets: ["TLSBenchServer"]),
        .executable(name: "http1-decoder-bench", targets: ["HTTP1DecoderBench"]),
        .executable(name: "screening-bench", targets: ["ScreeningBench"]),
        // For the libFuzzer package in Tests/Fuzz only (a package can use another's modules only
        // through a product); it builds nothing that `swift build` does not build anyway.
        .library(
            name: "GatehouseFuzzable",
            targets: ["Gatehouse", "GatehouseHTTP1", "GatehouseHTTP2", "GatehouseTLS", "GatehouseScreening"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0")
    ],
    targets: [
        // C boundary: module map + shim.h of static inline wrappers for what Swift cannot import.
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CNGHTTP2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CPSL", pkgConfig: "libpsl", providers: [.apt(["libpsl-dev"])]),
        .systemLibrary(name: "CPCRE2", pkgConfig: "libpcre2-8", providers: [.apt(["libpcre2-dev"])]),

        .target(
            name: "GatehouseTLS",
            dependencies: [
                "COpenSSL",
                // The Public Suffix List, for the wildcard rule of host-name matching.
                "CPSL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio")
            ],
            swiftSettings: releaseDataPath),
        .target(
            name: "GatehouseHTTP2",
            dependencies: [
                "CNGHTTP2",
                // HTTP semantics shared with the HTTP/1.1 side (connection-bound authentication,
                // the protocol-neutral stream parts the proxy speaks).
                "GatehouseHTTP1",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio")
            ],
            swiftSettings: releaseDataPath),
        .target(
            name: "GatehouseCompression",
            dependencies: [
                "CZlib",
                .product(name: "NIOCore", package: "swift-nio")
            ]),
        // Screening patterns (rule packs): the only importer of CPCRE2 (PCRE2 with JIT).
        .target(name: "GatehouseScreening", dependencies: ["CPCRE2"]),
        // HTTP/1.1 request decoding that accepts extension methods (RPC_IN_DATA), no C.
        .target(
            name: "GatehouseHTTP1",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio")
            ],
            swiftSettings: releaseDataPath),
        .target(
            name: "Gatehouse",
            dependencies: [
                "GatehouseTLS", "GatehouseHTTP1", "GatehouseHTTP2", "GatehouseCompression", "GatehouseScreening",
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle")
            ],
            swiftSettings: releaseDataPath),
        .executableTarget(
            name: "GatehouseCLI",
            dependencies: [
                "Gatehouse", "GatehouseTLS", "GatehouseHTTP2", "GatehouseCompression",
                .product(name: "Yams", package: "Yams"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log")
            ]),
        // The simulated mailbox server's logic lives in a library so tests can start it in-process.
        .target(
            name: "MailboxSimCore",
            dependencies: [
                "GatehouseTLS", "GatehouseHTTP1",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log")
            ]),
        .executableTarget(
            name: "MailboxSim",
            dependencies: [
                "MailboxSimCore", "GatehouseTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log")
            ]),
        // Benchmark only (loadtest/tls-handshakes.sh): OpenSSLHandler + a minimal HTTP responder.
        .executableTarget(
            name: "TLSBenchServer",
            dependencies: [
                "GatehouseTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio")
            ]),

        .testTarget(
            name: "GatehouseTLSTests",
            dependencies: [
                "GatehouseTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio")
            ]),
        .testTarget(
            name: "GatehouseHTTP2Tests",
            dependencies: [
                "GatehouseHTTP2", "GatehouseHTTP1",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio")
            ]),
        .executableTarget(
            name: "CompressionBench",
            dependencies: [
                "GatehouseCompression",
                .product(name: "NIOCore", package: "swift-nio")
            ]),

        // Benchmark only: HTTP1RequestDecoder against NIO's HTTPRequestDecoder on one request head.
        .executableTarget(
            name: "HTTP1DecoderBench",
            dependencies: [
                "GatehouseHTTP1",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio")
            ]),
        // Benchmark only: ExchangeRouter.decide with and without rule packs (issue #21's cost).
        .executableTarget(
            name: "ScreeningBench",
            dependencies: [
                "Gatehouse",
                .product(name: "NIOHTTP1", package: "swift-nio")
            ]),
        .testTarget(
            name: "GatehouseHTTP1Tests",
            dependencies: [
                "GatehouseHTTP1",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio")
            ]),

        .testTarget(name: "GatehouseScreeningTests", dependencies: ["GatehouseScreening"]),
        .testTarget(
            name: "GatehouseCompressionTests",
            dependencies: [
                "GatehouseCompression",
                .product(name: "NIOCore", package: "swift-nio")
            ]),
        .testTarget(
            name: "GatehouseTests",
            dependencies: [
                "Gatehouse", "GatehouseHTTP1", "GatehouseHTTP2",
                .product(name: "NIOEmbedded", package: "swift-nio")
            ]),
        .testTarget(
            name: "MailboxSimTests",
            dependencies: [
                "MailboxSimCore", "GatehouseTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio")
            ])
    ]
)

// Every Swift module of this package (not the dependencies, not the system-library shims) is built
// with warnings as errors, in every configuration: a new warning fails the build, so `make test`
// (CI) catches it.
for target in package.targets where [.regular, .executable, .test].contains(target.type) {
    target.swiftSettings = (target.swiftSettings ?? []) + [.unsafeFlags(["-warnings-as-errors"])]
}
