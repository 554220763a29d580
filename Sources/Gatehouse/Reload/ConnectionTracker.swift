import NIOConcurrencyHelpers
import NIOCore

/// The open client connections of one listening socket, so they can be drained when the listener
/// goes away (a reload that removes it, a graceful stop): each connection is asked to finish with
/// NIO's `ChannelShouldQuiesceEvent` — `HTTPServerPipelineHandler` then answers the request in
/// flight with `Connection: close` and closes an idle keep-alive connection, `HTTP2ServerHandler`
/// sends GOAWAY and closes once its streams are done, a connection still in its TLS handshake is
/// closed. Control plane: touched once per accepted and closed connection.
final class ConnectionTracker: Sendable {
    private struct State {
        var book = DrainBook<ObjectIdentifier>()
        var channels: [ObjectIdentifier: Channel] = [:]
        var waiters: [EventLoopPromise<Void>] = []
    }

    private let state = NIOLockedValueBox(State())

    init() {}

    /// Counts an accepted connection until it closes; false (the caller closes it, and releases
    /// `cap` itself) once draining. An admitted connection's place in `cap` is released by the same
    /// close callback that forgets it here: one callback per connection, not one each.
    func admit(_ channel: Channel, releasing cap: ConnectionCap? = nil) -> Bool {
        let id = ObjectIdentifier(channel)
        let admitted = state.withLockedValue { state -> Bool in
            guard state.book.opened(id) else { return false }
            state.channels[id] = channel
            return true
        }
        guard admitted else { return false }
        channel.closeFuture.whenComplete { [self] _ in
            cap?.release()
            let waiters = state.withLockedValue { state -> [EventLoopPromise<Void>] in
                state.channels[id] = nil
                guard state.book.closed(id) else { return [] }
                defer { state.waiters.removeAll() }
                return state.waiters
            }
            waiters.forEach { $0.succeed() }
        }
        return true
    }

    /// Asks every open connection to finish its requests and close; the future completes when
    /// the last one has closed (at once when none is open).
    func drain(on loop: EventLoop) -> EventLoopFuture<Void> {
        let promise = loop.makePromise(of: Void.self)
        let (channels, drained) = state.withLockedValue { state -> ([Channel], Bool) in
            let (ids, drained) = state.book.beginDraining()
            if !drained { state.waiters.append(promise) }
            return (ids.compactMap { state.channels[$0] }, drained)
        }
        for channel in channels {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
        if drained { promise.succeed() }
        return promise.futureResult
    }

    /// Closes whatever is still open (the grace period is over).
    func closeAll() {
        let channels = state.withLockedValue { Array($0.channels.values) }
        for channel in channels { channel.close(promise: nil) }
    }

    /// Connections open now.
    var openCount: Int { state.withLockedValue { $0.channels.count } }
}
