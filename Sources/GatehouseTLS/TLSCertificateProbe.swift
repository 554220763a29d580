import COpenSSL
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Fetches the certificate a TLS server presents, with one blocking handshake bounded by a
/// timeout. `gatehouse check --probe` uses it to compare a backend's real certificate (not the
/// one the configuration trusts) with the front end's. Nothing is verified: only the certificate
/// is wanted, and no application data is sent.
public enum TLSCertificateProbe {
    /// Connects to `host:port`, sends `serverName` as SNI, and returns the leaf certificate.
    /// - Throws: `TLSError(.io)` when the connection fails or times out, `.handshake` otherwise.
    public static func presentedCertificate(
        host: String, port: Int, serverName: String?, timeout: TimeInterval = 5
    ) throws -> X509Certificate {
        let fd = try connect(host: host, port: port, timeout: timeout)
        defer { close(fd) }
        OpenSSLErrorQueue.clear()
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw TLSError(.internalError, OpenSSLErrorQueue.describe("cannot create a TLS client context"))
        }
        defer { SSL_CTX_free(context) }
        SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        guard let ssl = SSL_new(context) else { throw TLSError(.internalError, "cannot create a TLS connection") }
        defer { SSL_free(ssl) }
        guard SSL_set_fd(ssl, fd) == 1 else { throw TLSError(.internalError, "cannot attach the socket") }
        if let serverName, !serverName.isEmpty { _ = COpenSSL_SSL_set_tlsext_host_name(ssl, serverName) }
        guard SSL_connect(ssl) == 1 else {
            throw TLSError(.handshake, OpenSSLErrorQueue.describe("\(host):\(port): TLS handshake failed"))
        }
        defer { _ = SSL_shutdown(ssl) }
        guard let peer = SSL_get1_peer_certificate(ssl) else {
            throw TLSError(.handshake, "\(host):\(port): the server presented no certificate")
        }
        return X509Certificate(takingOwnership: peer)
    }

    /// A connected, blocking TCP socket whose connect, reads and writes give up after `timeout`.
    private static func connect(host: String, port: Int, timeout: TimeInterval) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw TLSError(.io, "\(host):\(port): cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        var problem = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            entry = current.pointee.ai_next
            let fd = socket(current.pointee.ai_family, current.pointee.ai_socktype, current.pointee.ai_protocol)
            guard fd >= 0 else { continue }
            var limit = timeval()
            limit.tv_sec = Int(timeout)
            limit.tv_usec = .init((timeout - timeout.rounded(.down)) * 1e6)
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            // With SO_SNDTIMEO set, Linux bounds a blocking connect() by it too.
            #if canImport(Glibc)
            let connected = Glibc.connect(fd, current.pointee.ai_addr, current.pointee.ai_addrlen)
            #else
            let connected = Darwin.connect(fd, current.pointee.ai_addr, current.pointee.ai_addrlen)
            #endif
            if connected == 0 { return fd }
            problem = errno == EINPROGRESS || errno == EAGAIN ? "timed out" : String(cString: strerror(errno))
            close(fd)
        }
        throw TLSError(.io, "\(host):\(port): cannot connect: \(problem)")
    }
}
