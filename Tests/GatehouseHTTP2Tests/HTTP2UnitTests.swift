import NIOCore
import NIOHTTP1
import Testing

@testable import GatehouseHTTP2

/// Pieces that need no socket: defaults, the connection state machine, header-block building.
@Suite("HTTP2 units")
struct HTTP2UnitTests {
    @Test("settings defaults are the documented safe limits")
    func settingsDefaults() {
        let settings = HTTP2Settings()
        #expect(settings.maxConcurrentStreams == 100)
        #expect(settings.maxHeaderListSize == 256 * 1024)
        #expect(settings.initialStreamWindowSize == 64 << 10)  // what an HTTP/1.1 request may queue
        #expect(settings.connectionWindowSize > settings.initialStreamWindowSize)
        #expect(settings.streamBufferLowWatermark < settings.streamBufferHighWatermark)
        #expect(settings.maxContinuations > 0 && settings.streamResetBurst > 0)
    }

    @Test("state machine: start once, drain once, close once")
    func stateMachine() {
        var machine = HTTP2ServerHandler.StateMachine()
        #expect(!machine.isServing)
        #expect(machine.beginDraining() == .none)
        #expect(machine.channelReady() == .start)
        #expect(machine.channelReady() == .none)
        #expect(machine.isServing)
        #expect(machine.beginDraining() == .sendGoaway)
        #expect(machine.beginDraining() == .none)
        #expect(machine.isServing)
        #expect(machine.sessionFinished() == .close)
        #expect(machine.sessionFinished() == .none)
        #expect(!machine.isServing)
    }

    @Test("response header block: :status first, names lowercased, connection-specific fields dropped")
    func headerBlock() throws {
        let session = try HTTP2Session(settings: HTTP2Settings(), allocator: ByteBufferAllocator())
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/html")
        headers.add(name: "Connection", value: "close")
        headers.add(name: "Keep-Alive", value: "timeout=5")
        headers.add(name: "Proxy-Connection", value: "close")
        headers.add(name: "Transfer-Encoding", value: "chunked")
        headers.add(name: "Upgrade", value: "h2c")
        headers.add(name: "TE", value: "trailers")
        headers.add(name: "Set-Cookie", value: "a=1")
        headers.add(name: "X-BackEndCookie", value: "S-1=abc")
        var seen: [(String, String)] = []
        let rv = session.withHeaderBlock(status: 404, headers: headers) { nva, count in
            for i in 0..<count {
                let nv = nva[i]
                seen.append(
                    (
                        String(decoding: UnsafeBufferPointer(start: nv.name, count: nv.namelen), as: UTF8.self),
                        String(decoding: UnsafeBufferPointer(start: nv.value, count: nv.valuelen), as: UTF8.self)
                    ))
            }
            return 0
        }
        #expect(rv == 0)
        #expect(seen.map(\.0) == [":status", "content-type", "set-cookie", "x-backendcookie"])
        #expect(seen.map(\.1) == ["404", "text/html", "a=1", "S-1=abc"])
    }
}
