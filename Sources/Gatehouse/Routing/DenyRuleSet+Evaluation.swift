import NIOHTTP1

extension DenyRuleSet {
    /// The first switched-on rule (in `DenyRule` declaration order) that denies the request, or nil.
    ///
    /// - Parameters:
    ///   - method: the request method. No rule depends on it today (every published shape works
    ///     with GET and POST alike); it is here so rules can grow without changing callers.
    ///   - target: the canonical target; rules never look at the raw one.
    ///   - headers: the client's request headers, cookies included.
    ///   - client: the client's address (after PROXY protocol, if any).
    ///   - adminNetworks: the networks allowed `/ecp` and `/powershell`; empty means nobody.
    public func firstViolation(
        method: HTTPMethod, target: CanonicalTarget, headers: HTTPHeaders, client: IPAddress,
        adminNetworks: [IPNetwork]
    ) -> DenyRule? {
        guard bits != 0 else { return nil }
        var path = target.lowercasedPath
        return path.withUTF8 { path in
            var inspection = RequestInspection(target: target, headers: headers)
            for rule in DenyRule.allCases where contains(rule) {
                if inspection.violates(rule, path: path, client: client, adminNetworks: adminNetworks) {
                    return rule
                }
            }
            return nil
        }
    }
}

/// The facts the deny rules read, each computed at most once per request and only when a rule
/// asks: the decoded query, and what the headers and cookies carry.
struct RequestInspection {
    let target: CanonicalTarget
    let headers: HTTPHeaders
    private var decodedQueryStorage: [UInt8]? = nil
    private var headerFactsStorage: HeaderFacts? = nil

    init(target: CanonicalTarget, headers: HTTPHeaders) {
        self.target = target
        self.headers = headers
    }

    /// The query, fully percent-decoded and lower case (empty when there is none).
    mutating func decodedQuery() -> [UInt8] {
        if let decodedQueryStorage { return decodedQueryStorage }
        let decoded = target.query.map { PercentDecoding.inspectionForm($0.utf8) } ?? []
        decodedQueryStorage = decoded
        return decoded
    }

    /// Whether the decoded, lower-case query contains `word` (lower case). A query without `%`
    /// is searched in place, case-insensitively, so the usual request allocates nothing here.
    mutating func queryContains(_ word: [UInt8]) -> Bool {
        guard var query = target.query else { return false }
        if decodedQueryStorage == nil, !query.utf8.contains(UInt8(ascii: "%")) {
            return query.withUTF8 { ASCII.containsLowercased($0, word) }
        }
        return ASCII.containsLowercased(decodedQuery(), word)
    }

    /// What the headers and cookies carry.
    mutating func headerFacts() -> HeaderFacts {
        if let headerFactsStorage { return headerFactsStorage }
        let facts = HeaderFacts(headers)
        headerFactsStorage = facts
        return facts
    }

    /// Whether `rule` denies this request. `path` is the lower-case canonical path.
    mutating func violates(
        _ rule: DenyRule, path: UnsafeBufferPointer<UInt8>, client: IPAddress, adminNetworks: [IPNetwork]
    ) -> Bool {
        switch rule {
        case .autodiscoverPowershell:
            return (ASCII.containsLowercased(path, Words.autodiscover) || queryContains(Words.autodiscover))
                && (ASCII.containsLowercased(path, Words.powershell) || queryContains(Words.powershell))
        case .proxyshellAutodiscover:
            guard let end = ASCII.firstIndexLowercased(of: Words.autodiscoverJSON, in: path, from: 0) else {
                return false
            }
            let tail = UnsafeBufferPointer(rebasing: path[(end + Words.autodiscoverJSON.count)...])
            return Self.isProxyShellShape(pathTail: tail, decodedQuery: decodedQuery())
                || headerFacts().emailCookieNamesAutodiscover
        case .rpsCAT:
            return headerFacts().rpsCAT || queryContains(Words.rpsCAT)
        case .anonResourceBackend:
            return headerFacts().anonResourceBackend
        case .beResource:
            return headerFacts().beResourceCarriesPath
        case .explicitLogonVdir:
            return Self.isExplicitLogonToDirectory(path)
        case .externalPowershell:
            return Self.namesPowershell(path, isAdminClient: { adminNetworks.containsAddress(client) })
        case .ecpAdminOnly:
            return Self.isUnder(path, Words.slashECP) && !adminNetworks.containsAddress(client)
        }
    }

