import NIOHTTP1

/// Why a backend could not serve a request; becomes a 502/504 with a log line naming the backend.
enum BackendError: Error, CustomStringConvertible {
    case connectFailed(server: String, reason: String)
    case tlsFailed(server: String, reason: String)
    case closedEarly(server: String)
    case timeout(server: String, phase: String)
    case protocolError(server: String, reason: String)
    /// A request queued for a connection slot (`max_connecting_per_server` connects in flight)
    /// waited the pool's `queue_timeout`: a 503 naming the pool.
    case queueTimeout(pool: String, server: String, waitedMilliseconds: Int64)

    var description: String {
        switch self {
        case .connectFailed(let server, let reason): return "backend \(server): connect failed: \(reason)"
        case .tlsFailed(let server, let reason): return "backend \(server): TLS failed: \(reason)"
        case .closedEarly(let server): return "backend \(server): connection closed before the response completed"
        case .timeout(let server, let phase): return "backend \(server): timed out \(phase)"
        case .protocolError(let server, let reason): return "backend \(server): invalid response: \(reason)"
        case .queueTimeout(let pool, let server, let waited):
            return "pool \(pool): no connection to backend \(server) after waiting \(waited) ms in the queue "
                + "(max_connecting_per_server connects in flight; queue_timeout)"
        }
    }

    /// The status a client gets when this happens before any response byte was sent.
    var status: HTTPResponseStatus {
        switch self {
        case .timeout: return .gatewayTimeout
        case .queueTimeout: return .serviceUnavailable
        default: return .badGateway
        }
    }
}
