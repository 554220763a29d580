import Logging
import NIOCore
import NIOHTTP1

// MARK: - local answers, failures and the access log

extension ProxiedRequest {
    /// Answers `failure` itself: the backend connection (if any) is dropped, the answer written
    /// and logged; then, as the machine decided, the request is finished, the client connection
    /// closed (a declared body will not be read), or the rest of the body dropped as it comes.
    func respondLocally(_ failure: StateMachine.Failure, after: StateMachine.AfterLocalAnswer) {
        dropConnection()
        logFailure(failure)
        let local = localResponse(for: failure)
        log(status: local.status.code, reason: local.reason)
        var headers = local.headers
        headers.replaceOrAdd(name: "content-length", value: String(local.body.utf8.count))
        if headers["content-type"].isEmpty {
            headers.replaceOrAdd(name: "content-type", value: "text/plain; charset=utf-8")
        }
        if after == .closeClient {
            headers.replaceOrAdd(name: "connection", value: "close")
        }
        client.write(.head(HTTPResponseHead(version: clientHead.version, status: local.status, headers: headers)))
        if clientHead.method != .HEAD {
            var buffer = ByteBufferAllocator().buffer(capacity: local.body.utf8.count)
            buffer.writeString(local.body)
            client.write(.body(.byteBuffer(buffer)))
        }
        client.write(.end(nil))
        client.flush()
        cancelTimers()
        switch after {
        case .finish:
            finish(log: false)
        case .closeClient:
            client.abort(.stopSending)
            finish(log: false)
        case .discardBody:
            // The request stays in the table until its body's end; reads go on meanwhile.
            setClientPaused(false)
        }
    }

    /// The warning a failure deserves besides its access-log line.
    func logFailure(_ failure: StateMachine.Failure) {
        let route = policy?.name ?? "?"
        switch failure {
        case .timedOut:
            environment.logger.warning(
                "request timed out",
                metadata: [
                    "route": "\(route)", "error": "\(localResponse(for: failure).reason)"
                ])
        case .switchingProtocols:
            environment.logger.warning(
                "backend failed",
                metadata: [
                    "route": "\(route)", "error": "\(localResponse(for: failure).reason)"
                ])
        case .bodyTooLarge, .bodyBeyondFraming:
            if machine.responseHeadSent {
                environment.logger.warning("request aborted", metadata: ["reason": "\(localResponse(for: failure).reason)"])
            }
        case .local, .declaredBodyTooLarge, .noHealthyServer, .pinnedLimitReached, .connectFailed, .backendFailed,
            .queueTimedOut, .screened:
            // Logged where they happen (backend unavailable / failed), or the access log says it all.
            break
        }
    }

    /// The answer (and log reason) for a failure.
    func localResponse(for failure: StateMachine.Failure) -> LocalResponse {
        switch failure {
        case .local(let response):
            return response
        case .declaredBodyTooLarge(let length, let limit):
            return LocalResponse(
                status: .payloadTooLarge,
                reason: "request body of \(length) bytes exceeds the route's limit of \(limit)")
        case .bodyTooLarge(let limit):
            return LocalResponse(
                status: .payloadTooLarge,
                reason: "request body exceeded the route's limit of \(limit) bytes")
        case .bodyBeyondFraming(let framing):
            return LocalResponse(status: .badRequest, reason: "request body bytes beyond the request's framing (\(framing))")
        case .noHealthyServer:
            guard let pool = poolFacts, let policy else {
                return LocalResponse(status: .serviceUnavailable, reason: "no backend available in the pool")
            }
            return LocalResponse(
                status: .serviceUnavailable, headers: ["Retry-After": "5"],
                reason: "no healthy backend in pool \(pool.name) for route \(policy.name)")
        case .pinnedLimitReached:
            let pool = poolFacts
            return LocalResponse(
                status: .serviceUnavailable, headers: ["Retry-After": "5"],
                body: "503 Service Unavailable: too many NTLM/Negotiate-authenticated connections\n",
                reason: "every healthy backend in pool \(pool?.name ?? "?") already has "
                    + "\(pool?.pinnedLimit ?? 0) pinned NTLM/Negotiate connections (max_pinned_per_server)")
        case .connectFailed(let error), .backendFailed(let error):
            return LocalResponse(status: error.status, reason: error.description)
        case .queueTimedOut(let error):
            return LocalResponse(status: error.status, headers: ["Retry-After": "5"], reason: error.description)
        case .switchingProtocols:
            let error = BackendError.protocolError(
                server: serverName ?? "?",
                reason: "101 Switching Protocols, which Gatehouse does not proxy")
            return LocalResponse(status: error.status, reason: error.description)
        case .timedOut(let expiry):
            let phase = machine.deadlines?.describe(expiry) ?? ""
            let error = BackendError.timeout(server: serverName ?? "?", phase: phase)
            return LocalResponse(status: .gatewayTimeout, reason: error.description)
        case .screened(let reason):
            // Never written (the action aborts the stream); here for the reason only.
            return LocalResponse(status: .forbidden, reason: reason)
        }
    }
}

// MARK: - the deadline check

extension ProxiedRequest {
    /// Asks for a deadline check earlier when a nearer limit has started (connect, or the
    /// response-head clock shorter than the idle one); otherwise the pending check stays. The
    /// client connection's one timer runs it (`ProxyHandler.armDeadlineCheck`): no task per request.
    func rearmDeadlineCheck() {
        guard let next = machine.nextDeadline, next < deadlineCheckAt else { return }
        deadlineCheckAt = next
        handler.armDeadlineCheck(at: next)
    }

    /// The check, run by the client connection when `deadlineCheckAt` has come: a limit ran out
    /// (504 or abort), or the next one is asked for. Activity only moves a timestamp, so a busy
    /// request re-arms about once per idle period.
    func checkDeadlines() {
        deadlineCheckAt = .distantFuture
        perform(machine.deadlineReached(now: eventLoop.now))
        rearmDeadlineCheck()
    }

    func cancelTimers() {
        deadlineCheckAt = .distantFuture
    }
}
