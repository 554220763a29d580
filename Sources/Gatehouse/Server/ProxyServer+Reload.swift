import NIOCore

extension ProxyServer {
    /// The listener keys bound now, in configuration order (the "old" side of a `ListenerPlan`).
    var boundKeys: [ListenerPlan.Key] { bound.withLockedValue { $0.map(\.key) } }

    /// Reload, step 1: binds the listeners `plan` adds. If one cannot be bound (address in use...)
    /// the ones bound so far are closed again and the error is thrown: nothing has changed.
    func bindAdded(_ plan: ListenerPlan, specs: [ListenerSpec]) async throws -> [Bound] {
        var added: [Bound] = []
        do {
            for key in plan.bind {
                guard let spec = specs.first(where: { $0.key == key }) else { continue }
                added.append(try await bind(spec))
            }
        } catch {
            for listener in added { try? await listener.channel.close() }
            throw error
        }
        return added
    }

    /// Reload, step 2, which cannot fail: new connections and requests use `snapshot` from here
    /// on. Pools left unchanged keep their loop pools (see `LoopPoolSet`); new ones start from
    /// `views` (the health carried over). Idle backend connections of replaced pools are closed
    /// (busy ones finish their request first). Removed listeners stop accepting and their
    /// connections drain. Returns the names of the listeners bound and closed.
    func commit(
        snapshot: RuntimeSnapshot, limits: ClientLimits, views: [PoolHealthView], plan: ListenerPlan,
        added: [Bound]
    ) -> (bound: [String], closed: [String]) {
        let set = LoopPoolSet(pools: snapshot.pools, group: group, reusing: pools.currentSet, views: views)
        let environment = ProxyEnvironment(
            router: snapshot.router, pools: set, logger: logger, accessLog: accessLog, metrics: metrics, loops: group)
        let listeners = Dictionary(snapshot.listeners.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        live.replace(with: ServingState(environment: environment, listeners: listeners, limits: limits))
        let previous = pools.replace(with: set)
        previous.closeAll(except: set)

        let closing = Set(plan.close)
        let isStopping = self.isStopping
        let removed = bound.withLockedValue { current -> [Bound] in
            // Stopping meanwhile: `stop` has taken (and closes) the listeners; close the new ones.
            if isStopping.withLockedValue({ $0 }) { return added }
            let removed = current.filter { closing.contains($0.key) }
            var next: [Bound] = []
            for spec in snapshot.listeners {
                if var kept = current.first(where: { $0.key == spec.key }) ?? added.first(where: { $0.key == spec.key }) {
                    kept.name = spec.name
                    next.append(kept)
                }
            }
            current = next
            return removed
        }
        for listener in removed { retire(listener) }
        return (added.map(\.name), removed.map(\.name))
    }

    /// Stops accepting on a removed listener and drains its connections (each finishes the
    /// request in flight; keep-alive and HTTP/2 connections are told to close).
    private func retire(_ listener: Bound) {
        let connections = listener.connections
        retired.withLockedValue { $0.append(connections) }
        let logger = self.logger
        let retired = self.retired
        listener.channel.close().whenComplete { _ in
            logger.info(
                "listener closed by reload; draining its connections",
                metadata: [
                    "listener": "\(listener.name)", "connections": "\(connections.openCount)"
                ])
        }
        connections.drain(on: listener.channel.eventLoop).whenComplete { _ in
            retired.withLockedValue { $0.removeAll { $0 === connections } }
            logger.info("listener drained", metadata: ["listener": "\(listener.name)"])
        }
    }
}
