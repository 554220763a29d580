import GatehouseTLS
import NIOCore
import NIOHTTP1

/// What one probe found.
struct ProbeOutcome: Sendable {
    var healthy: Bool
    /// For logs and the admin endpoint: "200 OK", "HTTP 503", "timed out after 1 s", the error.
    var detail: String
    /// The certificate the server presented when the TLS handshake succeeded (whatever the HTTP
    /// outcome), for Extended Protection; nil when no handshake completed.
    var presented: PresentedCertificate? = nil
}

/// One active health probe: `GET <path>` on a new TLS connection to one server, made exactly like
/// a proxied request's connection (the pool's `TLSClientContext`, SNI and name check). Healthy only
/// on status 200 with a body that starts with `200 OK`. Confined to one event loop.
final class HealthProbe: BackendConnectionDelegate {
    /// How many body bytes are kept to check the `200 OK` prefix.
    private static let prefix = Array("200 OK".utf8)

    private let promise: EventLoopPromise<ProbeOutcome>
    private var connection: BackendConnection?
    private var status: UInt = 0
    private var body: [UInt8] = []
    private var finished = false
    private var presented: PresentedCertificate?

    private init(promise: EventLoopPromise<ProbeOutcome>) {
        self.promise = promise
    }

    /// Probes `path` on `server`; must be called on `eventLoop`. Never fails: every problem is an
    /// unhealthy outcome.
    static func run(
        pool: BackendPool, server: BackendServer, path: String, timeout: TimeAmount,
        on eventLoop: EventLoop
    ) -> EventLoopFuture<ProbeOutcome> {
        let probe = HealthProbe(promise: eventLoop.makePromise(of: ProbeOutcome.self))
        let timer = eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            probe.finish(ProbeOutcome(healthy: false, detail: "timed out after \(timeout.nanoseconds / 1_000_000) ms"))
        }
        BackendConnection.connect(to: server, pool: pool, on: eventLoop).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let connection):
                guard !probe.finished else {
                    connection.close()
                    return
                }
                // Once per handshake: the peer certificate's channel-binding hash and thumbprint.
                let info = try? connection.channel.pipeline.syncOperations.handler(type: OpenSSLHandler.self).connectionInfo
                probe.presented = info?.peerCertificate.map(PresentedCertificate.init)
                probe.send(path: path, server: server, on: connection)
            case .failure(let error):
                probe.finish(ProbeOutcome(healthy: false, detail: "\(error)"))
            }
        }
        return probe.promise.futureResult.assumeIsolated().map { result in
            timer.cancel()
            var outcome = result
            outcome.presented = probe.presented
            // The delegate reference is weak: this closure keeps the probe alive until it is done.
            probe.connection?.close()
            probe.connection = nil
            return outcome
        }.nonisolated()
    }

    private func send(path: String, server: BackendServer, on connection: BackendConnection) {
        self.connection = connection
        connection.delegate = self
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
        head.headers.add(name: "Host", value: server.tlsName)
        head.headers.add(name: "User-Agent", value: "Gatehouse-HealthCheck/1")
        head.headers.add(name: "Connection", value: "close")
        connection.write(.head(head))
        connection.write(.end(nil))
        connection.flush()
    }

    private func finish(_ outcome: ProbeOutcome) {
        guard !finished else { return }
        finished = true
        promise.succeed(outcome)
    }

    func backendDidReceive(_ part: HTTPClientResponsePart, on connection: BackendConnection) {
        switch part {
        case .head(let head):
            if head.status.code >= 200 { status = head.status.code }
        case .body(let buffer):
            let wanted = HealthProbe.prefix.count - body.count
            if wanted > 0, let bytes = buffer.getBytes(at: buffer.readerIndex, length: min(wanted, buffer.readableBytes)) {
                body.append(contentsOf: bytes)
            }
        case .end:
            if status == 200 && body == HealthProbe.prefix {
                finish(ProbeOutcome(healthy: true, detail: "200 OK"))
            } else if status == 200 {
                finish(ProbeOutcome(healthy: false, detail: "HTTP 200 without a '200 OK' body"))
            } else {
                finish(ProbeOutcome(healthy: false, detail: "HTTP \(status)"))
            }
        }
    }

    func backendReadComplete(on connection: BackendConnection) {}
    func backendWritabilityChanged(on connection: BackendConnection) {}

    func backendDidFail(_ error: Error, on connection: BackendConnection) {
        finish(ProbeOutcome(healthy: false, detail: "\(error)"))
    }
}
