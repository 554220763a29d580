import Logging

extension GatehouseServer {
    /// Re-reads and validates the whole configuration file, builds the whole runtime (certificates,
    /// trust, routes) and binds new listeners; only when all of that succeeded does the new
    /// configuration serve (see `ProxyServer.commit`). On any error nothing changes and every
    /// error is logged as `gatehouse check` prints it. Reloads run one at a time.
    public func reload(trigger: String = "api") async -> ReloadOutcome {
        await reloads.reload(trigger: trigger)
    }

    func performReload(trigger: String) async -> ReloadOutcome {
        let (old, oldSnapshot) = current.withLockedValue { $0 }
        logger.info("reloading the configuration", metadata: ["trigger": "\(trigger)", "file": "\(old.sourcePath)"])
        let configuration: GatehouseConfiguration
        var warnings: [String]
        switch source(old.sourcePath) {
        case .refused(let errors, let loadWarnings):
            return refuse(errors, warnings: loadWarnings)
        case .loaded(let loaded, let loadWarnings):
            configuration = loaded
            warnings = loadWarnings
        }
        let snapshot: RuntimeSnapshot
        do {
            snapshot = try RuntimeSnapshot(configuration: configuration, reusing: oldSnapshot)
        } catch let error as RuntimeBuildError {
            return refuse(error.description.split(separator: "\n").map(String.init), warnings: warnings)
        } catch {
            return refuse(["error: \(error)"], warnings: warnings)
        }
        let plan = ListenerPlan(old: proxy.boundKeys, new: snapshot.listeners.map(\.key))
        let added: [ProxyServer.Bound]
        do {
            added = try await proxy.bindAdded(plan, specs: snapshot.listeners)
        } catch {
            return refuse(["error: cannot bind a listener the new configuration adds: \(error)"], warnings: warnings)
        }

        // From here nothing can fail.
        checker.cancelProbes()
        let (_, views) = health.replace(pools: snapshot.pools, fronts: snapshot.bindingFronts)
        let changed = proxy.commit(
            snapshot: snapshot, limits: configuration.limits, views: views, plan: plan,
            added: added)
        // A drain set through the admin endpoint while the sets were swapped reaches the new one.
        proxy.pools.publish(health.currentViews())
        checker.start()
        current.withLockedValue { $0 = (configuration, snapshot) }

        warnings += snapshot.warnings + RestartOnlySettings.changes(from: old, to: configuration)
        for warning in warnings { logger.warning("\(warning)") }
        let reused = snapshot.pools.filter { pool in oldSnapshot.pools.contains { $0 === pool } }.count
        logger.info(
            "configuration reloaded",
            metadata: [
                "trigger": "\(trigger)", "listeners_kept": "\(plan.keep.count)",
                "listeners_bound": "\(changed.bound.joined(separator: ","))",
                "listeners_closed": "\(changed.closed.joined(separator: ","))",
                "pools_unchanged": "\(reused)", "pools_rebuilt": "\(snapshot.pools.count - reused)"
            ])
        onReload(true)
        return ReloadOutcome(
            applied: true, warnings: warnings, listenersBound: changed.bound,
            listenersClosed: changed.closed)
    }

    private func refuse(_ errors: [String], warnings: [String]) -> ReloadOutcome {
        for warning in warnings { logger.warning("\(warning)") }
        for error in errors { logger.error("\(error)") }
        logger.error("reload refused; the running configuration is unchanged")
        onReload(false)
        return ReloadOutcome(applied: false, errors: errors, warnings: warnings)
    }
}
