import Prometheus

/// Every metric family Gatehouse exports, in one place: name (in the `gatehouse_` namespace, base
/// units, `_total` for counters), help text and, for histograms, buckets. README.md's metrics table
/// lists the same families.
enum MetricFamilies {
    private static func family(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "gatehouse", metricName: name, unitName: unit, helpText: help)
    }

    // Requests
    static var requests: MetricNameDescriptor {
        family(
            "requests", "total",
            "Requests finished, by virtual service, route, pool, server and status class (aborted: no complete response).")
    }
    static var requestDuration: MetricNameDescriptor {
        family(
            "request_duration", "seconds",
            "Time from request head to the end of the response, per route; long polls are excluded.")
    }
    static var longPollDuration: MetricNameDescriptor {
        family(
            "long_poll_duration", "seconds",
            "Duration of long polls (ActiveSync Ping, MAPI NotificationWait, RPC_IN_DATA/RPC_OUT_DATA), per route.")
    }
    static var bytesReceived: MetricNameDescriptor {
        family(
            "client_received_body_bytes", "total",
            "Request body bytes received from clients, per virtual service and route.")
    }
    static var bytesSent: MetricNameDescriptor {
        family(
            "client_sent_body_bytes", "total",
            "Response body bytes sent to clients, per virtual service and route.")
    }

    // TLS pass-through
    static var passthroughConnections: MetricNameDescriptor {
        family(
            "passthrough_connections", "total",
            "Pass-through connections ended, by listener, pool and outcome (ok, closed, no_server, connect_failed, idle_timeout, error).")
    }
    static var passthroughBytes: MetricNameDescriptor {
        family(
            "passthrough_bytes", "total",
            "Bytes spliced by pass-through listeners, by listener, pool and direction (from_client, from_backend).")
    }

    // Client connections and TLS
    static var connectionsCounted: MetricNameDescriptor {
        family(
            "client_connections_counted", "",
            "Client connections counted against a connection cap now (from accept, before TLS, to close), "
                + "by limit (max_connections: TLS and pass-through listeners; max_redirect_connections).")
    }
    static var connectionLimit: MetricNameDescriptor {
        family(
            "client_connection_limit", "",
            "The connection cap itself, by limit (max_connections, max_redirect_connections): alert on counted / limit.")
    }
    static var clientConnectionsOpen: MetricNameDescriptor {
        family(
            "client_connections_open", "",
            "Client connections open after the TLS handshake, by listener and protocol (h1, h2).")
    }
    static var clientConnections: MetricNameDescriptor {
        family(
            "client_connections", "total",
            "Client connections that completed the TLS handshake, by listener and protocol (h1, h2).")
    }
    static var tlsHandshakes: MetricNameDescriptor {
        family(
            "tls_handshakes", "total",
            "Completed TLS handshakes, by listener, version, cipher and certificate served.")
    }
    static var tlsHandshakeFailures: MetricNameDescriptor {
        family(
            "tls_handshake_failures", "total",
            "TLS handshakes that failed, by listener and reason.")
    }
    static var proxyProtocolRefusals: MetricNameDescriptor {
        family(
            "proxy_protocol_refusals", "total",
            "Client connections closed before TLS by the PROXY protocol checks, by listener and reason.")
    }

    // Backends
    static var backendConnections: MetricNameDescriptor {
        family(
            "backend_connections", "",
            "Backend connections by pool, server and state (open: all; idle; pinned: kept for one NTLM/Negotiate client).")
    }
    static var backendRequestsInFlight: MetricNameDescriptor {
        family(
            "backend_requests_in_flight", "",
            "Requests holding or waiting for a backend connection, by pool and server.")
    }
    static var backendConnects: MetricNameDescriptor {
        family("backend_connects", "total", "New backend connections opened (TCP and TLS), by pool and server.")
    }
    static var backendConnectFailures: MetricNameDescriptor {
        family(
            "backend_connect_failures", "total",
            "Backend connects that failed (TCP, TLS or timeout), by pool and server.")
    }
    static var backendResends: MetricNameDescriptor {
        family(
            "backend_resends", "total",
            "Requests sent again (to another server when one is left) after a connect to, or a connection with, this server failed before anything was answered; by pool and the server that failed."
        )
    }
    static var backendEjections: MetricNameDescriptor {
        family(
            "backend_passive_ejections", "total",
            "Times a server became suspect by passive ejection (connect failures, or a burst of gateway errors), by pool and server.")
    }
    static var backendUp: MetricNameDescriptor {
        family(
            "backend_up", "",
            "Active health per pool, server and probed service (1 up, 0 down); an empty service is the server as a whole.")
    }
    static var backendDraining: MetricNameDescriptor {
        family("backend_draining", "", "1 when the server takes no new requests (drain), by pool and server.")
    }

    static var extendedProtectionMatch: MetricNameDescriptor {
        family(
            "extended_protection_match", "",
            "Whether the certificate a server presented on its last health-check handshake binds like every front certificate the listeners serve for the service's hosts (1 match, 0 mismatch), for services with extended_protection warn or bridged; absent before the first handshake."
        )
    }

    // Certificates, screening, configuration
    static var certificateExpiry: MetricNameDescriptor {
        family(
            "certificate_expiry_timestamp", "seconds",
            "notAfter of each served (listener) and trusted (pool) certificate, in seconds since the epoch.")
    }
    static var denyHits: MetricNameDescriptor {
        family(
            "deny_rule_hits", "total",
            "Requests refused by a built-in deny rule or a screening rule-pack rule, by rule name.")
    }
    static var configReloads: MetricNameDescriptor {
        family(
            "config_reloads", "total",
            "Configuration reloads, by outcome (success, failure).")
    }

    /// Latency buckets: from a 5 ms OWA page or cached resource to a slow EWS search or an OAB
    /// download (two minutes); anything longer lands in +Inf.
    static let durationBuckets: [Double] = [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120
    ]
    /// Long-poll buckets: a Ping's heartbeat is up to 59 minutes; NotificationWait and RPC channels
    /// last minutes to hours.
    static let longPollBuckets: [Double] = [1, 10, 30, 60, 120, 300, 600, 900, 1800, 2700, 3600, 7200]
}
