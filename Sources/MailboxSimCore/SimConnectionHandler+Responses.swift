import NIOCore
import NIOHTTP1

extension SimConnectionHandler {
    /// Carries out the current request's plan once its body has been read.
    func respond(context: ChannelHandlerContext) {
        guard let request = current else { return }
        switch request.plan {
        case .respond(let response):
            send(response, context: context)
        case .echo:
            send(echoResponse(request), context: context)
        case .hashBody:
            let digest = request.hasher?.finalize() ?? ""
            let json = SimJSON.object([("bytes", String(request.bodyBytes)), ("sha256", SimJSON.string(digest))])
            send(SimResponse(.ok, contentType: "application/json", text: json + "\n"), context: context)
        case .hold(let seconds, let response):
            timer = context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(seconds * 1e9))) { [self] in
                timer = nil
                send(response, context: context)
            }
        case .notificationWait(let interval, let duration):
            startNotificationWait(interval: interval, duration: duration, context: context)
        case .stream(let bytes, let contentType, let headers):
            startStream(bytes: bytes, contentType: contentType, headers: headers, context: context)
        }
    }

    /// The response head for the current request: the connection's common headers, then `headers`.
    func responseHead(status: HTTPResponseStatus, headers: [(String, String)], contentLength: UInt64?) -> HTTPResponseHead {
        var head = HTTPResponseHead(version: current?.head.version ?? .http1_1, status: status)
        for (name, value) in current?.responseHeaders ?? [] { head.headers.add(name: name, value: value) }
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        if let contentLength { head.headers.add(name: "Content-Length", value: String(contentLength)) }
        return head
    }

    /// Sends a complete response (no body for HEAD requests) and finishes the request.
    func send(_ response: SimResponse, context: ChannelHandlerContext) {
        guard let request = current else { return }
        let head = responseHead(status: response.status, headers: response.headers, contentLength: UInt64(response.body.count))
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if !request.isHead, !response.body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))), promise: nil)
        }
        finishResponse(context: context)
    }

    /// The `sim-echo` answer: method, target, version and every header exactly as received.
    func echoResponse(_ request: InFlight) -> SimResponse {
        let headers = request.head.headers.map { SimJSON.array([SimJSON.string($0.name), SimJSON.string($0.value)]) }
        let json = SimJSON.object([
            ("method", SimJSON.string(request.head.method.rawValue)),
            ("uri", SimJSON.string(request.head.uri)),
            ("version", SimJSON.string("\(request.head.version)")),
            ("headers", SimJSON.array(headers)),
            ("bodyBytes", String(request.bodyBytes)),
            ("server", SimJSON.string(configuration.name)),
            ("connection", String(connectionID))
        ])
        return SimResponse(.ok, contentType: "application/json", text: json + "\n")
    }

    /// MAPI NotificationWait: the head at once, a `PENDING` line every `interval` seconds for
    /// `duration` seconds (floor(duration / interval) lines), then `DONE`.
    func startNotificationWait(interval: Double, duration: Double, context: ChannelHandlerContext) {
        guard let request = current else { return }
        var headers: [(String, String)] = [
            ("Content-Type", "application/mapi-http"),
            ("Transfer-Encoding", "chunked"),
            ("X-RequestType", "NotificationWait"),
            ("X-ResponseCode", "0"),
            ("X-PendingPeriod", String(Int(interval * 1000)))
        ]
        for name in ["X-RequestId", "X-ClientInfo"] {
            if let value = request.head.headers.first(name: name) { headers.append((name, value)) }
        }
        context.writeAndFlush(
            wrapOutboundOut(.head(responseHead(status: .ok, headers: headers, contentLength: nil))),
            promise: nil)
        let ticks = Int(duration / interval + 1e-9)
        scheduleNotificationTick(1, of: ticks, start: .now(), interval: interval, context: context)
    }

    /// Schedules PENDING line `index` of `count`, deadlines measured from `start` so they do not drift.
    private func scheduleNotificationTick(
        _ index: Int, of count: Int, start: NIODeadline, interval: Double,
        context: ChannelHandlerContext
    ) {
        guard index <= count else {
            finishResponse(context: context, trailer: context.channel.allocator.buffer(string: "DONE\r\n"))
            return
        }
        let deadline = start + .nanoseconds(Int64(Double(index) * interval * 1e9))
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            guard current != nil, !isClosed else { return }
            context.writeAndFlush(
                wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: "PENDING\r\n")))),
                promise: nil)
            scheduleNotificationTick(index + 1, of: count, start: start, interval: interval, context: context)
        }
    }
}
