import NIOCore
import NIOHTTP1

// MARK: - The request towards the backend
//
// Head, body and end written to the backend connection, and when they are flushed.

extension ProxiedRequest {
    /// Connected: the backend request head, what queued while connecting, one flush.
    func sendRequest(queued: [ByteBuffer], end: Bool, trailers: HTTPHeaders?) {
        guard let connection, let backendHead else { return }
        connection.write(.head(backendHead))
        for buffer in queued { forwardBody(buffer) }
        if end {
            connection.write(.end(trailers))
            rearmDeadlineCheck()
        }
        flushNow(connection)
        perform(machine.backendWritable(connection.isWritable))
    }

    /// Most body bytes written to the backend before a flush within a read batch (up to 16 reads
    /// of 64 KiB). Held for a whole batch, an upload's decrypted reads, the batch's ciphertext and
    /// its copy lived together (3 MiB per MiB uploaded) and glibc gave them back to the kernel
    /// between batches, so every page was faulted in again: most of the CPU gap to nginx. Flushed
    /// every 64 KiB, a read is encrypted and released before the next, whose plaintext reuses it.
    static let backendFlushBytes = 64 * 1024

    /// Writes one body part to the backend (the client stream credits it as its protocol wants);
    /// flushed at the end of the read batch, or at once when `backendFlushBytes` are waiting.
    func forwardBody(_ buffer: ByteBuffer) {
        guard let connection else { return }
        unflushedBodyBytes += buffer.readableBytes
        client.forwardBody(buffer, to: connection)
        if unflushedBodyBytes >= Self.backendFlushBytes {
            flushNow(connection)
        } else {
            handler.scheduleBackendFlush(self)
        }
        if !connection.isWritable { perform(machine.backendWritable(false)) }
    }

    /// The read batch's one flush of what was written to the backend (nothing when an early flush
    /// took it all).
    func flushBackend() {
        backendFlushScheduled = false
        guard backendWritesPending else { return }
        flushNow(connection)
    }

    /// Flushes what was written to the backend; nothing is waiting for the batch's flush after it.
    private func flushNow(_ connection: BackendConnection?) {
        backendWritesPending = false
        unflushedBodyBytes = 0
        connection?.flush()
    }
}