    /// The ProxyShell / ProxyNotShell request shape, given what follows `autodiscover.json` in the
    /// path and the decoded query.
    ///
    /// Exchange's front end cut `autodiscover/autodiscover.json?@host` (the `Email` value) out of the
    /// URL and proxied what was left, so `?@host/mapi/nspi/` reached `/mapi/nspi/` as the server
    /// itself. So: a query that starts with `@`; an `@` followed later by `/` (a host then a path)
    /// in the path tail or query; a `?` hidden in the path as `%3F`; a path segment starting with `@`;
    /// or an `Email` parameter naming autodiscover. The real forms (`?Email=user@contoso.com&...`,
    /// `/v1.0/user@contoso.com?Protocol=EWS`) have none of these.
    static func isProxyShellShape(pathTail: UnsafeBufferPointer<UInt8>, decodedQuery: [UInt8]) -> Bool {
        if decodedQuery.first == UInt8(ascii: "@") { return true }
        var seenAt = false
        var previous: UInt8 = 0
        for byte in pathTail {
            if byte == UInt8(ascii: "?") { return true }
            if byte == UInt8(ascii: "@") {
                if previous == UInt8(ascii: "/") { return true }
                seenAt = true
            } else if byte == UInt8(ascii: "/"), seenAt {
                return true
            }
            previous = byte
        }
        for byte in decodedQuery {
            if byte == UInt8(ascii: "@") {
                seenAt = true
            } else if byte == UInt8(ascii: "/") || byte == UInt8(ascii: "\\"), seenAt {
                return true
            }
        }
        return emailParameterNamesAutodiscover(decodedQuery)
    }

    /// Whether a decoded query has an `email=` parameter whose value contains `autodiscover`.
    /// The query is split after decoding, so an `&` hidden as `%26` still separates parameters.
    static func emailParameterNamesAutodiscover(_ query: [UInt8]) -> Bool {
        var searchFrom = 0
        while let found = ASCII.firstIndexLowercased(of: Words.emailEquals, in: query, from: searchFrom) {
            let atBoundary =
                found == 0 || query[found - 1] == UInt8(ascii: "&") || query[found - 1] == UInt8(ascii: "?")
                || query[found - 1] == UInt8(ascii: ";")
            let valueStart = found + Words.emailEquals.count
            var valueEnd = valueStart
            while valueEnd < query.count, query[valueEnd] != UInt8(ascii: "&") { valueEnd += 1 }
            if atBoundary, ASCII.containsLowercased(query[valueStart..<valueEnd], Words.autodiscover) {
                return true
            }
            searchFrom = found + 1
        }
        return false
    }

    /// Whether `path` is `stem` or lies below it (`/ecp`, `/ecp/...`, and `/ecp;x/...`: servers
    /// that read `;` as the start of path parameters would serve the admin centre for it).
    static func isUnder(_ path: UnsafeBufferPointer<UInt8>, _ stem: [UInt8]) -> Bool {
        guard path.count >= stem.count, path.prefix(stem.count).elementsEqual(stem) else { return false }
        return path.count == stem.count || path[stem.count] == UInt8(ascii: "/") || path[stem.count] == UInt8(ascii: ";")
    }
}

/// Lower-case words the rules look for, made once.
enum Words {
    static let autodiscover = Array("autodiscover".utf8)
    static let powershell = Array("powershell".utf8)
    static let autodiscoverJSON = Array("autodiscover.json".utf8)
    static let rpsCAT = Array("x-rps-cat".utf8)
    static let emailEquals = Array("email=".utf8)
    static let slashECP = Array("/ecp".utf8)
}
