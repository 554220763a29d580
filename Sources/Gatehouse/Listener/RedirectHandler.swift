import NIOCore
import NIOHTTP1

/// What a plain-HTTP redirect listener needs to answer: where HTTPS is, and which hosts it serves.
public struct RedirectPolicy: Sendable {
    /// The HTTPS port clients are sent to (443 is left out of the URL).
    public var httpsPort: Int
    /// The routing table whose virtual services list the hosts that are redirected.
    public var table: RoutingTable
    /// The status for a host no virtual service lists (as on the TLS listeners: 421 or 404).
    public var unknownHostStatus: HTTPResponseStatus

    public init(httpsPort: Int, table: RoutingTable, unknownHostStatus: HTTPResponseStatus = .misdirectedRequest) {
        self.httpsPort = httpsPort
        self.table = table
        self.unknownHostStatus = unknownHostStatus
    }
}

/// Answers every request on a plain-HTTP listener with a permanent redirect to the same host and
/// path over HTTPS, for hosts a virtual service lists; other hosts get the unknown-host status and
/// no Location, so the listener is never an open redirect. Nothing is proxied in clear text.
///
/// The whole request (head and any body, which is dropped) must arrive within the header timeout:
/// `clock` hears of the request only at its end, so a slow body cannot hold the socket either.
final class RedirectHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// What a request gets.
    enum Answer: Equatable {
        /// 301 to this URL.
        case redirect(location: String)
        /// 400: no usable Host (missing, repeated or malformed), or a target that cannot be redirected.
        case badRequest
        /// The unknown-host status: no virtual service lists this host.
        case unknownHost
    }

    private let policy: RedirectPolicy
    private let clock: HeaderTimeoutHandler
    private var head: HTTPRequestHead?

    init(policy: RedirectPolicy, clock: HeaderTimeoutHandler) {
        self.policy = policy
        self.clock = clock
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head else { return }
            self.head = nil
            clock.headReceived()
            respond(context: context, to: head)
            clock.responseFinished()
        }
    }

    private func respond(context: ChannelHandlerContext, to head: HTTPRequestHead) {
        var headers = HTTPHeaders()
        let body: String
        let status: HTTPResponseStatus
        switch Self.answer(for: head, policy: policy) {
        case .redirect(let location):
            status = .movedPermanently
            headers.add(name: "location", value: location)
            body = "Moved to \(location)\n"
        case .badRequest:
            status = .badRequest
            body = "400 Bad Request: missing or invalid Host header\n"
        case .unknownHost:
            status = policy.unknownHostStatus
            body = "\(status.code) \(status.reasonPhrase): this server does not serve that host\n"
        }
        headers.add(name: "content-type", value: "text/plain; charset=utf-8")
        headers.add(name: "content-length", value: String(body.utf8.count))
        if !head.isKeepAlive { headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        }
        let keepAlive = head.isKeepAlive
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { loopBound.value.close(promise: nil) }
        }
    }

    /// What `head` gets: a redirect to `https://<host>[:port]<path>` when the host (the
    /// absolute-form authority, else the one Host header) is one a virtual service lists, looked up
    /// as the TLS listeners look it up; the unknown-host answer for any other well-formed host; 400
    /// when there is no usable host or path.
    ///
    /// The Location's host is the normalised configured name (lower case, no port or trailing
    /// dot), never bytes the client chose. An absolute-form target (`GET http://mail.contoso.com/owa/
    /// HTTP/1.1`) must be accepted by servers (RFC 9112 3.2.2); its authority then names the host,
    /// whatever the Host header says.
    static func answer(for head: HTTPRequestHead, policy: RedirectPolicy) -> Answer {
        guard let (host, path) = hostAndPath(of: head), path.hasPrefix("/"), let name = HostName.normalise(host) else {
            return .badRequest
        }
        guard policy.table.service(forHost: name) != nil else { return .unknownHost }
        let port = policy.httpsPort == 443 ? "" : ":\(policy.httpsPort)"
        return .redirect(location: "https://\(name)\(port)\(path)")
    }

    /// The host (authority, or Host header) and origin-form path of a request; nil for an
    /// absolute-form target with a scheme other than http(s).
    private static func hostAndPath(of head: HTTPRequestHead) -> (host: String, path: Substring)? {
        let uri = Substring(head.uri)
        guard !uri.hasPrefix("/"), let schemeEnd = uri.range(of: "://") else {
            // Exactly one Host header (RFC 9112 3.2): with two, which one would the client mean?
            let hosts = head.headers["host"]
            return hosts.count == 1 ? (hosts[0], uri) : nil
        }
        let scheme = uri[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else { return nil }
        let rest = uri[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        // Userinfo (`user@host`) has no place in a redirect target.
        guard !authority.contains("@") else { return nil }
        let tail = rest[authorityEnd...]
        let path: Substring = tail.isEmpty ? "/" : tail.hasPrefix("?") ? Substring("/" + tail) : tail
        return (String(authority), path)
    }
}
