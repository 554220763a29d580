import GatehouseHTTP2
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// What the test application observed, shared with the test body across threads.
final class Recorder: Sendable {
    struct State {
        var uris: [String] = []
        var heads: [HTTPRequestHead] = []
        var resets: Set<Int32> = []
        var pausedStreams: Set<Int32> = []
        var trailers: [HTTPHeaders] = []
        /// Write promises handed to the handler, completed (either way), and failed.
        var startedWrites = 0
        var completedWrites = 0
        var failedWrites = 0
    }
    let state = NIOLockedValueBox(State())
    var snapshot: State { state.withLockedValue { $0 } }
}

/// A plaintext HTTP/2 (prior knowledge) server on 127.0.0.1:0: `HTTP2ServerHandler` + `TestApp`.
final class TestServer: Sendable {
    let group: MultiThreadedEventLoopGroup
    let channel: Channel
    let recorder: Recorder
    var port: Int { channel.localAddress!.port! }

    private init(group: MultiThreadedEventLoopGroup, channel: Channel, recorder: Recorder) {
        self.group = group
        self.channel = channel
        self.recorder = recorder
    }

    /// Starts a server with the given HTTP/2 settings.
    static func start(settings: HTTP2Settings = HTTP2Settings(), threads: Int = 1) async throws -> TestServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let recorder = Recorder()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.tcpOption(.tcp_nodelay), value: 1)  // accepted sockets inherit it
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(HTTP2ServerHandler(settings: settings))
                    try channel.pipeline.syncOperations.addHandler(TestApp(recorder: recorder))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return TestServer(group: group, channel: channel, recorder: recorder)
    }

    /// Closes the listener and stops the event loops.
    func stop() async throws {
        try? await channel.close()
        try await group.shutdownGracefully()
    }
}

/// The deterministic body byte at `offset` of every download: easy to verify, not all equal.
@inline(__always)
func patternByte(_ offset: Int) -> UInt8 { UInt8(offset % 251) }
