import COpenSSL

/// ALPN protocol lists: validation, the wire format OpenSSL wants, and server-side selection.
/// One instance per store/context, kept alive by its owner for as long as its `SSL_CTX`s, because
/// the select callback receives it as an unretained pointer.
final class ALPNList: @unchecked Sendable {
    /// Protocols in preference order, as bytes.
    let protocols: [[UInt8]]
    /// Length-prefixed wire form ("\x02h2\x08http/1.1").
    let wire: [UInt8]

    /// Validates names (1-255 bytes each, at least one).
    init(_ names: [String]) throws {
        var protocols: [[UInt8]] = []
        var wire: [UInt8] = []
        for name in names {
            let bytes = Array(name.utf8)
            guard (1...255).contains(bytes.count) else {
                throw TLSError(.configuration, "ALPN: protocol name \"\(name)\" must be 1 to 255 bytes")
            }
            protocols.append(bytes)
            wire.append(UInt8(bytes.count))
            wire.append(contentsOf: bytes)
        }
        self.protocols = protocols
        self.wire = wire
    }

    /// Server preference: the first of our protocols that the client's wire list `offered` contains.
    /// Returns the range inside `offered` (pitfall 3: the out pointer may point into the client's
    /// list, which stays valid for the duration of the callback).
    func select(offered: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        for ours in protocols {
            var index = 0
            while index < offered.count {
                let length = Int(offered[index])
                let start = index + 1
                guard start + length <= offered.count else { return nil }  // malformed list
                if length == ours.count && ours.elementsEqual(offered[start..<start + length]) {
                    return start..<start + length
                }
                index = start + length
            }
        }
        return nil
    }

    /// Installs the server-side select callback on `context` (pitfall 2: call on EVERY context).
    func installSelectCallback(on context: TLSContext) {
        // Unretained: the owner (store) keeps this list alive at least as long as its contexts
        // are used by connections (each connection holds the store strongly).
        SSL_CTX_set_alpn_select_cb(context.ctx, alpnSelectCallback, Unmanaged.passUnretained(self).toOpaque())
    }
}

/// The C ALPN select callback: recovers the `ALPNList` from `arg` and asks it.
/// Returns SSL_TLSEXT_ERR_OK with a selection, or SSL_TLSEXT_ERR_NOACK so the handshake proceeds
/// without ALPN when nothing overlaps (the connection then runs HTTP/1.1).
private let alpnSelectCallback:
    @convention(c) (
        OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, UnsafeMutablePointer<UInt8>?,
        UnsafePointer<UInt8>?, UInt32, UnsafeMutableRawPointer?
    ) -> Int32 = { _, out, outLength, offered, offeredLength, arg in
        guard let arg, let out, let outLength, let offered else { return SSL_TLSEXT_ERR_NOACK }
        let list = Unmanaged<ALPNList>.fromOpaque(arg).takeUnretainedValue()
        let buffer = UnsafeBufferPointer(start: offered, count: Int(offeredLength))
        guard let range = list.select(offered: buffer) else { return SSL_TLSEXT_ERR_NOACK }
        out.pointee = offered + range.lowerBound
        outLength.pointee = UInt8(range.count)
        return SSL_TLSEXT_ERR_OK
    }
