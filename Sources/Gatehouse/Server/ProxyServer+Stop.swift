import NIOCore

extension ProxyServer {
    /// Graceful stop: stops accepting on every listener, asks every client connection to finish
    /// (GOAWAY on HTTP/2, `Connection: close` on the next HTTP/1.1 response, idle keep-alive
    /// connections closed at once), waits up to `grace` for the requests in flight, then closes
    /// what is left and the idle backend connections. Returns how many client connections were
    /// still open when the grace period ended (0: everything finished).
    public func stop(grace: Duration) async -> Int {
        isStopping.withLockedValue { $0 = true }
        let listeners = bound.withLockedValue { current in
            defer { current.removeAll() }
            return current
        }
        for listener in listeners {
            try? await listener.channel.close()
        }
        let trackers = listeners.map(\.connections) + retired.withLockedValue { $0 }
        let open = trackers.reduce(0) { $0 + $1.openCount }
        if open > 0 {
            logger.info(
                "stopping: no longer accepting; waiting for requests in flight",
                metadata: ["connections": "\(open)", "shutdown_grace": "\(grace)"])
        }
        let loop = group.next()
        let drained = EventLoopFuture.andAllComplete(trackers.map { $0.drain(on: loop) }, on: loop)
        let cut = await withTaskGroup(of: Bool.self) { tasks -> Int in
            tasks.addTask { (try? await drained.get()) != nil }
            tasks.addTask {
                try? await Task.sleep(for: grace)
                return false
            }
            let finished = await tasks.next() ?? false
            var remaining = 0
            if !finished {
                // Grace is over: cut what is left (which also completes `drained`).
                remaining = trackers.reduce(0) { $0 + $1.openCount }
                for tracker in trackers { tracker.closeAll() }
            }
            tasks.cancelAll()
            return remaining
        }
        if cut > 0 {
            logger.warning(
                "shutdown_grace is over; closing the connections still open",
                metadata: [
                    "connections": "\(cut)", "shutdown_grace": "\(grace)"
                ])
        }
        pools.closeAll()
        return cut
    }
}
