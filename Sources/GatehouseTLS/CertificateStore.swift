import COpenSSL

/// The server side of TLS for one listener: its certificates, one `SSL_CTX` per certificate, and
/// the rule that picks a certificate from the SNI name in the ClientHello.
///
/// Built once from configuration, then immutable and shared by every connection on every event loop
/// (`@unchecked Sendable`: all stored state is `let`, and OpenSSL locks its session cache itself).
/// A reload builds a new store; connections keep the store they started with.
///
/// Selection order: (1) exact SAN dNSName (or CN when the certificate has no SAN dNSName),
/// (2) a wildcard `*.rest` covering exactly one left-most label (never `*.tld`), (3) the default
/// certificate (also used without SNI) unless `strictSNI`. When ECDSA and RSA certificates cover the
/// chosen name, ECDSA goes to clients that offer ECDSA signatures, RSA to the others.
public final class CertificateStore: @unchecked Sendable {
    /// All certificates, in configuration order (the default included).
    public let certificates: [CertifiedKey]
    /// Served when no name matches (and without SNI).
    public let defaultCertificate: CertifiedKey
    /// The policy every context was built with.
    public let policy: TLSPolicy
    /// ALPN protocols in server preference order.
    public let alpn: [String]
    /// Fail the handshake with `unrecognized_name` for an SNI name no certificate covers.
    public let strictSNI: Bool
    /// Whether clients are asked for a certificate, and which CAs verify it; nil: never asked.
    public let clientCertificates: ClientCertificatePolicy?
    /// Session-ticket keys from a file (`tls.ticket_keys`); nil: random keys made at start.
    public let ticketKeys: TicketKeyRing?

    /// One server context per certificate, parallel to `certificates`.
    let contexts: [TLSContext]
    /// Index of the default certificate; its context is the one every `SSL` starts with, so it
    /// also holds the session cache and the ticket keys (OpenSSL keeps using the initial context
    /// for those after `SSL_set_SSL_CTX`).
    let defaultIndex: Int
    /// Normalised exact name -> candidate certificate indices, in configuration order.
    let exactNames: [String: [Int]]
    /// Normalised wildcard base ("contoso.com" for "*.contoso.com") -> candidate indices.
    let wildcardBases: [String: [Int]]
    /// Candidates for the default (the default plus same-named certificates of the other key type).
    let defaultCandidates: [Int]
    /// Kept alive here because every context's ALPN callback points at it unretained.
    let alpnList: ALPNList

