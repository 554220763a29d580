import CZlib

/// Facts about the zlib library Gatehouse is linked against.
public enum ZlibLibrary {
    /// The version text zlib reports, e.g. "1.2.13".
    public static var versionText: String { String(cString: zlibVersion()) }
}
