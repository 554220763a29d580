import GatehouseHTTP1
import NIOCore
import NIOHTTP1

/// The protocol a client connection speaks, as ALPN chose it: it picks the `ClientStream`
/// adapter of each request, the one place where the two protocols are told apart.
enum ClientProtocol {
    case http1
    case http2

    /// The client side of exchange `id` on `handler`'s connection.
    func stream(_ id: HTTPStreamID, of handler: ProxyHandler) -> any ClientStream {
        switch self {
        case .http1: return HTTP1ClientStream(handler: handler, id: id)
        case .http2: return HTTP2ClientStream(handler: handler, id: id)
        }
    }
}

/// How an exchange is aborted towards the client.
enum ClientStreamAbort {
    /// The response is complete but the client must stop sending its body (HTTP/2 RST_STREAM
    /// NO_ERROR; HTTP/1.1 closes the connection once the response is out).
    case stopSending
    /// The exchange failed midway: a truncated response must never look complete (HTTP/2
    /// RST_STREAM INTERNAL_ERROR; HTTP/1.1 closes the connection).
    case failed
}

/// The client side of one exchange, whatever the protocol: the request code writes, flushes,
/// credits, aborts and pauses through it and never asks which protocol it speaks. One adapter per
/// protocol (`HTTP1ClientStream`, `HTTP2ClientStream`); both are two-word values, so storing one
/// in an existential allocates nothing.
protocol ClientStream {
    /// What this protocol lets the request rules do (discard one body, pin a connection).
    var traits: ProxiedRequest.StateMachine.ClientTraits { get }
    /// The protocol as the access log names it.
    var protocolName: String { get }
    /// Writes one response part; it goes out at the next `flush()`.
    func write(_ part: HTTPServerResponsePart)
    /// Flushes what was written, if anything.
    func flush()
    /// Writes a request body part to the backend `connection` and gives the client its credit
    /// back when its protocol paces bodies by credit.
    func forwardBody(_ buffer: ByteBuffer, to connection: BackendConnection)
    /// `bytes` of the request body were handed on (or dropped): the client may send that many more.
    func credit(bytes: Int)
    /// Ends the exchange towards the client before its normal end.
    func abort(_ reason: ClientStreamAbort)
    /// Stops (true) or resumes (false) reading the client's bytes for this exchange.
    func pauseReads(_ paused: Bool)
}

// MARK: - HTTP/1.1

/// One request of an HTTP/1.1 connection: TCP is the flow control, so credit does nothing and
/// backpressure pauses the connection's reads; aborting an exchange closes the connection.
struct HTTP1ClientStream: ClientStream {
    unowned let handler: ProxyHandler
    let id: HTTPStreamID

    var traits: ProxiedRequest.StateMachine.ClientTraits {
        .init(abortsOneExchange: false, connectionAuthentication: true)
    }
    var protocolName: String { "HTTP/1.1" }

    func write(_ part: HTTPServerResponsePart) { handler.writeToClient(part, stream: id) }
    func flush() { handler.flushClientIfNeeded() }

    func forwardBody(_ buffer: ByteBuffer, to connection: BackendConnection) {
        connection.write(.body(.byteBuffer(buffer)))
    }

    func credit(bytes: Int) {}

    /// Stop sending: the adapter closes once the response is out, with a lingering close while
    /// the body is still arriving (so the client reads the answer). Failed: closed at once.
    func abort(_ reason: ClientStreamAbort) {
        switch reason {
        case .stopSending: handler.sendCommand(.stopSending(id))
        case .failed: handler.closeClient()
        }
    }
    func pauseReads(_ paused: Bool) { handler.pauseClientReads(paused) }
}

// MARK: - HTTP/2

/// One stream of an HTTP/2 connection: request bodies are paced by the stream's flow-control
/// window, which reopens by `credit`; the connection's reads never pause for one stream; an
/// abort resets this stream only.
struct HTTP2ClientStream: ClientStream {
    unowned let handler: ProxyHandler
    let id: HTTPStreamID

    var traits: ProxiedRequest.StateMachine.ClientTraits {
        .init(abortsOneExchange: true, connectionAuthentication: false)
    }
    var protocolName: String { "HTTP/2.0" }

    func write(_ part: HTTPServerResponsePart) { handler.writeToClient(part, stream: id) }
    func flush() { handler.flushClientIfNeeded() }
    func credit(bytes: Int) { handler.sendCommand(.consumed(id, bytes: bytes)) }

    /// While the backend connection takes bytes (writable) the window reopens at once; once it is
    /// full, only when the bytes are written. So a stream holds at most its window (64 KiB) beyond
    /// the backend connection's write buffer, as an HTTP/1.1 client does with paused reads.
    func forwardBody(_ buffer: ByteBuffer, to connection: BackendConnection) {
        let count = buffer.readableBytes
        if connection.isWritable {
            connection.write(.body(.byteBuffer(buffer)))
            credit(bytes: count)
        } else {
            let promise = connection.channel.eventLoop.makePromise(of: Void.self)
            connection.write(.body(.byteBuffer(buffer)), promise: promise)
            // Weak: the write may complete after the client connection (and its handler) is gone.
            promise.futureResult.assumeIsolated().whenSuccess { [weak handler, id] in
                handler?.sendCommand(.consumed(id, bytes: count))
            }
        }
    }

    func abort(_ reason: ClientStreamAbort) {
        switch reason {
        case .stopSending: handler.sendCommand(.stopSending(id))  // RST_STREAM(NO_ERROR)
        case .failed: handler.sendCommand(.reset(id, errorCode: 2))  // INTERNAL_ERROR
        }
    }

    func pauseReads(_ paused: Bool) {}
}
