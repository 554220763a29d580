/// The 421 check of one client connection (`ClientConnectionFacts.certificateCovers`): whether the
/// certificate it was served covers a request's Host, remembering the answer for the last Host
/// asked about. Keep-alive requests on a connection nearly always carry the same Host, so they
/// decide by one string comparison instead of normalising the Host again (an array and a string
/// per request, ~3,000 instructions under callgrind). One entry, so a client that varies its Host
/// costs what it did before and holds no more memory.
///
/// `@unchecked Sendable`: the closure it backs must be `@Sendable`, but it is called only from the
/// connection's event loop (by the request routing of that connection), never concurrently.
final class HostCoverageMemo: @unchecked Sendable {
    private let check: (String) -> Bool
    private var lastHost: String?
    private var lastAnswer = false

    /// `check` answers for a Host not seen last (`CertificateNames.covers(hostName:)`).
    init(_ check: @escaping (String) -> Bool) {
        self.check = check
    }

    /// Whether the certificate covers `host` (a Host header value, port allowed).
    func covers(_ host: String) -> Bool {
        if let lastHost, lastHost == host { return lastAnswer }
        let answer = check(host)
        lastHost = host
        lastAnswer = answer
        return answer
    }
}
