import Yams

/// Validation of `listeners:`.
extension ConfigValidator {
    /// All listeners; names and addresses must be unique, and there must be at least one.
    func validateListeners(
        _ documents: [Located<ListenerDocument>]?, rootMark: Mark?, poolNames: Set<String> = []
    ) -> [ListenerConfiguration] {
        guard let documents, !documents.isEmpty else {
            collector.error(
                "no listeners are configured", at: rootMark,
                hint: "add 'listeners:' with at least one TLS listener, e.g. address: 0.0.0.0:443")
            return []
        }
        // Names and addresses are compared on the documents, so a listener with another error
        // still takes part in the duplicate checks.
        var names = [String: Mark?]()
        var addresses = [SocketEndpoint: Mark?]()
        for document in documents {
            if let name = document.value.name {
                if let earlier = names[name.value] {
                    collector.error(
                        "duplicate listener name '\(name.value)' (also used at \(lineText(earlier)))", at: name.mark,
                        hint: "give each listener its own name")
                }
                names[name.value] = name.mark
            }
            if let address = document.value.address,
                case .success(let endpoint) = SocketEndpoint.parse(address.value, requireIP: true, allowPortZero: true),
                endpoint.port != 0
            {
                if let earlier = addresses[endpoint] {
                    collector.error(
                        "address \(endpoint) of \(document.place) is already used by another listener "
                            + "(\(lineText(earlier)))", at: address.mark)
                }
                addresses[endpoint] = address.mark
            }
        }
        let listeners = documents.compactMap { validateListener($0, poolNames: poolNames) }
        if !documents.contains(where: { $0.value.tls != nil || $0.value.passthrough != nil }) {
            collector.warning(
                "no listener terminates TLS, so no service is reachable", at: documents.first?.mark,
                hint: "add a listener with a 'tls:' block")
        }
        let httpsPorts = Set(listeners.filter { $0.tls != nil }.map(\.address.port))
        for document in documents {
            if let redirect = document.value.redirectToHTTPS, !httpsPorts.isEmpty, !httpsPorts.contains(redirect.value),
                redirect.value != 443
            {
                collector.warning(
                    "\(redirect.place) sends clients to port \(redirect.value), where no TLS listener of this file listens",
                    at: redirect.mark)
            }
        }
        return listeners
    }

    /// One listener: a name, an address, and exactly one of a `tls` block, `redirect_to_https` or a
    /// `passthrough` block.
    private func validateListener(_ document: Located<ListenerDocument>, poolNames: Set<String>) -> ListenerConfiguration? {
        let value = document.value
        let name = required(value.name, key: "name", in: document)
        if let name { checkIdentifier(name) }
        let address = required(value.address, key: "address", in: document, hint: "e.g. address: 0.0.0.0:443")
            .flatMap { endpoint($0, requireIP: true, allowPortZero: true) }
        var mode: ListenerMode?
        let modes = ["tls", "redirect_to_https", "passthrough"].filter { document.writtenKeys.contains($0) }
        if modes.count > 1 {
            let passthroughHint =
                "a pass-through listener does not terminate TLS, so it takes no 'tls' block: the backends present "
                + "their own certificates; "
            collector.error(
                "\(document.place) has \(modes.map { "'\($0)'" }.joined(separator: " and "))",
                at: value.passthrough?.mark ?? value.redirectToHTTPS?.mark ?? document.mark,
                hint: (modes.contains("passthrough") ? passthroughHint : "")
                    + "a listener either serves HTTPS ('tls'), only redirects plain HTTP ('redirect_to_https'), "
                    + "or passes TLS through by SNI ('passthrough'); split it into several listeners")
        } else if let tls = value.tls {
            mode = validateTLS(tls).map(ListenerMode.tls)
        } else if let redirect = value.redirectToHTTPS {
            let port = integer(redirect, in: 1...65535, default: 443)
            mode = .redirectToHTTPS(port: port)
        } else if let passthrough = value.passthrough {
            mode = validatePassthrough(passthrough, poolNames: poolNames).map(ListenerMode.passthrough)
        } else if modes.isEmpty {
            collector.error(
                "\(document.place) has neither 'tls' nor 'redirect_to_https' nor 'passthrough'", at: document.mark,
                hint: "add a 'tls:' block with certificates, 'redirect_to_https: 443' for a plain-HTTP redirect "
                    + "listener, or 'passthrough:' with SNI routes to pools")
        }
        let proxyProtocol = validateProxyProtocol(value.proxyProtocol)
        refuseMisplacedClientCertificates(document)
        guard let name, let address, let mode else { return nil }
        return ListenerConfiguration(name: name.value, address: address, mode: mode, proxyProtocol: proxyProtocol)
    }

