import COpenSSL
import NIOCore

/// A custom OpenSSL BIO connecting an `SSL` to NIO ByteBuffers without intermediate copies:
/// its read side serves the ciphertext the channel just received (straight out of NIO's buffer),
/// its write side appends ciphertext to a ByteBuffer that is handed to the channel as it is.
///
/// Compared with memory BIOs this saves one copy in each direction and, more importantly, keeps
/// no buffers alive on idle connections (a memory BIO keeps its largest size forever).
///
/// The `BIO*` is owned by the `SSL` once attached (`SSL_set_bio`, one reference for both
/// directions); this object is owned by the `TLSConnection` that owns that `SSL`, so it outlives
/// every callback. The BIO finds this object through `BIO_get_data` (unretained).
final class ByteBufferBIO {
    let bio: OpaquePointer
    private let allocator: ByteBufferAllocator
    /// Ciphertext received but not yet consumed by the SSL.
    private(set) var inbound: ByteBuffer?
    /// Ciphertext produced by the SSL, not yet taken by the handler.
    private(set) var outbound: ByteBuffer?

    /// Creates the BIO and points its data at this object (unretained; see the type's doc).
    init(allocator: ByteBufferAllocator) throws {
        guard let bio = BIO_new(ByteBufferBIOMethod.shared.method) else {
            throw TLSError(.internalError, OpenSSLErrorQueue.describe("cannot allocate the ByteBuffer BIO"))
        }
        self.bio = bio
        self.allocator = allocator
        BIO_set_data(bio, Unmanaged.passUnretained(self).toOpaque())
        BIO_set_init(bio, 1)
    }

    /// Hands received ciphertext to the SSL. Leftovers (rare: the SSL stopped mid-buffer) are kept
    /// in front of the new bytes.
    func receive(_ buffer: ByteBuffer) {
        guard buffer.readableBytes > 0 else { return }
        if var pending = inbound, pending.readableBytes > 0 {
            var incoming = buffer
            pending.writeBuffer(&incoming)
            inbound = pending
        } else {
            inbound = buffer
        }
    }

    /// Bytes of ciphertext waiting for the network.
    var outboundBytes: Int { outbound?.readableBytes ?? 0 }

    /// Room left in the outbound buffer before it must grow.
    var outboundRoom: Int { outbound?.writableBytes ?? 0 }

    /// Makes room for `bytes` more ciphertext up front (avoids regrowing during a large SSL_write).
    func reserveOutbound(_ bytes: Int) {
        if outbound == nil {
            outbound = allocator.buffer(capacity: bytes)
        } else if outbound!.writableBytes < bytes {
            outbound!.reserveCapacity(minimumWritableBytes: bytes)
        }
    }

    /// Takes all produced ciphertext.
    func takeOutbound() -> ByteBuffer? {
        defer { outbound = nil }
        guard let buffer = outbound, buffer.readableBytes > 0 else { return nil }
        return buffer
    }

    /// BIO read: copy up to `count` bytes of received ciphertext; nothing left means "retry".
    fileprivate func read(into destination: UnsafeMutableRawPointer, count: Int) -> Int {
        guard var buffer = inbound, buffer.readableBytes > 0 else {
            inbound = nil
            return 0
        }
        let copied = min(count, buffer.readableBytes)
        buffer.withUnsafeReadableBytes { source in
            destination.copyMemory(from: source.baseAddress!, byteCount: copied)
        }
        buffer.moveReaderIndex(forwardBy: copied)
        // Drop the reference when done so NIO can reuse its receive buffer.
        inbound = buffer.readableBytes > 0 ? buffer : nil
        return copied
    }

    /// BIO write: append to the outbound buffer (never short, never blocking).
    fileprivate func write(from source: UnsafeRawPointer, count: Int) {
        if outbound == nil { outbound = allocator.buffer(capacity: max(count, 4096)) }
        outbound!.writeBytes(UnsafeRawBufferPointer(start: source, count: count))
    }
}

/// The process-wide `BIO_METHOD` for `ByteBufferBIO` (created once, never freed).
/// `@unchecked Sendable`: immutable after creation; OpenSSL only reads it.
final class ByteBufferBIOMethod: @unchecked Sendable {
    static let shared = ByteBufferBIOMethod()
    let method: OpaquePointer

    /// Registers the read, write and ctrl callbacks.
    private init() {
        // BIO_get_new_index gives a fresh type number; failure here means OpenSSL is unusable.
        let type = BIO_get_new_index() | BIO_TYPE_SOURCE_SINK
        guard let method = BIO_meth_new(type, "gatehouse-bytebuffer") else {
            fatalError("OpenSSL could not create a BIO_METHOD (out of memory)")
        }
        BIO_meth_set_write_ex(method, byteBufferBIOWrite)
        BIO_meth_set_read_ex(method, byteBufferBIORead)
        BIO_meth_set_ctrl(method, byteBufferBIOCtrl)
        self.method = method
    }
}

/// Recovers the Swift owner from the BIO (unretained; see `ByteBufferBIO`).
private func owner(_ bio: OpaquePointer?) -> ByteBufferBIO? {
    guard let bio, let data = BIO_get_data(bio) else { return nil }
    return Unmanaged<ByteBufferBIO>.fromOpaque(data).takeUnretainedValue()
}

/// write_ex: returns 1 with `*written` set (always all of it), 0 on failure.
private let byteBufferBIOWrite: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, Int, UnsafeMutablePointer<Int>?) -> Int32 = {
    bio, data, length, written in
    guard let owner = owner(bio), let data else { return 0 }
    COpenSSL_BIO_clear_retry_flags(bio)
    owner.write(from: UnsafeRawPointer(data), count: length)
    written?.pointee = length
    return 1
}

/// read_ex: returns 1 with `*read` set, or 0 with the retry flag when nothing is buffered, which
/// OpenSSL reports as SSL_ERROR_WANT_READ (never EOF: end of input is signalled by NIO instead).
private let byteBufferBIORead: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?, Int, UnsafeMutablePointer<Int>?) -> Int32 = {
    bio, data, length, read in
    guard let owner = owner(bio), let data else { return 0 }
    COpenSSL_BIO_clear_retry_flags(bio)
    let copied = owner.read(into: UnsafeMutableRawPointer(data), count: length)
    read?.pointee = copied
    if copied == 0 {
        COpenSSL_BIO_set_retry_read(bio)
        return 0
    }
    return 1
}

/// ctrl: flush must succeed (the handshake flushes after each flight); pending counts answer
/// honestly; everything else is unsupported (0).
private let byteBufferBIOCtrl: @convention(c) (OpaquePointer?, Int32, Int, UnsafeMutableRawPointer?) -> Int = {
    bio, command, _, _ in
    switch command {
    case BIO_CTRL_FLUSH: return 1
    case BIO_CTRL_PENDING: return owner(bio)?.inbound?.readableBytes ?? 0
    case BIO_CTRL_WPENDING: return owner(bio)?.outboundBytes ?? 0
    default: return 0
    }
}
