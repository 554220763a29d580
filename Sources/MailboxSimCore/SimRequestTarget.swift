/// A request target split into path and query parameters (the sim's `sim-*` knobs live in the query).
struct SimRequestTarget {
    /// The path, without the query, as sent (not decoded).
    var path: String
    /// Query parameters in order; names and values percent-decoded; a bare `name` has value nil.
    var parameters: [(name: String, value: String?)]

    /// Splits `uri` (origin-form, or absolute-form whose authority is dropped).
    init(_ uri: String) {
        var target = Substring(uri)
        if let scheme = target.range(of: "://") {
            let afterScheme = target[scheme.upperBound...]
            target = afterScheme.firstIndex(of: "/").map { afterScheme[$0...] } ?? "/"
        }
        if let question = target.firstIndex(of: "?") {
            path = String(target[..<question])
            parameters = target[target.index(after: question)...].split(separator: "&").map { item in
                if let equals = item.firstIndex(of: "=") {
                    return (Self.decode(item[..<equals]), Self.decode(item[item.index(after: equals)...]))
                }
                return (Self.decode(item), nil)
            }
        } else {
            path = String(target)
            parameters = []
        }
    }

    /// True when the query has a parameter named `name` (case-insensitive), with or without a value.
    func has(_ name: String) -> Bool {
        parameters.contains { $0.name.lowercased() == name }
    }

    /// The value of the first parameter named `name` (case-insensitive).
    func value(_ name: String) -> String? {
        parameters.first { $0.name.lowercased() == name }?.value ?? nil
    }

    /// Percent-decoding (and `+` as space) for query components; invalid escapes stay as they are.
    static func decode(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "+") {
                bytes.append(0x20)
            } else if byte == UInt8(ascii: "%"), iterator.count >= 2,
                let value = UInt8(String(decoding: iterator.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                iterator = iterator.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A non-negative integer parameter, or `defaultValue` when absent; a bad value is an error
    /// naming the parameter.
    func byteCount(_ name: String, default defaultValue: UInt64) throws -> UInt64 {
        guard has(name) else { return defaultValue }
        guard let text = value(name), let value = UInt64(text) else {
            throw SimError("query parameter \(name)='\(value(name) ?? "")' must be a non-negative whole number of bytes")
        }
        return value
    }

    /// A duration in seconds (fractions allowed) within `range`, or `defaultValue` when absent.
    func seconds(_ name: String, default defaultValue: Double, range: ClosedRange<Double>) throws -> Double {
        guard has(name) else { return defaultValue }
        guard let text = value(name), let value = Double(text), value.isFinite, range.contains(value) else {
            throw SimError(
                "query parameter \(name)='\(value(name) ?? "")' must be a number of seconds from \(range.lowerBound) to \(range.upperBound)"
            )
        }
        return value
    }
}
