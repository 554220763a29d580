import GatehouseCompression
import GatehouseHTTP2
import GatehouseTLS
import Testing

/// Proves that all three system C libraries link and that each module's shim works.
@Suite struct CLibrariesTests {
    @Test func openSSLIsVersion3() {
        #expect(OpenSSLLibrary.versionText.hasPrefix("OpenSSL 3."))
        #expect(OpenSSLLibrary.versionNumber >> 28 == 3)
    }

    @Test func nghttp2ReportsVersionAndWindowMacro() {
        #expect(NGHTTP2Library.versionText.split(separator: ".").count == 3)
        // RFC 9113 section 6.9.2: the initial window is 2^16 - 1.
        #expect(NGHTTP2Library.defaultInitialWindowSize == 65_535)
    }

    @Test func zlibReportsVersion() {
        #expect(ZlibLibrary.versionText.hasPrefix("1."))
    }
}
