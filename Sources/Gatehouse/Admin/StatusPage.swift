import Foundation
import GatehouseTLS
import NIOCore
import NIOHTTP1

/// The admin endpoint's status page (`GET /` from a browser): one self-contained HTML document —
/// no framework, no external asset — whose small inline script fetches `/state` every few seconds
/// and renders listeners, certificates with days to expiry, pools, servers with per-service health,
/// drain and passive-ejection state, connections, pinned NTLM connections and request rates (`requests_per_second` from `/state`, over its last 10 seconds).
///
/// A strict Content-Security-Policy goes with it: nothing may load from anywhere, the one inline
/// script and the one inline style run because their SHA-256 hashes are listed, and the script
/// may only fetch from this origin. The script builds the DOM with `textContent`, never HTML
/// strings, so a name from the configuration cannot inject markup either.
enum StatusPage {
    /// Whether `head` asks for HTML (a browser): other clients of `/` keep getting the JSON.
    static func isWanted(by head: HTTPRequestHead) -> Bool {
        head.headers[canonicalForm: "accept"].contains { $0.lowercased().hasPrefix("text/html") }
    }

    /// Writes the page.
    static func respond(_ context: ChannelHandlerContext, head: HTTPRequestHead) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/html; charset=utf-8")
        headers.add(name: "Content-Length", value: String(html.utf8.count))
        headers.add(name: "Content-Security-Policy", value: contentSecurityPolicy)
        headers.add(name: "X-Content-Type-Options", value: "nosniff")
        headers.add(name: "Referrer-Policy", value: "no-referrer")
        headers.add(name: "Cache-Control", value: "no-store")
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(
            NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))),
            promise: nil)
        if head.method != .HEAD {
            var buffer = context.channel.allocator.buffer(capacity: html.utf8.count)
            buffer.writeString(html)
            context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(buffer))), promise: nil)
        }
        let keepAlive = head.isKeepAlive
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).assumeIsolated().whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }

    /// Nothing from anywhere, except the listed inline script and style, and fetches to this origin.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'sha256-\(base64SHA256(script))'; "
        + "style-src 'sha256-\(base64SHA256(style))'; connect-src 'self'; img-src 'none'; base-uri 'none'; "
        + "form-action 'none'; frame-ancestors 'none'"

    /// The base64 SHA-256 of `text`, as CSP hash sources spell it.
    static func base64SHA256(_ text: String) -> String {
        let hasher = SHA256Hasher()
        hasher.update(Array(text.utf8))
        let hex = Array(hasher.finalize().utf8)
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: hex.count, by: 2) {
            bytes.append(UInt8(String(decoding: hex[index..<index + 2], as: UTF8.self), radix: 16)!)
        }
        return Data(bytes).base64EncodedString()
    }

    static let html = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Gatehouse status</title>
        <style>\(style)</style>
        </head>
        <body>
        <header><h1>Gatehouse</h1><span id="updated">loading…</span></header>
        <main>
        <section><h2>Totals</h2><div id="totals"></div></section>
        <section><h2>Listeners</h2><div id="listeners"></div></section>
        <section><h2>Certificates</h2><div id="certificates"></div></section>
        <section><h2>Pools</h2><div id="pools"></div></section>
        </main>
        <script>\(script)</script>
        </body>
        </html>

        """
}
