import CZlib

/// zlib's `int` return codes as a Swift enum, so the rest of the module never compares raw integers.
///
/// Which codes are fatal depends on the call: `Z_BUF_ERROR` from `deflate`/`inflate` only means
/// "no progress was possible" and is not an error, so each caller decides; see `Deflater` and
/// `Inflater`.
enum ZlibReturnCode: Equatable {
    case ok
    case streamEnd
    case needDictionary
    case errno
    case streamError
    case dataError
    case memoryError
    case bufferError
    case versionError
    case unknown(Int32)

    /// Maps a raw zlib return value.
    init(_ raw: Int32) {
        switch raw {
        case Z_OK: self = .ok
        case Z_STREAM_END: self = .streamEnd
        case Z_NEED_DICT: self = .needDictionary
        case Z_ERRNO: self = .errno
        case Z_STREAM_ERROR: self = .streamError
        case Z_DATA_ERROR: self = .dataError
        case Z_MEM_ERROR: self = .memoryError
        case Z_BUF_ERROR: self = .bufferError
        case Z_VERSION_ERROR: self = .versionError
        default: self = .unknown(raw)
        }
    }

    /// The public error for a code that the caller has decided is fatal.
    ///
    /// - Parameter message: zlib's `msg` for this stream, which is only set for some errors.
    func error(operation: String, message: UnsafePointer<CChar>?) -> CompressionError {
        let zlibText = message.map { String(cString: $0) }
        func detail(_ fallback: String) -> String {
            "\(operation): \(zlibText ?? fallback)"
        }
        switch self {
        case .dataError: return CompressionError(.corruptData, detail: detail("invalid compressed data"))
        case .needDictionary:
            return CompressionError(.corruptData, detail: detail("stream requires a preset dictionary"))
        case .memoryError: return CompressionError(.outOfMemory, detail: detail("zlib could not allocate memory"))
        case .versionError:
            return CompressionError(.incompatibleLibrary, detail: detail("zlib version mismatch"))
        case .bufferError:
            return CompressionError(.corruptData, detail: detail("input ended before the end of the stream"))
        case .ok, .streamEnd, .errno, .streamError, .unknown:
            return CompressionError(.internalError, detail: detail("unexpected zlib result \(self)"))
        }
    }
}
