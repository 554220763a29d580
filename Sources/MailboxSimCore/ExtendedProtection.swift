import GatehouseTLS

/// Windows Extended Protection as IIS sets it per virtual directory (`extendedProtection
/// tokenChecking`): `None` (off), `Allow` (accept) or `Require`.
public enum ExtendedProtectionMode: String, CaseIterable, Sendable, Equatable {
    /// Channel bindings are ignored.
    case off
    /// A binding the client sent must match; a client that sends none (or zeros) is let in.
    case accept
    /// Every NTLM logon must carry the matching binding.
    case require
}

/// The simulator's Extended Protection settings: one mode for every virtual directory, and
/// per-service overrides, as Exchange has Required on most directories, Accept on EWS and
/// ActiveSync and Off on Autodiscover.
///
/// Command-line syntax (the option repeats; later values win):
/// `--extended-protection require` sets every service;
/// `--extended-protection ews=accept,activesync=accept,autodiscover=off` sets those services.
/// Services are named by preset (`ews`) or virtual directory (`Microsoft-Server-ActiveSync`).
public struct ExtendedProtectionPolicy: Sendable, Equatable {
    /// The mode of paths whose service has no override (and of paths outside every service).
    public var defaultMode: ExtendedProtectionMode
    /// Per-service modes.
    public var services: [SimService: ExtendedProtectionMode]

    /// A policy; the default is off everywhere.
    public init(defaultMode: ExtendedProtectionMode = .off, services: [SimService: ExtendedProtectionMode] = [:]) {
        self.defaultMode = defaultMode
        self.services = services
    }

    /// Exchange's own defaults: Require, but Accept on EWS and ActiveSync and Off on Autodiscover.
    public static let exchangeDefault = ExtendedProtectionPolicy(
        defaultMode: .require, services: [.ews: .accept, .activesync: .accept, .autodiscover: .off])

    /// The mode for a request target (path, optionally with a query).
    public func mode(forTarget target: String) -> ExtendedProtectionMode {
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? target
        guard let service = SimService.owning(path: path) else { return defaultMode }
        return services[service] ?? defaultMode
    }

    /// Whether any path checks channel bindings at all.
    public var isEnabled: Bool {
        defaultMode != .off || services.values.contains { $0 != .off }
    }

    /// Parses the values of every `--extended-protection` option, in order.
    public static func parse(_ values: [String]) throws -> ExtendedProtectionPolicy {
        var policy = ExtendedProtectionPolicy()
        for value in values {
            if !value.contains("=") {
                policy.defaultMode = try mode(value, in: value)
                continue
            }
            for item in value.split(separator: ",", omittingEmptySubsequences: false) {
                let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2, !parts[0].isEmpty else {
                    throw SimError(
                        "--extended-protection '\(value)': '\(item)' is not SERVICE=MODE "
                            + "(e.g. ews=accept,autodiscover=off)")
                }
                guard let service = SimService.named(String(parts[0])) else {
                    let names = SimService.allCases.map(\.rawValue).joined(separator: ", ")
                    throw SimError("--extended-protection '\(value)': unknown service '\(parts[0])' (one of \(names))")
                }
                policy.services[service] = try mode(String(parts[1]), in: value)
            }
        }
        return policy
    }

    private static func mode(_ text: String, in value: String) throws -> ExtendedProtectionMode {
        guard let mode = ExtendedProtectionMode(rawValue: text.lowercased()) else {
            throw SimError("--extended-protection '\(value)': unknown mode '\(text)' (off, accept or require)")
        }
        return mode
    }

    /// A one-line description for the start-up log: `require (ews=accept, autodiscover=off)`.
    public var summary: String {
        let overrides = services.sorted { $0.key < $1.key }.map { "\($0.key.rawValue)=\($0.value.rawValue)" }
        return overrides.isEmpty ? defaultMode.rawValue : "\(defaultMode.rawValue) (\(overrides.joined(separator: ", ")))"
    }
}

/// The decision IIS makes on an NTLM AUTHENTICATE's channel binding: a pure function of the
/// directory's mode, the token the server expects and the one the client sent.
public enum ChannelBindingCheck {
    /// nil when the logon may proceed; otherwise why it is refused (logged and put in the 401 body).
    /// - Parameters:
    ///   - expected: MD5 of the GSS channel bindings of the server's own certificate (nil without TLS).
    ///   - presented: the client's `MsvAvChannelBindings` value, nil when absent.
    public static func refusal(
        mode: ExtendedProtectionMode, expected: [UInt8]?, presented: [UInt8]?
    ) -> String? {
        guard mode != .off else { return nil }
        let absent = presented.map { $0.allSatisfy { $0 == 0 } } ?? true
        if absent {
            guard mode == .require else { return nil }
            return presented == nil
                ? "channel binding missing (Extended Protection required)"
                : "channel binding missing: the client sent an all-zero binding (Extended Protection required)"
        }
        guard let expected else { return "channel binding presented but this server has no TLS certificate to bind to" }
        guard let presented, presented != expected else { return nil }
        return "channel binding mismatch: expected \(ChannelBindings.hex(expected)) got \(ChannelBindings.hex(presented))"
    }
}
