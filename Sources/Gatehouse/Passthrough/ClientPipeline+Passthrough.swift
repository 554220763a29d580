import NIOCore

extension ClientPipeline {
    /// A pass-through listener's pipeline: the idle clock (no byte either way for the plan's
    /// `idle_timeout` closes the connection; on the client channel it sees both directions, as
    /// reads and writes) and the ClientHello reader, which splices the connection to a backend.
    static func configurePassthrough(
        channel: Channel, plan: PassthroughPlan, environment: ProxyEnvironment, listener: String,
        client: ConnectionClientAddress
    ) throws {
        // Half-close must reach the splice (a client that shuts its output still reads the reply).
        try channel.syncOptions?.setOption(.allowRemoteHalfClosure, value: true)
        let record = PassthroughRecord(
            listener: listener, client: client.address.map { "\($0)" } ?? "?", logger: environment.logger,
            metrics: environment.metrics)
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(IdleStateHandler(allTimeout: TimeAmount(plan.idleTimeout)))
        try sync.addHandler(
            PassthroughHandler(
                plan: plan, pools: environment.pools, client: client, record: record, logger: environment.logger))
    }
}
