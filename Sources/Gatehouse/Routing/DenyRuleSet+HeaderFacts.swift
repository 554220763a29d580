import NIOHTTP1

/// What the deny rules need to know about a request's headers and cookies, found in one pass.
struct HeaderFacts {
    /// An `X-Rps-CAT` header (or cookie).
    var rpsCAT = false
    /// An `X-AnonResource-Backend` header or cookie.
    var anonResourceBackend = false
    /// An `X-BEResource` cookie (or header) whose value is more than `server~version`.
    var beResourceCarriesPath = false
    /// An `Email` cookie whose decoded value contains `autodiscover`.
    var emailCookieNamesAutodiscover = false

    /// Scans every header once; cookie headers (h2 clients send one per cookie) are split on `;`.
    /// Names compare case-insensitively: ASP.NET reads cookie names that way, so an attacker's
    /// `x-beresource` must count as `X-BEResource`.
    init(_ headers: HTTPHeaders) {
        for (name, value) in headers {
            if ASCII.nameEquals(name, "cookie") {
                var cookies = value
                cookies.withUTF8 { scanCookies($0) }
            } else if ASCII.nameEquals(name, "x-rps-cat") {
                rpsCAT = true
            } else if ASCII.nameEquals(name, "x-anonresource-backend") {
                anonResourceBackend = true
            } else if ASCII.nameEquals(name, "x-beresource") {
                if Self.beResourceCarriesPath(value.utf8) { beResourceCarriesPath = true }
            }
        }
    }

    /// Reads `name=value; name2=value2` pairs of one Cookie header.
    private mutating func scanCookies(_ bytes: UnsafeBufferPointer<UInt8>) {
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: ";") { end += 1 }
            var nameStart = start
            while nameStart < end, bytes[nameStart] == UInt8(ascii: " ") || bytes[nameStart] == UInt8(ascii: "\t") {
                nameStart += 1
            }
            var equals = nameStart
            while equals < end, bytes[equals] != UInt8(ascii: "=") { equals += 1 }
            var nameEnd = equals
            while nameEnd > nameStart, bytes[nameEnd - 1] == UInt8(ascii: " ") { nameEnd -= 1 }
            let name = bytes[nameStart..<nameEnd]
            let value = bytes[min(equals + 1, end)..<end]
            inspectCookie(name: name, value: value)
            start = end + 1
        }
    }

    /// Records what one cookie means for the rules.
    private mutating func inspectCookie(name: Slice<UnsafeBufferPointer<UInt8>>, value: Slice<UnsafeBufferPointer<UInt8>>) {
        if ASCII.equalsIgnoringCase(name, CookieNames.email) {
            let decoded = PercentDecoding.inspectionForm(value)
            if ASCII.containsLowercased(decoded, Words.autodiscover) { emailCookieNamesAutodiscover = true }
        } else if ASCII.equalsIgnoringCase(name, CookieNames.beResource) {
            if Self.beResourceCarriesPath(value) { beResourceCarriesPath = true }
        } else if ASCII.equalsIgnoringCase(name, CookieNames.anonResourceBackend) {
            anonResourceBackend = true
        } else if ASCII.equalsIgnoringCase(name, CookieNames.rpsCAT) {
            rpsCAT = true
        }
    }

    /// Whether an `X-BEResource` value is more than Exchange's own `server~version`
    /// (`EXCH01.contoso.com~1942062522`). ProxyLogon sent `Admin@EXCHANGE:444/ecp/x.ecp?a=~1942062522`:
    /// a path (`/`, or `\` which Windows reads alike), userinfo (`@`), a query or fragment, or any
    /// percent-escape (a host name never needs one) turn the value into a URL of the client's choosing.
    static func beResourceCarriesPath<C: Collection<UInt8>>(_ value: C) -> Bool {
        value.contains { byte in
            byte == UInt8(ascii: "/") || byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "@")
                || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "#") || byte == UInt8(ascii: "%")
        }
    }
}

/// Cookie names the rules look for, made once.
enum CookieNames {
    static let email = Array("email".utf8)
    static let beResource = Array("x-beresource".utf8)
    static let anonResourceBackend = Array("x-anonresource-backend".utf8)
    static let rpsCAT = Array("x-rps-cat".utf8)
}
