import GatehouseTLS

/// A pass-through listener's routing, resolved against one runtime snapshot's pools: SNI host →
/// pool index, with the default for everything else. Immutable and pure, so the choice a
/// ClientHello leads to is tested without sockets.
public struct PassthroughPlan: Sendable {
    /// Where one connection goes.
    public struct Target: Sendable, Equatable {
        /// The pool's index in the snapshot's pool list.
        public var poolIndex: Int
        /// The pool's name, for the log line.
        public var poolName: String
        /// Whether a PROXY protocol v2 header goes to the backend first.
        public var sendProxyProtocol: Bool
    }

    /// What to do with a connection whose ClientHello has been read.
    public enum Decision: Sendable, Equatable {
        /// Forward to this pool; `matched` is false when the default took it.
        case forward(Target, matched: Bool)
        /// Close: nothing matched and there is no default. `reason` is for the log line.
        case close(reason: String)
    }

    private let table: ServerNameTable<Target>
    let defaultTarget: Target?
    /// How long a client has to send its whole ClientHello.
    public let clientHelloTimeout: Duration
    /// Closes a connection idle in both directions this long.
    public let idleTimeout: Duration
    /// The most bytes buffered before the SNI is known.
    public let maximumHelloBytes: Int

    /// Builds the plan from validated settings; `poolIndex` maps a pool name to its index (nil: not
    /// in the snapshot, which validation prevents).
    public init(
        _ settings: PassthroughConfiguration, poolIndex: (String) -> Int?,
        maximumHelloBytes: Int = ClientHelloPeek.defaultMaximumBytes
    ) throws {
        var table = ServerNameTable<Target>()
        func target(_ route: PassthroughRoute) throws -> Target {
            guard let index = poolIndex(route.pool) else { throw PlanError(message: "unknown pool '\(route.pool)'") }
            return Target(poolIndex: index, poolName: route.pool, sendProxyProtocol: route.sendProxyProtocol)
        }
        for route in settings.routes {
            let resolved = try target(route)
            for host in route.hosts {
                do {
                    try table.add(host, value: resolved)
                } catch {
                    throw PlanError(message: "host '\(host)': \(error == .duplicate ? "listed twice" : "not a valid SNI pattern")")
                }
            }
        }
        self.table = table
        self.defaultTarget = try settings.defaultRoute.map(target)
        self.clientHelloTimeout = settings.clientHelloTimeout
        self.idleTimeout = settings.idleTimeout
        self.maximumHelloBytes = maximumHelloBytes
    }

    /// The decision for a complete read of the ClientHello (`needMore` is not a decision; it
    /// counts as "no SNI" should the caller pass it).
    public func decide(_ hello: ClientHelloPeek.Result) -> Decision {
        let reason: String
        switch hello {
        case .serverName(let name):
            if let target = table.lookup(name) { return .forward(target, matched: true) }
            reason = "no route for SNI '\(name)'"
        case .noServerName, .needMore:
            reason = "no SNI in the ClientHello"
        case .invalid(let why):
            reason = "not a valid ClientHello: \(why)"
        case .tooLarge:
            reason = "ClientHello larger than \(maximumHelloBytes) bytes"
        }
        if let defaultTarget { return .forward(defaultTarget, matched: false) }
        return .close(reason: reason)
    }

    /// A plan that cannot be built (a bug: validation checks the same).
    struct PlanError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}
