import COpenSSL

/// A subject or issuer name as an ordered list of attributes, e.g. `C=US,O=Contoso,CN=mail.contoso.com`.
///
/// Parsed from the comma-separated form admins type (New-ExchangeCertificate's SubjectName);
/// a literal comma inside a value is written `\,`.
public struct DistinguishedName: Sendable, Equatable, CustomStringConvertible {
    /// One `key=value` pair, e.g. `O=Contoso`.
    public struct Attribute: Sendable, Equatable {
        public var key: String
        public var value: String
        public init(key: String, value: String) {
            self.key = key
            self.value = value
        }
    }

    /// The attributes in order (most significant first, as typed).
    public var attributes: [Attribute]

    /// Attribute keys accepted in a subject; others are refused so a typo is not signed silently.
    public static let knownKeys = ["C", "ST", "L", "O", "OU", "CN", "emailAddress", "DC", "serialNumber"]

    public init(attributes: [Attribute]) {
        self.attributes = attributes
    }

    /// A name with a single common name, e.g. `CN=mbx01`.
    public init(commonName: String) {
        self.attributes = [Attribute(key: "CN", value: commonName)]
    }

    /// Parses `C=US,O=Contoso,CN=mail.contoso.com`.
    /// - Parameter source: where the text came from (e.g. `--subject`), for the error.
    /// - Throws: `TLSError(.invalidName)` naming the bad part.
    public init(parsing text: String, source: String) throws {
        var parts: [String] = []
        var current = ""
        var escaping = false
        for character in text {
            if escaping {
                current.append(character)
                escaping = false
            } else if character == "\\" {
                escaping = true
            } else if character == "," {
                parts.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        if escaping { throw TLSError(.invalidName, "\(source) \"\(text)\": ends with a lone backslash") }
        parts.append(current)
        var attributes: [Attribute] = []
        for part in parts {
            let trimmed = part.trimmed()
            if trimmed.isEmpty { continue }
            guard let equals = trimmed.firstIndex(of: "=") else {
                throw TLSError(.invalidName, "\(source) \"\(text)\": \"\(trimmed)\" is not of the form KEY=VALUE (e.g. O=Contoso)")
            }
            let key = String(trimmed[..<equals]).trimmed()
            let value = String(trimmed[trimmed.index(after: equals)...]).trimmed()
            guard let known = Self.knownKeys.first(where: { $0.lowercased() == key.lowercased() }) else {
                throw TLSError(
                    .invalidName,
                    "\(source) \"\(text)\": unknown attribute \"\(key)\" (use \(Self.knownKeys.joined(separator: ", ")))")
            }
            guard !value.isEmpty else {
                throw TLSError(.invalidName, "\(source) \"\(text)\": \(known) has an empty value")
            }
            if value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                throw TLSError(.invalidName, "\(source) \"\(HostNameRules.printable(text))\": control characters are not allowed")
            }
            if known == "C", value.count != 2 || !value.allSatisfy({ $0.isASCII && $0.isLetter }) {
                throw TLSError(.invalidName, "\(source) \"\(text)\": C must be a two-letter country code (e.g. C=US)")
            }
            attributes.append(Attribute(key: known, value: value))
        }
        guard !attributes.isEmpty else {
            throw TLSError(.invalidName, "\(source): the subject is empty (e.g. CN=mail.contoso.com)")
        }
        self.attributes = attributes
    }

    /// The last CN value, which is what clients display as the certificate's name.
    public var commonName: String? {
        attributes.last(where: { $0.key == "CN" })?.value
    }

    /// The comma-separated form, with commas inside values escaped.
    public var description: String {
        attributes.map { "\($0.key)=\($0.value.replacingOccurrences(of: ",", with: "\\,"))" }
            .joined(separator: ",")
    }

    /// Builds an owned `X509_NAME` for OpenSSL; the caller frees it (X509_NAME_free) after use.
    func makeX509Name() throws -> OpaquePointer {
        guard let name = X509_NAME_new() else {
            throw TLSError(.internalError, OpenSSLErrorQueue.describe("cannot allocate a name"))
        }
        for attribute in attributes {
            // Returns 1 on success; OpenSSL re-checks lengths and character sets per attribute type.
            let added = X509_NAME_add_entry_by_txt(
                name, attribute.key, MBSTRING_UTF8,
                attribute.value, -1, -1, 0)
            guard added == 1 else {
                X509_NAME_free(name)
                throw TLSError(
                    .invalidName,
                    OpenSSLErrorQueue.describe("subject \"\(description)\": OpenSSL refused \(attribute.key)=\(attribute.value)"))
            }
        }
        return name
    }
}

extension String {
    /// Without leading and trailing spaces and tabs.
    fileprivate func trimmed() -> String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}
