import COpenSSL

/// Facts about the OpenSSL library Gatehouse is linked against.
public enum OpenSSLLibrary {
    /// The version text OpenSSL reports, e.g. "OpenSSL 3.0.19 27 Jan 2026".
    public static var versionText: String { String(cString: COpenSSL_OpenSSL_version_text()) }
    /// The numeric version (0xMNN00PP0L form).
    public static var versionNumber: UInt { UInt(OpenSSL_version_num()) }
}
