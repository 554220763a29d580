import ArgumentParser
import Gatehouse
import GatehouseCompression
import GatehouseHTTP2
import GatehouseTLS

/// `gatehouse version`: the Gatehouse version and the versions of the C libraries it runs on.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print the Gatehouse version and the OpenSSL, nghttp2 and zlib versions in use.",
        discussion: """
            The library versions are those of the libraries loaded at run time, which is what matters \
            for security fixes (for example an OpenSSL update installed after Gatehouse was built).

            Example:
              gatehouse version
            """)

    func run() {
        print("gatehouse \(GatehouseInfo.version)")
        print("openssl   \(OpenSSLLibrary.versionText)")
        print("nghttp2   \(NGHTTP2Library.versionText)")
        print("zlib      \(ZlibLibrary.versionText)")
    }
}
