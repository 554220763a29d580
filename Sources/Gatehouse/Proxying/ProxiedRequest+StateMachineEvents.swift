import NIOCore
import NIOHTTP1

// MARK: - routing and connecting

extension ProxiedRequest.StateMachine {
    /// The router answered the request itself.
    mutating func answeredByRouter(_ response: LocalResponse) -> Action {
        guard case .routing = state else { return .none }
        return answerLocally(.local(response))
    }

    /// A screening rule refused the request with no response: the HTTP/1.1 connection closes, the
    /// HTTP/2 stream is reset; nothing was sent anywhere.
    mutating func abortedByRouter(reason: String) -> Action {
        guard case .routing = state else { return .none }
        state = .finished
        return .abort(.screened(reason: reason))
    }

    /// The router chose a route: check the declared length, start the clocks, and connect.
    mutating func routed(
        framing: RequestBodyFraming, maxBodyBytes: Int64, deadlines: RequestDeadlines,
        now: NIODeadline
    ) -> Action {
        guard case .routing = state else { return .none }
        if case .contentLength(let length) = framing, length > maxBodyBytes {
            return answerLocally(.declaredBodyTooLarge(length: length, limit: maxBodyBytes))
        }
        self.framing = framing
        self.maxBodyBytes = maxBodyBytes
        self.deadlines = deadlines
        // Reads are not paused here: for the common bodiless request that would cost two epoll
        // changes per request. Body bytes that arrive while connecting queue, and the client is
        // paused once the queue passes `queueLimit`.
        return startConnecting(Connecting(), now: now)
    }

    /// The owner picked `server` for the request (`pinned`: the client connection's own
    /// authenticated connection to it).
    mutating func serverChosen(_ server: Int, pinned: Bool) {
        triedServers.append(server)
        onPinnedConnection = pinned
        if pinned { bindsConnection = true }
    }

    /// A backend connection is ready for the request.
    mutating func leased(now: NIODeadline) -> Action {
        guard case .connecting(let connecting) = state else {
            // The client went away or was answered meanwhile.
            return .returnUnusedConnection
        }
        state = .modifying
        deadlines?.connected(at: now)
        var request = RequestStream.sendingBody(bodyForwarded: !connecting.queued.isEmpty)
        if connecting.ended {
            request = .sent(bodyForwarded: !connecting.queued.isEmpty)
            deadlines?.requestSent(at: now)
        }
        state = .forwarding(Forwarding(request: request, response: .awaitingHead))
        return .sendRequest(
            queued: connecting.queued, end: connecting.ended, trailers: connecting.trailers,
            bindConnection: bindsConnection)
    }

    /// No backend connection could be had. A connect or TLS failure sent nothing, so another
    /// server is tried, once, whatever the method.
    mutating func leaseFailed(_ failure: LeaseFailure, now: NIODeadline) -> Action {
        guard case .connecting(let connecting) = state else { return .none }
        switch failure {
        case .noHealthyServer:
            return answerLocally(.noHealthyServer)
        case .pinnedLimitReached:
            return answerLocally(.pinnedLimitReached)
        case .queueTimedOut(let error):
            return answerLocally(.queueTimedOut(error))
        case .connectFailed(let error):
            if triedServers.count < ResendRule.maxAttempts {
                state = .modifying
                return startConnecting(connecting, now: now)
            }
            return answerLocally(.connectFailed(error))
        }
    }

    private mutating func startConnecting(_ connecting: Connecting, now: NIODeadline) -> Action {
        deadlines?.connecting(at: now)
        state = .connecting(connecting)
        return .connect
    }
}

// MARK: - client -> backend

