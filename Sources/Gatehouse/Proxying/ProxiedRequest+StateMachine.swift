import NIOCore
import NIOHTTP1

extension ProxiedRequest {
    /// The life of one proxied request as data: which phase it is in, what it has sent and
    /// received, and what happens next. It holds no channel, logger, timer or pool; time is passed
    /// in. Each event returns one `Action` that the owning `ProxiedRequest` carries out (writes,
    /// pool calls, logs). Every rule that decides a request's fate lives here: the resend rule,
    /// the body limit (by declared length and while streaming), no body byte beyond the request's
    /// framing, 504 before the response head and an abort after it, NTLM/Negotiate pinning.
    ///
    /// A value type mutated in place: one per request, stored inline in `ProxiedRequest`.
    struct StateMachine {
        // MARK: states

        /// Where the request is.
        enum State {
            /// The head arrived; the router has not decided yet.
            case routing
            /// Waiting for a backend connection; body parts that arrive meanwhile queue here.
            case connecting(Connecting)
            /// A backend connection is attached: the request and the response stream, each with
            /// its own progress.
            case forwarding(Forwarding)
            /// Gatehouse answered itself while the client is still sending a body that is credited
            /// and dropped until its end (only on a client stream that can discard one).
            case discardingBody
            /// Done: answered, completed or abandoned. Later events change nothing.
            case finished
            /// Only while an event moves a payload out of the state (no copy of the queue).
            case modifying
        }

        /// The connecting phase's queue.
        struct Connecting {
            /// Body parts received before the backend connection exists, in order.
            var queued: [ByteBuffer] = []
            var queuedBytes = 0
            /// The request's end arrived while connecting (with its trailers, if any).
            var ended = false
            var trailers: HTTPHeaders? = nil
        }

        /// The two directions of an exchange with an attached backend connection.
        struct Forwarding {
            var request: RequestStream
            var response: ResponseStream
        }

        /// The request towards the backend.
        enum RequestStream: Equatable {
            /// The head was sent; body parts follow (`bodyForwarded` once one did).
            case sendingBody(bodyForwarded: Bool)
            /// The request's end was sent.
            case sent(bodyForwarded: Bool)
        }

        /// The response towards the client.
        enum ResponseStream: Equatable {
            /// No final head yet (informational ones may have been relayed).
            case awaitingHead
            /// The final head went to the client; its body streams.
            case streaming
        }

        // MARK: inputs

        /// What a client stream can do, which decides how some rules end. Set by the client
        /// stream's adapter (`ClientStream`), never by the request code.
        struct ClientTraits: Equatable {
            /// One exchange's unread body can be dropped (credited) without closing the connection,
            /// and one exchange can be aborted on its own (HTTP/2 streams). Otherwise a body left
            /// unread, or an aborted exchange, ends the whole client connection (HTTP/1.1).
            var abortsOneExchange: Bool
            /// NTLM/Negotiate may authenticate the client connection (HTTP/1.1 only: HTTP/2
            /// refuses such requests before routing, and a challenge never pins a multiplexed one).
            var connectionAuthentication: Bool
        }

        /// The facts of a backend's final response head that the machine decides on.
        struct ResponseHeadFacts: Equatable {
            var status: UInt
            /// The backend keeps the connection open after this response.
            var keepAlive: Bool
            /// The head says where its body ends (`ProxiedRequest.responseFramingIsKnown`).
            var framingKnown: Bool
            /// A 401 whose `WWW-Authenticate` names NTLM or Negotiate.
            var challengesConnection: Bool
        }

        /// Why a backend connection could not be had.
        enum LeaseFailure {
            /// No healthy, undrained server in the pool.
            case noHealthyServer
            /// Every healthy server already has its maximum of pinned connections.
            case pinnedLimitReached
            /// TCP or TLS to the chosen server failed: nothing was sent.
            case connectFailed(BackendError)
            /// The request waited for a connection slot for the pool's queue timeout: the pool is
            /// overloaded, not the server broken (no resend).
            case queueTimedOut(BackendError)
        }

