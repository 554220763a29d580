// swift-tools-version:5.4
// Gatehouse's libFuzzer targets: a package of its own, so the main build never sees them (they have
// no `main`; libFuzzer supplies it) and their instrumented build lives in its own scratch path.
// Build and run them with `make fuzz` / `make test-fuzz-smoke` (Tests/Fuzz/run.sh); see README.md.
//
// Each fuzzer is one executable target of one file, Sources/<Name>/<Name>.swift, defining
// `LLVMFuzzerTestOneInput`, and one line below; its seed corpus is Corpus/<Name>/.
// Tools version 5.4 on purpose: from 5.5 SwiftPM renames an executable's entry point to
// `<Module>_main` and links `main` to it, which a fuzzer (whose `main` is libFuzzer's) does not have.
// Internal APIs are reached with `@testable import`: the fuzz build is a debug build, which
// SwiftPM compiles with testing enabled.
import PackageDescription

let fuzzers: [(name: String, dependencies: [Target.Dependency])] = [
    ("FuzzHTTP1Decoder", [.gatehouse, .nio("NIOCore"), .nio("NIOEmbedded"), .nio("NIOHTTP1")]),
    ("FuzzTargetDeny", [.gatehouse, .nio("NIOHTTP1")]),
    ("FuzzConfig", [.gatehouse, .product(name: "Yams", package: "Yams")]),
    ("FuzzClientHello", [.gatehouse, .nio("NIOCore"), .nio("NIOEmbedded")]),
    ("FuzzHTTP2Frames", [.gatehouse, .nio("NIOCore"), .nio("NIOEmbedded"), .nio("NIOHTTP1")]),
    ("FuzzNTLM", [.gatehouse, .nio("NIOHTTP1")]),
    ("FuzzProxyProtocol", [.gatehouse])
]

extension Target.Dependency {
    /// Gatehouse's library modules (the root package's `GatehouseFuzzable` product).
    static let gatehouse = Target.Dependency.product(name: "GatehouseFuzzable", package: "Gatehouse")
    static func nio(_ name: String) -> Target.Dependency { .product(name: name, package: "swift-nio") }
}

let package = Package(
    name: "GatehouseFuzz",
    dependencies: [
        .package(name: "Gatehouse", path: "../.."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2")
    ],
    targets: fuzzers.map { fuzzer in
        .executableTarget(
            name: fuzzer.name, dependencies: fuzzer.dependencies,
            // No `main`: libFuzzer's is linked in by -sanitize=fuzzer (run.sh passes it to every module).
            swiftSettings: [.unsafeFlags(["-parse-as-library", "-warnings-as-errors"])])
    }
)
