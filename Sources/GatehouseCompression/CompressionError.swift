/// An error from compressing or decompressing a body.
///
/// A struct rather than an enum so new codes can be added without breaking callers.
public struct CompressionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, independent of the wording of `detail`.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: Hashable {
            case invalidArgument, outOfMemory, corruptData, outputLimitExceeded
            case streamFinished, incompatibleLibrary, internalError
        }

        private let base: Base

        /// A parameter was out of range (for example a compression level outside 0...9).
        public static let invalidArgument = Code(base: .invalidArgument)
        /// zlib could not allocate its state.
        public static let outOfMemory = Code(base: .outOfMemory)
        /// Compressed input is not a valid gzip/zlib stream (bad header, checksum, or block).
        public static let corruptData = Code(base: .corruptData)
        /// Decompressed output would exceed the limit given to the `Inflater`.
        public static let outputLimitExceeded = Code(base: .outputLimitExceeded)
        /// Data was passed after the stream was finished; call `reset()` first.
        public static let streamFinished = Code(base: .streamFinished)
        /// The zlib library loaded at run time is incompatible with the headers compiled against.
        public static let incompatibleLibrary = Code(base: .incompatibleLibrary)
        /// zlib reported an inconsistent stream state: a bug in Gatehouse, not in the data.
        public static let internalError = Code(base: .internalError)

        public var description: String {
            switch base {
            case .invalidArgument: "invalid argument"
            case .outOfMemory: "out of memory"
            case .corruptData: "corrupt compressed data"
            case .outputLimitExceeded: "output limit exceeded"
            case .streamFinished: "stream already finished"
            case .incompatibleLibrary: "incompatible zlib library"
            case .internalError: "internal error"
            }
        }
    }

    /// The kind of failure.
    public var code: Code
    /// Human-readable detail, e.g. zlib's own message ("incorrect header check").
    public var detail: String

    /// Creates an error with a code and a detail message.
    public init(_ code: Code, detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "CompressionError(\(code)): \(detail)" }
}
