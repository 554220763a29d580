extension HTTP1RequestDecoder {
    /// Size limits, so that a client cannot make the decoder buffer without bound. Bodies have no
    /// limit here: they stream through as slices and never accumulate.
    public struct Limits: Sendable, Hashable {
        /// The longest request line or field line, without its CRLF (Kerberos tokens are big: 64 KiB).
        public var maxFieldLineBytes: Int
        /// The largest request head: request line, field lines and their CRLFs.
        public var maxHeadBytes: Int
        /// The most field lines in a head (and, separately, in a trailer section).
        public var maxFieldCount: Int
        /// The longest chunk-size line, extensions included (they are read and ignored).
        public var maxChunkLineBytes: Int
        /// The largest trailer section.
        public var maxTrailerBytes: Int

        /// Limits; the defaults suit an Exchange front end.
        public init(
            maxFieldLineBytes: Int = 64 * 1024, maxHeadBytes: Int = 256 * 1024, maxFieldCount: Int = 500,
            maxChunkLineBytes: Int = 4 * 1024, maxTrailerBytes: Int = 64 * 1024
        ) {
            self.maxFieldLineBytes = maxFieldLineBytes
            self.maxHeadBytes = maxHeadBytes
            self.maxFieldCount = maxFieldCount
            self.maxChunkLineBytes = maxChunkLineBytes
            self.maxTrailerBytes = maxTrailerBytes
        }
    }
}