extension ProxiedRequest.StateMachine {
    /// A request body part arrived from the client.
    mutating func clientBody(_ buffer: ByteBuffer, now: NIODeadline) -> Action {
        deadlines?.activity(at: now)
        let count = buffer.readableBytes
        requestBodyBytes += Int64(count)
        switch state {
        case .discardingBody, .finished, .routing, .modifying:
            return .creditClient(bytes: count)
        case .connecting, .forwarding:
            break
        }
        if requestBodyBytes > maxBodyBytes {
            return abandon(.bodyTooLarge(limit: maxBodyBytes))
        }
        if !framing.allows(bodyBytes: requestBodyBytes) {
            // The client decoders enforce the framing already; this makes sure no byte beyond it
            // can ever reach a shared backend connection as the start of another request.
            return abandon(.bodyBeyondFraming(framing))
        }
        switch state {
        case .connecting(var connecting):
            state = .modifying
            connecting.queued.append(buffer)
            connecting.queuedBytes += count
            let overLimit = connecting.queuedBytes > Self.queueLimit
            state = .connecting(connecting)
            return overLimit ? .pauseClientReads(true) : .none
        case .forwarding(var forwarding):
            if case .sendingBody(false) = forwarding.request {
                forwarding.request = .sendingBody(bodyForwarded: true)
                state = .forwarding(forwarding)
            }
            return .forwardBody(buffer)
        default:
            return .none
        }
    }

    /// The request's end arrived from the client.
    mutating func clientEnd(_ trailers: HTTPHeaders?, now: NIODeadline) -> Action {
        deadlines?.activity(at: now)
        requestEnded = true
        switch state {
        case .connecting(var connecting):
            state = .modifying
            connecting.ended = true
            connecting.trailers = trailers
            state = .connecting(connecting)
            return .none
        case .forwarding(var forwarding):
            if case .sendingBody(let forwarded) = forwarding.request {
                forwarding.request = .sent(bodyForwarded: forwarded)
                state = .forwarding(forwarding)
            }
            if case .awaitingHead = forwarding.response {
                // The header clock starts once the whole request is with the backend.
                deadlines?.requestSent(at: now)
            }
            return .forwardEnd(trailers)
        case .discardingBody:
            state = .finished
            return .finishDiscarding
        case .routing, .finished, .modifying:
            return .none
        }
    }

    /// The backend connection's write buffer crossed a watermark: the client is paused while the
    /// backend cannot take more (on a credit-paced stream the owner makes this a no-op).
    mutating func backendWritable(_ isWritable: Bool) -> Action {
        guard case .forwarding = state else { return .none }
        return .pauseClientReads(!isWritable)
    }
}

// MARK: - backend -> client

extension ProxiedRequest.StateMachine {
    /// A response head arrived from the backend.
    mutating func backendHead(_ head: ResponseHeadFacts, now: NIODeadline) -> Action {
        deadlines?.activity(at: now)
        guard case .forwarding(var forwarding) = state, case .awaitingHead = forwarding.response else {
            return .none
        }
        if head.status == 101 {
            // Gatehouse tunnels no upgraded protocol: what follows is not HTTP it can frame.
            return answerLocally(.switchingProtocols)
        }
        if head.status < 200 {
            // 100 Continue and friends: relay (Outlook waits for 100 before sending its body).
            return .relayInformational
        }
        deadlines?.responseHeadReceived(at: now)
        backendKeepAlive = head.keepAlive
        responseFramingKnown = head.framingKnown
        responseStatus = head.status
        responseHeadSent = true
        forwarding.response = .streaming
        state = .forwarding(forwarding)
        var bind = false
        if traits.connectionAuthentication, head.status == 401, head.challengesConnection {
            // The backend starts a connection-based handshake: the next request of this client
            // connection must reach this very backend connection, and no one else may use it.
            bindsConnection = true
            bind = true
        }
        return .relayHead(bindConnection: bind)
    }

    /// A response body part of `bytes` bytes arrived from the backend.
    mutating func backendBody(bytes: Int, now: NIODeadline) -> Action {
        deadlines?.activity(at: now)
        guard case .forwarding(let forwarding) = state, case .streaming = forwarding.response else { return .none }
        responseBodyBytes += Int64(bytes)
        return .relayBody
    }

