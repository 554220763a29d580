import NIOHTTP1

/// When a request whose backend connection failed may be sent to a backend again. Bodies are
/// streamed, never kept, so a request is replayable only while none of its body has left.
enum ResendRule {
    /// Backends one request may be sent to: the first choice and one resend.
    static let maxAttempts = 2

    /// What is known about the failed attempt.
    struct Attempt {
        /// Backends tried so far, this one included.
        var attempts: Int
        /// Some of the response (a head, or bytes that failed to parse) already arrived.
        var responseStarted: Bool
        /// Some request body bytes were written to the backend.
        var bodyForwarded: Bool
        /// The connection was the client's authenticated (NTLM/Negotiate) one: its identity
        /// cannot move to another connection.
        var pinned: Bool
        var method: HTTPMethod
    }

    /// Whether the request may be resent: nothing of the response arrived, no body byte left,
    /// not pinned, attempts left, and the method is idempotent (processing twice is harmless).
    /// A reused keep-alive connection is no excuse for resending a POST: the backend may have
    /// read and processed it before the connection failed, and a second copy would act twice.
    static func mayResend(_ attempt: Attempt) -> Bool {
        guard !attempt.responseStarted, !attempt.bodyForwarded, !attempt.pinned,
            attempt.attempts < maxAttempts
        else { return false }
        return isIdempotent(attempt.method)
    }

    /// RFC 9110 9.2.2: methods whose repetition has the effect of one.
    static func isIdempotent(_ method: HTTPMethod) -> Bool {
        switch method {
        case .GET, .HEAD, .OPTIONS, .PUT, .DELETE: return true
        default: return false
        }
    }
}