        // MARK: outputs

        /// Why a request is answered by Gatehouse (before a response head) or aborted (after one).
        enum Failure {
            /// The router answered (deny rule, redirect, 404, 421 ...).
            case local(LocalResponse)
            /// `Content-Length` above the route's limit.
            case declaredBodyTooLarge(length: Int64, limit: Int64)
            /// The streamed body passed the route's limit.
            case bodyTooLarge(limit: Int64)
            /// More body bytes than the request's framing allows.
            case bodyBeyondFraming(RequestBodyFraming)
            case noHealthyServer
            case pinnedLimitReached
            /// No connection to a backend could be opened (connect or TLS), on every attempt.
            case connectFailed(BackendError)
            /// The attached backend connection failed (closed early, unparseable response ...).
            case backendFailed(BackendError)
            /// Queued for a connection slot for the pool's queue timeout (503, Retry-After).
            case queueTimedOut(BackendError)
            /// The backend switched protocols (101), which Gatehouse never tunnels.
            case switchingProtocols
            /// A timeout of `RequestDeadlines` ran out.
            case timedOut(RequestDeadlines.Expiry)
            /// A screening rule refused the request with no response at all (`reason` names it).
            case screened(reason: String)
        }

        /// What becomes of the client connection after a local answer.
        enum AfterLocalAnswer: Equatable {
            /// Nothing: the request is finished.
            case finish
            /// A declared body will not be read: the connection closes (the answer carries
            /// `Connection: close`).
            case closeClient
            /// The rest of the body is credited and dropped until its end; reads resume.
            case discardBody
        }

        /// What happens to the backend connection at the end of a response.
        enum Release: Equatable {
            /// Back to the pool's idle list.
            case reuse
            /// Kept for this client connection only (NTLM/Negotiate).
            case keepPinned
            /// Closed: not reusable (the backend or the request said so, or the body was cut).
            case close
        }

        /// What the owning `ProxiedRequest` carries out after an event.
        enum Action {
            /// Nothing to do.
            case none
            /// Get a backend connection: this client connection's pinned one when it has one for
            /// the route's pool, else a server from the pool (`excludedServers`, `needsPinnedRoom`).
            case connect
            /// Connected: write the backend request head, then the queued body parts and, when the
            /// request already ended, its end; flush. `bindConnection`: mark the connection as
            /// carrying connection-bound authentication.
            case sendRequest(queued: [ByteBuffer], end: Bool, trailers: HTTPHeaders?, bindConnection: Bool)
            /// Write this body part to the backend (and credit the client for it).
            case forwardBody(ByteBuffer)
            /// Write the request's end to the backend; the header clock may have started.
            case forwardEnd(HTTPHeaders?)
            /// Give the client stream `bytes` of flow-control credit (a body that is dropped).
            case creditClient(bytes: Int)
            /// Stop (true) or resume (false) reading from the client.
            case pauseClientReads(Bool)
            /// Stop (true) or resume (false) reading from the backend.
            case pauseBackendReads(Bool)
            /// A lease completed after the request no longer wanted it: hand the connection back
            /// to the pool untouched.
            case returnUnusedConnection
            /// Relay a 1xx response head to the client.
            case relayInformational
            /// Rewrite and relay the final response head. `bindConnection`: the backend started a
            /// connection-bound handshake; mark the connection.
            case relayHead(bindConnection: Bool)
            /// Relay a response body part (compressed when the head said so).
            case relayBody
            /// The response ended: release the backend connection as `release` says, *then* write
            /// the end to the client and flush; `abortClient` when the request was not complete
            /// (an early answer: the client must stop sending). Then the request is finished.
            case completeResponse(release: Release, abortClient: Bool)
            /// The backend connection failed with nothing sent that matters: the lease is over;
            /// get a connection again (the client's reads pause until it is attached).
            case resend
            /// Answer `failure` locally: drop the backend connection if one is held, write the
            /// answer (with `Connection: close` when `after` is `.closeClient`), log it, then act
            /// on `after`.
            case respondLocally(Failure, after: AfterLocalAnswer)
            /// After the response head: drop the backend connection, abort the client stream (a
            /// truncated body is never passed off as complete), log, finish.
            case abort(Failure)
            /// The client went away: drop the backend connection, log, finish.
            case clientGone
            /// A dropped body ended: the request leaves the connection's table (nothing to log).
            case finishDiscarding
        }

