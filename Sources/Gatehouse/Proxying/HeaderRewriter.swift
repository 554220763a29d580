import GatehouseTLS
import NIOHTTP1

/// Rewrites headers between client and backend: strips hop-by-hop headers both ways and adds the
/// `X-Forwarded-*` headers towards the backend. Everything else passes untouched, in particular
/// `Authorization` (NTLM/Negotiate), cookies and Exchange's routing headers (`X-AnchorMailbox`,
/// `X-BackEndCookie`, `X-PreferServerAffinity`, MAPI's `X-RequestType`/`MapiContext`...).
///
/// Call `RequestFraming.check` on the client's headers *before* `rewriteRequest`: the rewrite drops
/// `Transfer-Encoding`, and the HTTP/1.1 encoder re-frames the body towards the backend.
public struct HeaderRewriter: Sendable {
    /// What to do with an `X-Forwarded-For` the client sent.
    public enum ForwardedFor: Sendable, Hashable {
        /// Drop it (and any RFC 7239 `Forwarded`) and send only the client's address (the default).
        /// Right whenever clients reach Gatehouse directly: anything they send there is invented.
        case replace
        /// Keep it and append the client's address (`a, b, client`). Only for a Gatehouse behind a
        /// trusted load balancer that itself sets the header; otherwise clients forge the chain.
        case append
    }

    /// What `Host` the backend sees.
    public enum HostHeader: Sendable, Hashable {
        /// The client's Host (for HTTP/2 clients, `:authority` turned into `Host`). Exchange's
        /// front end expects its public name, and OWA builds redirects from it.
        case preserve
        /// This name, e.g. the backend's own name, for backends that only answer to that.
        case set(String)
    }

    /// The `X-Forwarded-For` policy.
    public var forwardedFor: ForwardedFor
    /// The `Host` policy.
    public var host: HostHeader

    public init(forwardedFor: ForwardedFor = .replace, host: HostHeader = .preserve) {
        self.forwardedFor = forwardedFor
        self.host = host
    }

    /// Prepares a client's request headers for the backend, in place.
    ///
    /// - Parameters:
    ///   - headers: the client's headers; on return, what to send to the backend.
    ///   - client: the client's address, for `X-Forwarded-For`.
    ///   - originalHost: the host the client asked for: `:authority` for HTTP/2 (whose headers carry
    ///     no `Host`); nil to use the `Host` header.
    public func rewriteRequest(_ headers: inout HTTPHeaders, client: IPAddress, originalHost: String? = nil) {
        rewriteRequest(&headers, clientText: client.description, originalHost: originalHost)
    }

    /// The same with the client's address already as text (`ClientConnectionFacts.clientIPText`,
    /// formatted once per connection rather than once per request).
    /// `clientCertificate` is the connection's verified client certificate: the client's own
    /// `X-Client-Cert*` headers are always removed, and Gatehouse's added only for a verified one
    /// (`ClientCertificateHeaders`).
    public func rewriteRequest(
        _ headers: inout HTTPHeaders, clientText: String, originalHost: String? = nil,
        clientCertificate: VerifiedClientCertificate? = nil
    ) {
        let clientHost = originalHost ?? headers.first(name: "host")
        // Room for the X-Forwarded-* lines and Host up front: one copy of the client's (shared)
        // header storage, instead of a copy and then growth by appends.
        headers.reserveCapacity(headers.count + (clientCertificate == nil ? 4 : 9))
        HopByHop.remove(from: &headers, requestDirection: true)
        ClientCertificateHeaders.replace(in: &headers, with: clientCertificate)

        switch forwardedFor {
        case .replace:
            headers.replaceOrAdd(name: "X-Forwarded-For", value: clientText)
            // RFC 7239 `Forwarded` carries the same claim; from an untrusted client it is as forged.
            headers.remove(name: "forwarded")
        case .append:
            let existing = headers[canonicalForm: "x-forwarded-for"]
            if existing.isEmpty {
                headers.add(name: "X-Forwarded-For", value: clientText)
            } else {
                // One header line, so backends that read only the first line still see the chain.
                let chain = existing.joined(separator: ", ") + ", " + clientText
                headers.replaceOrAdd(name: "X-Forwarded-For", value: chain)
            }
        }
        headers.replaceOrAdd(name: "X-Forwarded-Proto", value: "https")
        if let clientHost {
            headers.replaceOrAdd(name: "X-Forwarded-Host", value: clientHost)
        } else {
            headers.remove(name: "x-forwarded-host")
        }
        switch host {
        case .preserve:
            if let originalHost, !headers.contains(name: "host") {
                headers.add(name: "Host", value: originalHost)
            }
        case .set(let name):
            headers.replaceOrAdd(name: "Host", value: name)
        }
    }

    /// Prepares a backend's response headers for the client, in place: removes hop-by-hop headers
    /// (the client-side encoder frames the body itself). `Set-Cookie` (X-BackEndCookie) passes.
    public func rewriteResponse(_ headers: inout HTTPHeaders) {
        HopByHop.remove(from: &headers, requestDirection: false)
    }
}