    /// The response ended. The connection is reusable only when the backend keeps it, the whole
    /// request was sent and the response's end was known from its framing.
    mutating func backendEnd(now: NIODeadline) -> Action {
        deadlines?.activity(at: now)
        guard case .forwarding(let forwarding) = state, case .streaming = forwarding.response else { return .none }
        state = .finished
        let reusable = backendKeepAlive && requestEnded && responseFramingKnown
        let release: Release
        if !reusable {
            release = .close
        } else if bindsConnection {
            release = .keepPinned
        } else {
            release = .reuse
        }
        // An answer before the request's end (401, 413 ...): the client must stop sending; on a
        // connection that cannot abort one exchange the rest of the body would read as a request.
        return .completeResponse(release: release, abortClient: !requestEnded)
    }

    /// The backend connection failed while the request used it. The lease is over either way.
    mutating func backendFailed(_ error: BackendError, now: NIODeadline) -> Action {
        guard case .forwarding(let forwarding) = state else { return .none }
        var responseStarted = responseHeadSent
        if case .protocolError = error { responseStarted = true }  // bytes arrived, unparseable
        let bodyForwarded: Bool
        switch forwarding.request {
        case .sendingBody(let forwarded), .sent(let forwarded): bodyForwarded = forwarded
        }
        let attempt = ResendRule.Attempt(
            attempts: triedServers.count, responseStarted: responseStarted,
            bodyForwarded: bodyForwarded, pinned: onPinnedConnection, method: method)
        if ResendRule.mayResend(attempt) {
            // Nothing of the body left: what the client still sends queues again.
            _ = startConnecting(Connecting(ended: requestEnded), now: now)
            return .resend
        }
        return abandon(.backendFailed(error))
    }

    /// The client stream can (true) or cannot (false) take more: the backend is read accordingly.
    mutating func clientWritable(_ isWritable: Bool) -> Action {
        clientWritable = isWritable
        guard case .forwarding = state else { return .none }
        return .pauseBackendReads(!isWritable)
    }
}

// MARK: - ends

extension ProxiedRequest.StateMachine {
    /// The client aborted the exchange (stream reset, or its connection closed).
    mutating func clientAborted() -> Action {
        switch state {
        case .routing, .connecting, .forwarding:
            state = .finished
            return .clientGone
        case .discardingBody:
            state = .finished
            return .finishDiscarding
        case .finished, .modifying:
            return .none
        }
    }

    /// The deadline check ran at `now`: a limit ran out (504 before the response head, an abort
    /// after it), or nothing did and the owner re-arms at `nextDeadline`.
    mutating func deadlineReached(now: NIODeadline) -> Action {
        switch state {
        case .connecting, .forwarding: break
        default: return .none
        }
        guard let expiry = deadlines?.expired(at: now) else { return .none }
        return abandon(.timedOut(expiry))
    }

    /// Gives up on the exchange: a local answer before the response head, an abort after it.
    private mutating func abandon(_ failure: Failure) -> Action {
        if responseHeadSent {
            state = .finished
            return .abort(failure)
        }
        return answerLocally(failure)
    }

    /// Answers locally and decides what a body still on its way means: an exchange that can be
    /// aborted on its own drops (credits) the rest; otherwise a declared body that will not be
    /// read makes the client connection unusable, so it closes.
    private mutating func answerLocally(_ failure: Failure) -> Action {
        let bodyPending = !requestEnded && (traits.abortsOneExchange || declaresBody)
        let after: AfterLocalAnswer
        if !bodyPending {
            after = .finish
            state = .finished
        } else if traits.abortsOneExchange {
            after = .discardBody
            state = .discardingBody
        } else {
            after = .closeClient
            state = .finished
        }
        return .respondLocally(failure, after: after)
    }
}
