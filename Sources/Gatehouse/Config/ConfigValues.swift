/// Byte sizes as written in configuration files: `64KiB`, `10MiB`, `2GiB`, `512B` or a plain integer.
public enum ByteSize {
    /// 1024 bytes.
    public static let kibibyte = 1024
    /// 1024 KiB.
    public static let mebibyte = 1024 * 1024
    /// 1024 MiB.
    public static let gibibyte = 1024 * 1024 * 1024

    /// The number of bytes `text` denotes, or nil when it is not a size. Only binary units are
    /// accepted, so nobody has to guess whether `MB` means 10^6 or 2^20.
    public static func parse(_ text: String) -> Int? {
        let units: [(suffix: String, factor: Int)] = [("KiB", kibibyte), ("MiB", mebibyte), ("GiB", gibibyte), ("B", 1)]
        var number = Substring(text)
        var factor = 1
        for unit in units where text.hasSuffix(unit.suffix) {
            number = text.dropLast(unit.suffix.count)
            factor = unit.factor
            break
        }
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(number) else {
            return nil
        }
        let (product, overflow) = value.multipliedReportingOverflow(by: factor)
        return overflow ? nil : product
    }

    /// `bytes` in the largest binary unit that divides it (`64MiB`), for summaries.
    public static func format(_ bytes: Int) -> String {
        for (suffix, factor) in [("GiB", gibibyte), ("MiB", mebibyte), ("KiB", kibibyte)]
        where bytes >= factor && bytes % factor == 0 {
            return "\(bytes / factor)\(suffix)"
        }
        return "\(bytes)B"
    }
}

/// Durations as written in configuration files: `250ms`, `10s`, `5m`, `1h` or a plain integer (seconds).
public enum ConfigDuration {
    /// The duration `text` denotes, or nil when it is not a duration.
    public static func parse(_ text: String) -> Duration? {
        // Longest suffix first, so `ms` is not read as `m` + garbage.
        let units: [(suffix: String, make: (Int64) -> Duration)] = [
            ("ms", { .milliseconds($0) }), ("s", { .seconds($0) }), ("m", { .seconds($0 * 60) }),
            ("h", { .seconds($0 * 3600) })
        ]
        var number = Substring(text)
        var make: (Int64) -> Duration = { .seconds($0) }
        for unit in units where text.hasSuffix(unit.suffix) {
            number = text.dropLast(unit.suffix.count)
            make = unit.make
            break
        }
        // Bounded to 10 digits so the conversions above cannot overflow (over 300 years in hours).
        guard !number.isEmpty, number.count <= 10, number.allSatisfy({ $0.isASCII && $0.isNumber }),
            let value = Int64(number)
        else { return nil }
        return make(value)
    }

    /// `duration` in the largest unit that divides it (`5m`, `250ms`), for summaries.
    public static func format(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        if milliseconds % 1000 != 0 { return "\(milliseconds)ms" }
        let seconds = milliseconds / 1000
        if seconds != 0 && seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds != 0 && seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}

extension SocketEndpoint {
    /// Why an endpoint text was refused.
    enum ParseFailure: Error {
        case missingPort
        case badPort
        case badHost
    }

    /// Parses `host:port` or `[v6]:port`. The host is an IP literal or a DNS name; `requireIP` refuses
    /// names (a listener binds an address, it does not resolve one). `allowPortZero` permits port 0.
    static func parse(_ text: String, requireIP: Bool, allowPortZero: Bool) -> Result<SocketEndpoint, ParseFailure> {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return .failure(.badHost) }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return .failure(.missingPort) }
            portText = rest.dropFirst()
            guard host.contains(":"), IPAddress(String(host)) != nil else { return .failure(.badHost) }
        } else {
            guard let colon = text.lastIndex(of: ":") else { return .failure(.missingPort) }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            // An unbracketed IPv6 literal is ambiguous (which colon starts the port?).
            guard !host.contains(":"), !host.isEmpty else { return .failure(.badHost) }
            if IPAddress(String(host)) == nil {
                guard !requireIP, Self.isDNSName(host) else { return .failure(.badHost) }
            }
        }
        guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
            let port = Int(portText), port <= 65535, port > 0 || allowPortZero
        else { return .failure(.badPort) }
        return .success(SocketEndpoint(host: String(host), port: port))
    }

    /// Whether `name` is a DNS host name: dot-separated labels of letters, digits and inner hyphens.
    static func isDNSName(_ name: Substring) -> Bool {
        guard !name.isEmpty, name.count <= 253 else { return false }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            !label.isEmpty && label.count <= 63 && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }
}
