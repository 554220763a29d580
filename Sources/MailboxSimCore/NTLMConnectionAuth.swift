import Foundation

/// NTLM as a Windows server runs it: per TCP connection. A NEGOTIATE gets a CHALLENGE; an
/// AUTHENTICATE on the same connection, after that challenge, authenticates the connection as the
/// user it names (the password proof is not checked: the simulator has no password database).
struct NTLMConnectionAuth {
    /// Where this connection is in the handshake.
    enum State: Equatable {
        case anonymous
        case challenged(scheme: String)
        case authenticated(user: String)
    }

    /// What the handler should do with a request carrying an `Authorization` header.
    enum Outcome: Equatable {
        /// Not NTLM or Negotiate (e.g. Basic): the request stays anonymous.
        case ignored
        /// Answer 401 with `WWW-Authenticate: <value>` (a CHALLENGE) and keep the connection open.
        case challenge(wwwAuthenticate: String)
        /// The connection is now authenticated as `user`: answer the request normally, adding
        /// `WWW-Authenticate: <value>` when there is one (SPNEGO's final accept-completed token).
        case authenticated(user: String, wwwAuthenticate: String? = nil)
        /// A well-formed AUTHENTICATE that cannot be accepted (no prior challenge, anonymous): 401.
        case rejected(reason: String)
        /// A malformed token: 400 with this message.
        case malformed(reason: String)
    }

    private(set) var state = State.anonymous

    /// The user this connection is authenticated as, if any.
    var user: String? {
        if case .authenticated(let user) = state { return user }
        return nil
    }

    /// Processes one `Authorization` header value. `extendedProtection` is the mode of the virtual
    /// directory the request is for: an AUTHENTICATE whose channel binding it refuses is rejected
    /// (401 with a fresh challenge), as IIS does.
    mutating func process(
        authorization: String, configuration: SimConfiguration, now: Double,
        extendedProtection: ExtendedProtectionMode = .off
    ) -> Outcome {
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard let schemeText = parts.first else { return .ignored }
        let scheme: String
        switch schemeText.lowercased() {
        case "ntlm": scheme = "NTLM"
        case "negotiate": scheme = "Negotiate"
        default: return .ignored
        }
        let token = parts.count > 1 ? parts[1].trimmingSpaces : ""
        guard !token.isEmpty else { return .malformed(reason: "Authorization: \(scheme) without a token") }
        guard let data = Data(base64Encoded: token) else {
            return .malformed(reason: "Authorization: \(scheme) token is not valid base64")
        }
        var bytes = [UInt8](data)
        do {
            // Negotiate may wrap NTLM in SPNEGO; answers are then wrapped the same way.
            let wrapped = scheme == "Negotiate" && SPNEGO.isWrapped(bytes)
            if wrapped { bytes = try SPNEGO.unwrap(bytes) }
            guard bytes.starts(with: ntlmSignature) else {
                throw NTLMError(
                    scheme == "Negotiate"
                        ? "Authorization: Negotiate token is neither NTLMSSP nor SPNEGO-wrapped NTLM (Kerberos is not emulated)"
                        : "Authorization: NTLM token is not an NTLMSSP message")
            }
            switch try ntlmMessageType(bytes) {
            case 1:
                let negotiate = try NTLMNegotiate(parsing: bytes)
                let challenge = NTLMChallenge(answering: negotiate, configuration: configuration, now: now)
                state = .challenged(scheme: scheme)
                let token = wrapped ? SPNEGO.response(state: .acceptIncomplete, token: challenge.bytes) : challenge.bytes
                return .challenge(wwwAuthenticate: "\(scheme) \(Data(token).base64EncodedString())")
            case 3:
                let authenticate = try NTLMAuthenticate(parsing: bytes)
                guard case .challenged = state else {
                    state = .anonymous
                    return .rejected(reason: "NTLM AUTHENTICATE without a CHALLENGE on this connection")
                }
                guard !authenticate.user.isEmpty else {
                    state = .anonymous
                    return .rejected(reason: "anonymous NTLM logon refused")
                }
                if let refusal = ChannelBindingCheck.refusal(
                    mode: extendedProtection, expected: configuration.channelBindingToken,
                    presented: authenticate.channelBindings)
                {
                    state = .anonymous
                    return .rejected(reason: "\(refusal) for \(authenticate.qualifiedUser)")
                }
                state = .authenticated(user: authenticate.qualifiedUser)
                let final =
                    wrapped
                    ? "Negotiate \(Data(SPNEGO.response(state: .acceptCompleted, token: nil)).base64EncodedString())" : nil
                return .authenticated(user: authenticate.qualifiedUser, wwwAuthenticate: final)
            case let type:
                throw NTLMError("Authorization: \(scheme) carries NTLM message type \(type); a client sends type 1 or 3")
            }
        } catch let error as NTLMError {
            return .malformed(reason: error.message)
        } catch {
            return .malformed(reason: "\(error)")
        }
    }
}