    /// Builds the contexts. `defaultCertificate` nil means the first certificate.
    /// Throws for an empty list, a bad policy or ALPN list, or a certificate OpenSSL refuses.
    public init(
        certificates: [CertifiedKey], defaultCertificate: CertifiedKey? = nil,
        policy: TLSPolicy = .exchangeDefault, alpn: [String] = ["h2", "http/1.1"],
        strictSNI: Bool = false, ticketKeys: TicketKeyRing? = nil,
        clientCertificates: ClientCertificatePolicy? = nil
    ) throws {
        var all = certificates
        guard let chosenDefault = defaultCertificate ?? certificates.first else {
            throw TLSError(.configuration, "certificate store: no certificates configured")
        }
        var defaultIndex = all.firstIndex { $0.leaf === chosenDefault.leaf && $0.key === chosenDefault.key }
        if defaultIndex == nil {
            all.append(chosenDefault)
            defaultIndex = all.count - 1
        }
        self.certificates = all
        self.defaultCertificate = chosenDefault
        self.defaultIndex = defaultIndex!
        self.policy = policy
        self.alpn = alpn
        self.strictSNI = strictSNI
        self.ticketKeys = ticketKeys
        self.clientCertificates = clientCertificates
        self.alpnList = try ALPNList(alpn)

        var exact: [String: [Int]] = [:]
        var wildcard: [String: [Int]] = [:]
        var nameSets: [Set<String>] = []
        for (index, certified) in all.enumerated() {
            var names = Set<String>()
            for name in certified.leaf.matchableNames {
                // Names that can match nothing (*.com, *.co.uk, *x.y, an IP as a DNS name) are never indexed.
                switch HostNameMatching.presented(name) {
                case .exact(let normalized)?:
                    names.insert(normalized)
                    exact[normalized, default: []].append(index)
                case .wildcard(let base)?:
                    names.insert("*." + base)
                    wildcard[base, default: []].append(index)
                case nil:
                    continue
                }
            }
            nameSets.append(names)
        }
        self.exactNames = exact
        self.wildcardBases = wildcard
        let defaultNames = nameSets[defaultIndex!]
        self.defaultCandidates =
            [defaultIndex!]
            + all.indices.filter {
                $0 != defaultIndex! && nameSets[$0] == defaultNames && all[$0].isECDSA != all[defaultIndex!].isECDSA
            }

        var contexts: [TLSContext] = []
        let sessionIDContext = clientCertificates?.sessionIDContext ?? Array("gatehouse".utf8)
        let clientTrust = try clientCertificates.map(ClientCertificateTrust.init)
        let stapling = all.contains { $0.ocspStaple != nil }
        for certified in all {
            let context = try TLSContext(role: .server, policy: policy)
            try context.use(certified)
            if let clientTrust { try context.requestClientCertificates(clientTrust) }
            context.setSessionIDContext(sessionIDContext)
            // Pitfall 2: OpenSSL takes the ALPN callback from the context switched to.
            alpnList.installSelectCallback(on: context)
            // Also on every context: with a HelloRetryRequest the callback runs again after a switch.
            SSL_CTX_set_client_hello_cb(context.ctx, clientHelloCallback, nil)
            if policy.sessionTickets { try Self.installTicketKeyCallback(on: context) }
            if stapling { Self.installOCSPStapling(on: context) }
            contexts.append(context)
        }
        self.contexts = contexts
        configureSessions(on: contexts[defaultIndex!])
    }

    /// The certificate to serve for `serverName` (nil: no SNI). Pure; used by the handshake, by
    /// `gatehouse check`, and by tests. Nil only when `strictSNI` and no certificate covers the name.
    public func select(serverName: String?, clientOffersECDSA: Bool) -> CertifiedKey? {
        selectIndex(serverName: serverName, clientOffersECDSA: clientOffersECDSA).map { certificates[$0] }
    }

    /// `select` returning the index into `certificates` / `contexts`.
    func selectIndex(serverName: String?, clientOffersECDSA: Bool) -> Int? {
        guard let serverName else { return pick(defaultCandidates, ecdsa: clientOffersECDSA) }
        // SNI never carries an IP literal (RFC 6066); one that looks like an address matches no DNS name.
        if let host = HostNameMatching.normalizedDNSName(serverName) {
            if let candidates = exactNames[host] { return pick(candidates, ecdsa: clientOffersECDSA) }
            if let parent = HostNameMatching.parentDomain(host), let candidates = wildcardBases[String(parent)] {
                return pick(candidates, ecdsa: clientOffersECDSA)
            }
        }
        if strictSNI { return nil }
        return pick(defaultCandidates, ecdsa: clientOffersECDSA)
    }

    /// The first candidate of the preferred key type, else the first candidate.
    private func pick(_ candidates: [Int], ecdsa: Bool) -> Int? {
        candidates.first { certificates[$0].isECDSA == ecdsa } ?? candidates.first
    }

    /// The context every new server `SSL` starts from.
    var initialContext: TLSContext { contexts[defaultIndex] }

    /// The session cache on the initial context (the session context). Tickets are sealed by the
    /// ticket key callback: under `ticketKeys`, or else under `AutomaticTicketKeys.shared`.
    private func configureSessions(on context: TLSContext) {
        let mode = policy.sessionCacheSize > 0 ? SSL_SESS_CACHE_SERVER : SSL_SESS_CACHE_OFF
        _ = COpenSSL_SSL_CTX_set_session_cache_mode(context.ctx, Int(mode))
        _ = COpenSSL_SSL_CTX_sess_set_cache_size(context.ctx, policy.sessionCacheSize)
    }
}
