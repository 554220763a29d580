import Foundation

/// The device an ActiveSync request comes from: `DeviceId` and `DeviceType`, which Exchange
/// administrators look for first when a phone misbehaves (and which IIS logs only inside
/// `cs-uri-query`). Read from either form of the ActiveSync query (MS-ASHTTP 2.2.1.1.1):
///
/// - plain: `?Cmd=Sync&User=alice&DeviceId=ABC123&DeviceType=iPhone` (names compared without
///   regard to case, values as sent: the log's escaping makes any byte safe);
/// - base64: the whole query one base64 string of a binary structure (MS-ASHTTP 2.2.1.1.1.1):
///   version, command code, locale (2 bytes), device ID length + bytes, policy key length + bytes,
///   device type length + bytes, then command parameters. A device ID that is not printable ASCII
///   is shown as upper-case hex.
struct ActiveSyncDevice: Equatable {
    var id: String?
    var type: String?

    /// The longest query this looks at: ActiveSync queries are short; anything longer is not read.
    static let maxQueryBytes = 2048

    /// The device of a request to `uri`, or nil when the path is not ActiveSync's or the query
    /// names no device. Costs one prefix comparison for every other request.
    static func parse(uri: String) -> ActiveSyncDevice? {
        let utf8 = uri.utf8
        let prefix = "/microsoft-server-activesync".utf8
        guard utf8.count > prefix.count,
            utf8.prefix(prefix.count).elementsEqual(prefix, by: { asciiLower($0) == $1 }),
            let mark = utf8.firstIndex(of: UInt8(ascii: "?"))
        else { return nil }
        let query = uri[uri.utf8.index(after: mark)...]
        guard !query.isEmpty, query.utf8.count <= maxQueryBytes else { return nil }
        let device =
            query.contains("=") && !query.hasSuffix("=") || query.contains("&")
            ? parsePlain(query) : parseBase64(query) ?? parsePlain(query)
        return device.id == nil && device.type == nil ? nil : device
    }

    /// `DeviceId` and `DeviceType` from `name=value&...`.
    static func parsePlain(_ query: Substring) -> ActiveSyncDevice {
        var device = ActiveSyncDevice()
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            guard let equals = pair.firstIndex(of: "=") else { continue }
            let name = pair[..<equals]
            let value = String(pair[pair.index(after: equals)...])
            if name.caseInsensitiveEquals("DeviceId") {
                device.id = value
            } else if name.caseInsensitiveEquals("DeviceType") {
                device.type = value
            }
        }
        return device
    }

    /// The device from the base64 query's binary structure; nil when it is not one.
    static func parseBase64(_ query: Substring) -> ActiveSyncDevice? {
        // The query may arrive percent-encoded ('=' padding as %3D, '+' and '/' as %2B, %2F).
        let text = query.removingPercentEncoding ?? String(query)
        guard let data = Data(base64Encoded: text, options: .ignoreUnknownCharacters) else { return nil }
        let bytes = [UInt8](data)
        var index = 4  // version, command code, locale
        func field() -> ArraySlice<UInt8>? {
            guard index < bytes.count else { return nil }
            let length = Int(bytes[index])
            index += 1
            guard index + length <= bytes.count else { return nil }
            defer { index += length }
            return bytes[index..<index + length]
        }
        guard let id = field(), id.count <= 16, let policyKey = field(), policyKey.count == 0 || policyKey.count == 4,
            let type = field(), type.count <= 64
        else { return nil }
        var device = ActiveSyncDevice()
        if !id.isEmpty {
            device.id =
                id.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
                ? String(decoding: id, as: UTF8.self)
                : id.map { String($0, radix: 16, uppercase: true).leftPadded(to: 2) }.joined()
        }
        if !type.isEmpty { device.type = String(decoding: type, as: UTF8.self) }
        return device
    }
}

extension Substring {
    /// ASCII case-insensitive equality with `other`.
    fileprivate func caseInsensitiveEquals(_ other: String) -> Bool {
        utf8.count == other.utf8.count && utf8.elementsEqual(other.utf8) { asciiLower($0) == asciiLower($1) }
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// `byte` with A-Z folded to a-z; every other byte as it is.
@inline(__always)
private func asciiLower(_ byte: UInt8) -> UInt8 {
    byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
}
