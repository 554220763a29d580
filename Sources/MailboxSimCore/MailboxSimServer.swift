import GatehouseHTTP1
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A running simulator: a listening socket whose connections each get
/// `[TLS] -> HTTP1RequestDecoder -> HTTPResponseEncoder -> SimConnectionHandler`.
public final class MailboxSimServer: Sendable {
    /// Makes the TLS handler for one accepted connection (the first handler in its pipeline).
    public typealias TLSHandlerFactory = @Sendable () throws -> any ChannelHandler

    public let configuration: SimConfiguration
    /// Maintenance switches and counters, shared with the connections.
    public let state: SimState
    /// The port actually bound (useful when the configuration asked for port 0).
    public let port: Int
    /// Whether connections are TLS (`https`) or plain (`http`).
    public let usesTLS: Bool
    private let serverChannel: any Channel
    /// Open connections by id, so `close()` can end them (a held Ping would otherwise outlive the server).
    private let connections: NIOLockedValueBox<[Int: any Channel]>

    private init(
        configuration: SimConfiguration, state: SimState, port: Int, usesTLS: Bool,
        serverChannel: any Channel, connections: NIOLockedValueBox<[Int: any Channel]>
    ) {
        self.configuration = configuration
        self.state = state
        self.port = port
        self.usesTLS = usesTLS
        self.serverChannel = serverChannel
        self.connections = connections
    }

    /// Binds and starts serving. With `tls` nil the server speaks plain HTTP (`--plain`).
    public static func start(
        configuration: SimConfiguration, tls: TLSHandlerFactory?,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> MailboxSimServer {
        let state = SimState()
        let router = SimRouter(configuration: configuration, state: state)
        let connections = NIOLockedValueBox<[Int: any Channel]>([:])
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.tcpOption(.tcp_nodelay), value: 1)  // accepted sockets inherit it
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        if let tls { try pipeline.addHandler(tls()) }
                        try pipeline.addHandler(ByteToMessageHandler(HTTP1RequestDecoder()))
                        try pipeline.addHandler(HTTPResponseEncoder())
                        let handler = SimConnectionHandler(router: router)
                        try pipeline.addHandler(handler)
                        let id = handler.connectionID
                        connections.withLockedValue { $0[id] = channel }
                        channel.closeFuture.whenComplete { _ in
                            _ = connections.withLockedValue { $0.removeValue(forKey: id) }
                        }
                    }
                }
                .bind(host: configuration.host, port: configuration.port)
                .get()
        } catch {
            throw SimError("cannot listen on \(configuration.host):\(configuration.port): \(error)")
        }
        let port = channel.localAddress?.port ?? configuration.port
        return MailboxSimServer(
            configuration: configuration, state: state, port: port, usesTLS: tls != nil,
            serverChannel: channel, connections: connections)
    }

    /// The base URL, e.g. `https://127.0.0.1:9444`.
    public var url: String {
        let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
        return "\(usesTLS ? "https" : "http")://\(host):\(port)"
    }

    /// The one line printed when listening: `mailbox-sim mbx01 ready on https://127.0.0.1:9444`.
    public var readyLine: String { "mailbox-sim \(configuration.name) ready on \(url)" }

    /// Stops listening and closes every open connection.
    public func close() async {
        try? await serverChannel.close()
        let open = connections.withLockedValue { Array($0.values) }
        for channel in open { try? await channel.close() }
    }
}
