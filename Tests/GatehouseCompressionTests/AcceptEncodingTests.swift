import GatehouseCompression
import Testing

/// Accept-Encoding negotiation per RFC 9110 section 12.5.3.
@Suite("AcceptEncoding")
struct AcceptEncodingTests {
    /// One table row: header value, the coding expected, whether identity stays acceptable.
    struct Case: Sendable, CustomTestStringConvertible {
        var header: String?
        var expected: ContentCoding?
        var identityAcceptable = true
        var testDescription: String { "\(header.map { "\"\($0)\"" } ?? "absent") -> \(expected.map(\.headerValue) ?? "identity")" }
    }

    static let cases: [Case] = [
        Case(header: nil, expected: nil),
        Case(header: "", expected: nil),
        Case(header: "gzip", expected: .gzip),
        Case(header: "GZip", expected: .gzip),
        Case(header: "x-gzip", expected: .gzip),
        Case(header: "deflate", expected: .deflate),
        Case(header: "gzip, deflate, br", expected: .gzip),
        Case(header: "deflate, gzip", expected: .gzip),  // equal q: gzip preferred
        Case(header: "br;q=1, gzip;q=0.8", expected: .gzip),
        Case(header: "gzip;q=0.5, deflate", expected: .deflate),  // higher q wins
        Case(header: "gzip;q=0, deflate", expected: .deflate),
        Case(header: "gzip;q=0", expected: nil),
        Case(header: "gzip;q=0, deflate;q=0.000", expected: nil),
        Case(header: "gzip;q=0.001", expected: .gzip),
        Case(header: "*", expected: .gzip),
        Case(header: "*;q=0", expected: nil, identityAcceptable: false),
        Case(header: "*;q=0, identity", expected: nil, identityAcceptable: true),
        Case(header: "*, gzip;q=0", expected: .deflate),  // * covers deflate, gzip refused
        Case(header: "deflate;q=0.5, *;q=0.9", expected: .gzip),  // gzip via * at 0.9
        Case(header: "identity", expected: nil),
        Case(header: "identity;q=0", expected: nil, identityAcceptable: false),
        Case(header: "gzip, identity;q=0", expected: .gzip, identityAcceptable: false),
        // whitespace and case
        Case(header: "  gzip ; q = 0.5 ,deflate;q=0.4  ", expected: .gzip),
        Case(header: "gzip;Q=0.5,\tdeflate;q=0.6", expected: .deflate),
        Case(header: ",, gzip ,,", expected: .gzip),
        // malformed weights: only that listing is ignored
        Case(header: "gzip;q=2, deflate", expected: .deflate),
        Case(header: "gzip;q=1.5, deflate", expected: .deflate),
        Case(header: "gzip;q=1.001", expected: nil),
        Case(header: "gzip;q=0.1234", expected: nil),
        Case(header: "gzip;q=abc", expected: nil),
        Case(header: "gzip;q=-1", expected: nil),
        Case(header: "gzip;q=.5", expected: nil),
        Case(header: "gzip;q=, deflate", expected: .deflate),
        Case(header: "gzip;q, deflate", expected: .deflate),
        Case(header: "gzip;q=\"0.5\", deflate", expected: .deflate),
        Case(header: "gzip;q=0.5x, deflate;q=0.1", expected: .deflate),
        Case(header: "gzip deflate", expected: nil),
        Case(header: "gzip;q=1.", expected: .gzip),
        Case(header: "gzip;q=1.000", expected: .gzip),
        // other parameters are ignored
        Case(header: "gzip;level=1", expected: .gzip),
        Case(header: "gzip;foo=\"a,b\";q=0, deflate", expected: .deflate),
        // the first listing of a coding counts
        Case(header: "gzip;q=0, gzip", expected: nil),
        Case(header: "compress, gzip;q=0.001", expected: .gzip)
    ]

    @Test("negotiation table", arguments: cases)
    func negotiation(_ row: Case) {
        #expect(AcceptEncoding.negotiate(row.header) == row.expected)
        if let header = row.header {
            #expect(AcceptEncoding(header).isIdentityAcceptable == row.identityAcceptable)
        }
    }

    @Test("qualities are exact thousandths")
    func qualities() {
        let parsed = AcceptEncoding("gzip;q=0.25, deflate;q=0.7, *;q=0.1")
        #expect(parsed.quality(of: .gzip) == 250)
        #expect(parsed.quality(of: .deflate) == 700)
        #expect(AcceptEncoding("br").quality(of: .gzip) == 0)
        #expect(AcceptEncoding("*;q=0.333").quality(of: .deflate) == 333)
        #expect(AcceptEncoding("gzip;q=1").quality(of: .gzip) == 1000)
    }

    @Test("several header lines are read in order, as if joined by commas")
    func severalLines() {
        let parsed = AcceptEncoding(headerValues: ["deflate;q=0.9", "gzip;q=0.5", "gzip"])
        #expect(parsed.quality(of: .gzip) == 500)
        #expect(parsed.preferredCoding == .deflate)
        #expect(AcceptEncoding(headerValues: [String]()).preferredCoding == nil)
    }
}
