import NIOCore

/// The client address of one connection, read by everything that needs it (X-Forwarded-For, admin
/// networks, deny rules, access logs, log lines): the socket's peer, unless a trusted balancer's
/// PROXY header named the real client, in which case `ProxyProtocolHandler` records that here
/// before any byte reaches TLS. One per connection, used on its event loop only.
final class ConnectionClientAddress {
    /// The address; nil for a Unix-socket peer.
    private(set) var address: IPAddress?
    /// The client's TCP port when known (the peer's; nil once a PROXY header named the client,
    /// whose port is not kept). A pass-through backend's PROXY v2 header carries it.
    private(set) var port: Int?

    /// The connection's own peer.
    init(peer: SocketAddress?) {
        address = peer.flatMap(IPAddress.init)
        port = peer?.port
    }

    /// The client a trusted PROXY header named.
    func record(proxied: IPAddress) {
        address = proxied
        port = nil
    }
}
