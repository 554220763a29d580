import NIOCore
import NIOHTTP1

/// Answers every request on a plain-HTTP listener with a permanent redirect to the same host and
/// path over HTTPS. Nothing is proxied in clear text.
final class RedirectHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let httpsPort: Int
    private var head: HTTPRequestHead?

    init(httpsPort: Int) {
        self.httpsPort = httpsPort
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
            respond(context: context, to: head)
        }
    }

    private func respond(context: ChannelHandlerContext, to head: HTTPRequestHead) {
        var headers = HTTPHeaders()
        let body: String
        let status: HTTPResponseStatus
        if let location = Self.location(for: head, httpsPort: httpsPort) {
            status = .movedPermanently
            headers.add(name: "location", value: location)
            body = "Moved to \(location)\n"
        } else {
            status = .badRequest
            body = "400 Bad Request: missing or invalid Host header\n"
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

    /// The HTTPS URL for a request, or nil when its Host is missing or not a plain host name
    /// (never redirect to something a client smuggled into Host).
    ///
    /// An absolute-form target (`GET http://mail.contoso.com/owa/ HTTP/1.1`) must be accepted by
    /// servers (RFC 9112 3.2.2); its authority then names the host, whatever the Host header says.
    static func location(for head: HTTPRequestHead, httpsPort: Int) -> String? {
        guard let (hostHeader, path) = hostAndPath(of: head), !hostHeader.isEmpty else { return nil }
        var host = Substring(hostHeader)
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            host = host[...close]
        } else if let colon = host.firstIndex(of: ":") {
            host = host[..<colon]
        }
        let allowed = host.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x2D || byte == 0x2E || byte == 0x3A || byte == 0x5B || byte == 0x5D
        }
        guard allowed, !host.isEmpty, path.hasPrefix("/") else { return nil }
        let port = httpsPort == 443 ? "" : ":\(httpsPort)"
        return "https://\(host)\(port)\(path)"
    }

    /// The host (authority, or Host header) and origin-form path of a request; nil for an
    /// absolute-form target with a scheme other than http(s).
    private static func hostAndPath(of head: HTTPRequestHead) -> (host: String, path: Substring)? {
        let uri = Substring(head.uri)
        guard !uri.hasPrefix("/"), let schemeEnd = uri.range(of: "://") else {
            return head.headers.first(name: "host").map { ($0, uri) }
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