        // MARK: stored facts
        // Set only by the events (ProxiedRequest+StateMachineEvents.swift, an extension in another
        // file, hence not `private(set)`); the owner reads them.

        var state: State = .routing
        let method: HTTPMethod
        let traits: ClientTraits
        /// The head announces a body (Content-Length above zero, or chunked).
        let declaresBody: Bool
        var framing = RequestBodyFraming.none
        var maxBodyBytes = Int64.max
        var deadlines: RequestDeadlines?

        /// The exchange uses (or starts) connection-bound authentication: the backend connection
        /// belongs to this client connection only.
        var bindsConnection: Bool
        /// The backend connection is the client connection's pinned one (never resent elsewhere).
        var onPinnedConnection = false
        /// Servers chosen for this request, in order (at most `ResendRule.maxAttempts`).
        var triedServers = TriedServers()

        var requestEnded = false
        var requestBodyBytes: Int64 = 0
        var responseHeadSent = false
        var responseStatus: UInt = 0
        var responseBodyBytes: Int64 = 0
        var backendKeepAlive = true
        var responseFramingKnown = true
        /// The client stream can take more response bytes.
        var clientWritable = true

        /// Most body bytes queued while the backend connection is being opened (then reads pause).
        static let queueLimit = 64 * 1024

        /// - Parameters:
        ///   - authenticatesConnection: the request's `Authorization` names NTLM or Negotiate.
        init(method: HTTPMethod, declaresBody: Bool, authenticatesConnection: Bool, traits: ClientTraits) {
            self.method = method
            self.declaresBody = declaresBody
            self.traits = traits
            self.bindsConnection = traits.connectionAuthentication && authenticatesConnection
        }

        /// The request is done with (answered, completed or abandoned, body dropped or not).
        var isFinished: Bool {
            switch state {
            case .finished, .discardingBody: return true
            default: return false
            }
        }

        /// The request waits for a backend connection.
        var isConnecting: Bool {
            if case .connecting = state { return true }
            return false
        }

        /// The server the request was last sent to, for logs.
        var currentServer: Int? { triedServers.last }

        /// Whether the pool must find room for one more pinned connection on the chosen server.
        var needsPinnedRoom: Bool { bindsConnection }

        /// When the one deadline check should run; nil when no clock runs.
        var nextDeadline: NIODeadline? {
            switch state {
            case .connecting, .forwarding: return deadlines?.nextDeadline
            default: return nil
            }
        }
    }
}

// MARK: - servers tried

extension ProxiedRequest.StateMachine {
    /// Up to `ResendRule.maxAttempts` server indices, inline (no array per request).
    struct TriedServers: Equatable {
        private var first = -1
        private var second = -1
        var count = 0

        var isEmpty: Bool { count == 0 }
        var last: Int? { count == 0 ? nil : (count == 1 ? first : second) }

        mutating func append(_ server: Int) {
            if count == 0 { first = server } else { second = server }
            count = min(count + 1, 2)
        }

        /// As the pool's `choose(excluding:)` takes them; empty (no allocation) on a first attempt.
        var asArray: [Int] {
            switch count {
            case 0: return []
            case 1: return [first]
            default: return [first, second]
            }
        }
    }
}