    /// A listener's `tls:` block.
    private func validateTLS(_ document: Located<TLSDocument>) -> TLSListenerConfiguration? {
        let value = document.value
        var pairs = [CertificateKeyPair]()
        var pairMarks = [String: Mark?]()
        if let certificates = required(
            value.certificates, key: "certificates", in: document,
            hint: "list at least one '{ cert: file.pem, key: file.key }'")
        {
            if certificates.isEmpty {
                collector.error(
                    "\(document.place) lists no certificates", at: document.mark,
                    hint: "list at least one '{ cert: file.pem, key: file.key }'")
            }
            for entry in certificates {
                let cert = required(entry.value.cert, key: "cert", in: entry).flatMap { readableFile($0, what: "certificate file") }
                let key = required(entry.value.key, key: "key", in: entry).flatMap { readableFile($0, what: "key file") }
                guard let cert, let key else { continue }
                if pairMarks[cert] != nil {
                    collector.error(
                        "certificate '\(entry.value.cert?.value ?? cert)' is listed twice in \(document.place)",
                        at: entry.value.cert?.mark)
                }
                pairMarks[cert] = entry.mark
                let ocsp = entry.value.ocsp.flatMap { readableFile($0, what: "OCSP response file") }
                pairs.append(CertificateKeyPair(certificate: cert, key: key, ocsp: ocsp))
            }
        }
        var defaultCertificate = pairs.first?.certificate
        if let chosen = value.defaultCertificate {
            let path = absolutePath(chosen.value)
            if pairs.contains(where: { $0.certificate == path }) {
                defaultCertificate = path
            } else if !pairs.isEmpty {
                collector.error(
                    "\(chosen.place) '\(chosen.value)' is not one of this listener's certificates", at: chosen.mark,
                    hint: "name the 'cert' file of one entry under 'certificates', written the same way")
            }
        }
        var tls = TLSListenerConfiguration(certificates: pairs, defaultCertificate: defaultCertificate)
        tls.strictSNI = value.strictSNI ?? tls.strictSNI
        if let version = value.minVersion {
            if let parsed = TLSProtocolVersion(rawValue: version.value) {
                tls.minVersion = parsed
            } else {
                collector.error(
                    "unsupported TLS version '\(version.value)' for \(version.place)", at: version.mark,
                    hint: "use \"1.2\" (TLS 1.2 and 1.3, as Exchange 2019) or \"1.3\"")
            }
        }
        if let ciphers = value.ciphers {
            tls.ciphers = ciphers.value
            checkCipherList(ciphers)
        }
        if let suites = value.cipherSuites {
            tls.cipherSuites = suites.value
            if suites.value.isEmpty { collector.error("\(suites.place) is empty", at: suites.mark) }
        }
        if let groups = value.groups {
            if groups.isEmpty {
                collector.error("\(document.place) lists no key-exchange groups", at: document.mark, hint: "e.g. [X25519, P-256]")
            }
            tls.groups = groups.map(\.value)
        }
        if let alpn = value.alpn {
            let supported = ["h2", "http/1.1"]
            var protocols = [String]()
            for entry in alpn {
                if let name = choice(entry, among: supported) { protocols.append(name) }
            }
            if alpn.isEmpty || (!protocols.isEmpty && !protocols.contains("http/1.1")) {
                collector.error(
                    "'alpn' in \(document.place) must offer http/1.1", at: alpn.first?.mark ?? document.mark,
                    hint: "NTLM/Negotiate clients, RPC over HTTP and old ActiveSync devices need HTTP/1.1: "
                        + "use [h2, http/1.1]")
            }
            tls.alpn = protocols
        }
        tls.handshakeTimeout = duration(value.handshakeTimeout, default: tls.handshakeTimeout)
        tls.sessionTickets = value.sessionTickets ?? tls.sessionTickets
        if let clientCertificates = value.clientCertificates {
            guard let checked = validateClientCertificates(clientCertificates) else { return nil }
            tls.clientCertificates = checked
        }
        if let file = value.ticketKeys {
            (tls.ticketKeysFile, tls.ticketKeys) = ticketKeys(file, sessionTickets: tls.sessionTickets) ?? (nil, nil)
        }
        return pairs.isEmpty ? nil : tls
    }

    /// Warns about TLS 1.2 cipher-list entries Exchange 2019's posture excludes (RC4, DES, MD5, ...).
    private func checkCipherList(_ ciphers: Located<String>) {
        guard !ciphers.value.isEmpty else {
            collector.error("\(ciphers.place) is empty", at: ciphers.mark)
            return
        }
        let weak = ["RC4", "DES", "3DES", "RC2", "MD5", "NULL", "EXPORT", "EXP-", "aNULL", "eNULL", "ADH", "AECDH"]
        for entry in ciphers.value.split(whereSeparator: { ":, ".contains($0) }) {
            // `!X` and `-X` remove suites; only additions can weaken the list.
            guard let first = entry.first, first != "!", first != "-" else { continue }
            if let bad = weak.first(where: { entry.uppercased().contains($0.uppercased()) }) {
                collector.warning(
                    "\(ciphers.place) enables '\(entry)', which includes \(bad) suites", at: ciphers.mark,
                    hint: "Exchange 2019's posture allows only ECDHE with AES-GCM or ChaCha20")
            }
        }
    }
}
