import CNGHTTP2

/// Facts about the nghttp2 library Gatehouse is linked against.
public enum NGHTTP2Library {
    /// The version text nghttp2 reports, e.g. "1.52.0".
    public static var versionText: String {
        guard let info = nghttp2_version(0) else { return "unknown" }
        return String(cString: info.pointee.version_str)
    }
    /// RFC 9113's default initial flow-control window (a macro in nghttp2.h, read through the shim).
    public static var defaultInitialWindowSize: Int32 { CNGHTTP2_initial_window_size() }
}
