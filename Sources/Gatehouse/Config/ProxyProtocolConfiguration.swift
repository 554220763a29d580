/// A listener's PROXY protocol settings (`proxy_protocol:`): the balancers allowed to speak it, and
/// whether they must. The real client's address from the header replaces the balancer's for
/// everything Gatehouse does with a client address.
public struct ProxyProtocolConfiguration: Sendable, Hashable {
    /// The networks of the balancers whose PROXY headers are believed. A connection from
    /// elsewhere that sends a header is refused (it would be forging its address).
    public var trustedSources: [IPNetwork]
    /// Whether a connection from a trusted source without a header is refused (true), or served
    /// as a direct client with its own address (false: balancers that only sometimes send one).
    public var required: Bool
    /// How long a trusted source has to send its whole header after connecting.
    public var headerTimeout: Duration

    /// The default `header_timeout`: balancers send the header with their first packet.
    public static let defaultHeaderTimeout = Duration.seconds(5)

    public init(trustedSources: [IPNetwork], required: Bool = true, headerTimeout: Duration = defaultHeaderTimeout) {
        self.trustedSources = trustedSources
        self.required = required
        self.headerTimeout = headerTimeout
    }
}

/// `proxy_protocol:` as written: `false` (off, as if absent), or a mapping. `true` alone is not
/// enough (there is no safe default for the trusted sources) and is refused by the validator.
struct ProxyProtocolDocument: Codable {
    /// The scalar form's value (`false`, or `true` to be refused); nil for the mapping form.
    var enabled: Bool?
    var trustedSources: [Located<String>]?
    var required: Bool?
    var headerTimeout: Located<String>?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case required
        case trustedSources = "trusted_sources"
        case headerTimeout = "header_timeout"
    }

    init(from decoder: any Decoder) throws {
        if let node = (decoder as? NodeDecoder)?.node, node.mapping == nil {
            enabled = try decoder.singleValueContainer().decode(Bool.self)
            return
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        trustedSources = try container.decodeIfPresent([Located<String>].self, forKey: .trustedSources)
        required = try container.decodeIfPresent(Bool.self, forKey: .required)
        headerTimeout = try container.decodeIfPresent(Located<String>.self, forKey: .headerTimeout)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(trustedSources, forKey: .trustedSources)
        try container.encodeIfPresent(required, forKey: .required)
        try container.encodeIfPresent(headerTimeout, forKey: .headerTimeout)
    }
}

extension ConfigValidator {
    /// A listener's `proxy_protocol`: nil when absent or `false`.
    func validateProxyProtocol(_ document: Located<ProxyProtocolDocument>?) -> ProxyProtocolConfiguration? {
        guard let document else { return nil }
        let value = document.value
        let example = "proxy_protocol: { trusted_sources: [10.0.0.0/8], required: true, header_timeout: 5s }"
        if let enabled = value.enabled {
            if enabled {
                collector.error(
                    "\(document.place) is true, but PROXY protocol needs the balancers' addresses", at: document.mark,
                    hint: "write \(example) with the networks of your load balancers")
            }
            return nil
        }
        guard let sources = required(value.trustedSources, key: "trusted_sources", in: document, hint: "e.g. \(example)")
        else { return nil }
        if sources.isEmpty {
            collector.error(
                "'trusted_sources' of \(document.place) is empty, so no connection could send a PROXY header",
                at: document.mark, hint: "list the networks of your load balancers, e.g. [10.0.0.0/8]")
        }
        var networks = [IPNetwork]()
        for source in sources {
            do {
                networks.append(try IPNetwork(source.value))
            } catch {
                collector.error(
                    "\(error.reason) for \(source.place) ('\(source.value)')", at: source.mark,
                    hint: "write a CIDR network such as 10.0.0.0/8 or 2001:db8::/32, or a single address")
            }
        }
        let timeout = duration(value.headerTimeout, default: ProxyProtocolConfiguration.defaultHeaderTimeout)
        guard !networks.isEmpty, networks.count == sources.count else { return nil }
        return ProxyProtocolConfiguration(trustedSources: networks, required: value.required ?? true, headerTimeout: timeout)
    }
}
