import Foundation
import GatehouseHTTP2
import Testing

/// Not a test: keeps the plaintext test server up for a load generator, when asked to.
///
///     swift build -c release --build-tests -Xswiftc -enable-testing
///     GATEHOUSE_H2_BENCH_SECONDS=120 swift test -c release -Xswiftc -enable-testing --skip-build \
///         --filter BenchmarkServer &
///     h2load -n 100000 -c 64 -m 10 http://127.0.0.1:$(cat /tmp/gatehouse-h2-bench.port)/bytes?n=1024
@Suite("HTTP2 benchmark server")
struct BenchmarkServer {
    @Test(
        "serve for GATEHOUSE_H2_BENCH_SECONDS, port in /tmp/gatehouse-h2-bench.port",
        .enabled(if: ProcessInfo.processInfo.environment["GATEHOUSE_H2_BENCH_SECONDS"] != nil))
    func serve() async throws {
        let seconds = Int(ProcessInfo.processInfo.environment["GATEHOUSE_H2_BENCH_SECONDS"] ?? "") ?? 60
        let server = try await TestServer.start()
        try String(server.port).write(toFile: "/tmp/gatehouse-h2-bench.port", atomically: true, encoding: .utf8)
        try await Task.sleep(for: .seconds(seconds))
        try await server.stop()
    }
}
