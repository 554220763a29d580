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

    @Test("header blocks built one after another reuse the scratch and never mix fields")
    func headerBlocksInSequence() throws {
        let session = try HTTP2Session(settings: HTTP2Settings(), allocator: ByteBufferAllocator())
        func block(_ status: Int?, _ fields: [(String, String)]) -> [String]? {
            var headers = HTTPHeaders()
            for (name, value) in fields { headers.add(name: name, value: value) }
            var seen: [String]?
            _ = session.withHeaderBlock(status: status, headers: headers) { nva, count in
                seen = (0..<count).map { i in
                    let nv = nva[i]
                    let name = String(decoding: UnsafeBufferPointer(start: nv.name, count: nv.namelen), as: UTF8.self)
                    let value = String(decoding: UnsafeBufferPointer(start: nv.value, count: nv.valuelen), as: UTF8.self)
                    return "\(name)=\(value)"
                }
                return 0
            }
            return seen
        }
        let long = String(repeating: "V", count: 5000)
        #expect(
            block(200, [("X-MS-Diagnostics-1Z", long), ("WWW-Authenticate", "Negotiate"), ("Connection", "x")])
                == [":status=200", "x-ms-diagnostics-1z=\(long)", "www-authenticate=Negotiate"])
        // Trailers (no status), after a longer block: nothing of the first remains.
        #expect(block(nil, [("Grpc-Status", "0"), ("X-Name", "välue")]) == ["grpc-status=0", "x-name=välue"])
        // Only connection-specific fields, no status: nothing to send, `body` is not called.
        #expect(block(nil, [("Keep-Alive", "5"), ("TE", "trailers")]) == nil)
        #expect(block(1234, []) == [":status=999"])
    }
}
