import GatehouseHTTP2
import NIOCore

extension ClientLimits {
    /// The HTTP/2 session settings of a TLS listener that offers h2: `limits.http2`, the request
    /// head cap (`max_header_total` as SETTINGS_MAX_HEADER_LIST_SIZE) and `client_idle_timeout` as the
    /// session's one idle clock, which sends GOAWAY(NO_ERROR) before closing. The proxy behind an
    /// HTTP/2 session runs no idle clock of its own, so the two can never race.
    var http2Settings: HTTP2Settings {
        var settings = HTTP2Settings()
        settings.maxConcurrentStreams = http2.maxConcurrentStreams
        settings.initialStreamWindowSize = http2.initialWindowSize
        settings.connectionWindowSize = http2.connectionWindowSize
        settings.uploadWindowSize = http2.uploadWindowSize
        settings.maxHeaderListSize = maxHeaderTotal
        settings.idleTimeout = TimeAmount(clientIdleTimeout)
        settings.headerTimeout = TimeAmount(clientHeaderTimeout)
        return settings
    }
}
