import Logging
import NIOCore

/// What one pass-through connection did, written as one log line when it ends: client, SNI, pool,
/// server, bytes each way, duration, outcome; and counted in the metrics. Shared by the connection's two splice halves (both on
/// one event loop, so no locks); the line is written once, by whichever side closes last.
final class PassthroughRecord {
    let listener: String
    let client: String
    let started: NIODeadline
    var serverName: String?
    var pool: String?
    var server: String?
    /// Bytes the client sent (to the backend), and the backend sent (to the client).
    var bytesFromClient: Int64 = 0
    var bytesFromBackend: Int64 = 0
    /// `ok`, `closed: <reason>`, `no_server`, `connect_failed`, `error: ...`, `hello_timeout`,
    /// `idle_timeout`; the first one set stands.
    private(set) var outcome: String?
    private var written = false
    private let logger: Logger
    private let metrics: GatehouseMetrics?

    init(listener: String, client: String, logger: Logger, metrics: GatehouseMetrics? = nil, now: NIODeadline = .now()) {
        self.listener = listener
        self.client = client
        self.logger = logger
        self.metrics = metrics
        self.started = now
    }

    /// Records why the connection ends (the first reason wins: a later close is its consequence).
    func end(_ outcome: String) {
        if self.outcome == nil { self.outcome = outcome }
    }

    /// Writes the line, once.
    func write(now: NIODeadline = .now()) {
        guard !written else { return }
        written = true
        metrics?.recordPassthrough(
            listener: listener, pool: pool, outcome: outcome, fromClient: bytesFromClient, fromBackend: bytesFromBackend)
        let milliseconds = (now - started).nanoseconds / 1_000_000
        logger.info(
            "passthrough",
            metadata: [
                "listener": "\(listener)", "client": "\(client)", "sni": "\(serverName ?? "-")",
                "pool": "\(pool ?? "-")", "server": "\(server ?? "-")",
                "bytes_from_client": "\(bytesFromClient)", "bytes_from_backend": "\(bytesFromBackend)",
                "duration_ms": "\(milliseconds)", "outcome": "\(outcome ?? "ok")"
            ])
    }
}
