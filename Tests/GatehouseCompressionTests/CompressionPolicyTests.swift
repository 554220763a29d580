import GatehouseCompression
import Testing

/// The pure decision: which responses are compressed, and how their headers change.
@Suite("CompressionPolicy")
struct CompressionPolicyTests {
    let policy = CompressionPolicy()

    private func request(
        method: String = "GET", acceptEncoding: String? = "gzip, deflate", hasRange: Bool = false,
        cacheControl: String? = nil, path: String = "/owa/"
    ) -> CompressionRequestFacts {
        CompressionRequestFacts(
            method: method, acceptEncoding: acceptEncoding, hasRange: hasRange,
            cacheControl: cacheControl, path: path)
    }

    private func response(
        status: Int = 200, contentEncoding: String? = nil, contentType: String? = "text/html; charset=utf-8",
        contentLength: Int? = 16_384, cacheControl: String? = nil, etag: String? = nil, vary: String? = nil
    ) -> CompressionResponseFacts {
        CompressionResponseFacts(
            status: status, contentEncoding: contentEncoding, contentType: contentType,
            contentLength: contentLength, cacheControl: cacheControl, etag: etag, vary: vary)
    }

    @Test("an eligible response is gzipped with all header edits")
    func compressesEligibleResponse() {
        let decision = policy.decide(request: request(), response: response(etag: "\"abc:1\""))
        #expect(decision.coding == .gzip)
        #expect(decision.skipReason == nil)
        #expect(decision.level == 6)
        #expect(
            decision.headerEdits
                == CompressionHeaderEdits(
                    contentEncoding: "gzip", vary: "Accept-Encoding", etag: .replace("W/\"abc:1\""),
                    removeContentLength: true, removeAcceptRanges: true))
    }

    @Test("deflate when only deflate is accepted; the policy's level is passed on")
    func deflateAndLevel() {
        let decision = CompressionPolicy(level: 1).decide(request: request(acceptEncoding: "deflate"), response: response())
        #expect(decision.coding == .deflate)
        #expect(decision.headerEdits.contentEncoding == "deflate")
        #expect(decision.level == 1)
    }

    @Test("unknown length (chunked, streaming) is compressed")
    func unknownLength() {
        #expect(policy.decide(request: request(), response: response(contentLength: nil)).coding == .gzip)
    }

    @Test("never HEAD")
    func head() {
        let decision = policy.decide(request: request(method: "HEAD"), response: response())
        #expect(decision.coding == nil)
        #expect(decision.skipReason == .headRequest)
        #expect(decision.headerEdits.isEmpty)
    }

    @Test("never statuses without content", arguments: [100, 101, 204, 205, 304])
    func noContentStatus(status: Int) {
        let decision = policy.decide(request: request(), response: response(status: status))
        #expect(decision.coding == nil)
        #expect(decision.skipReason == .noContentStatus)
    }

    @Test("error pages with text bodies are compressed", arguments: [404, 500, 503])
    func errorPages(status: Int) {
        #expect(policy.decide(request: request(), response: response(status: status)).coding == .gzip)
    }

    @Test("never 206 or a Range request")
    func ranges() {
        #expect(policy.decide(request: request(), response: response(status: 206)).skipReason == .rangeRequest)
        #expect(policy.decide(request: request(hasRange: true), response: response()).skipReason == .rangeRequest)
    }

    @Test("no double compression", arguments: ["gzip", "deflate", "br", " gzip ", "identity"])
    func alreadyEncoded(encoding: String) {
        let decision = policy.decide(request: request(), response: response(contentEncoding: encoding))
        #expect(decision.coding == nil)
        #expect(decision.skipReason == .alreadyEncoded)
        #expect(decision.headerEdits.isEmpty, "the backend's encoding and length must be left alone")
    }

    @Test("an empty Content-Encoding is not an encoding")
    func emptyContentEncoding() {
        #expect(policy.decide(request: request(), response: response(contentEncoding: "")).coding == .gzip)
    }

    @Test("no-transform on the response or the request forbids compression")
    func noTransform() {
        for value in ["no-transform", "private, No-Transform", "max-age=0,no-transform"] {
            #expect(policy.decide(request: request(), response: response(cacheControl: value)).skipReason == .noTransform)
            #expect(policy.decide(request: request(cacheControl: value), response: response()).skipReason == .noTransform)
        }
        for value in ["no-transformer", "private=\"no-transform\"", "no-cache"] {
            #expect(policy.decide(request: request(), response: response(cacheControl: value)).coding == .gzip, "\(value)")
        }
    }

    @Test("below minSize when the length is known")
    func small() {
        #expect(policy.decide(request: request(), response: response(contentLength: 1023)).skipReason == .tooSmall)
        #expect(policy.decide(request: request(), response: response(contentLength: 0)).skipReason == .tooSmall)
        #expect(policy.decide(request: request(), response: response(contentLength: 1024)).coding == .gzip)
        let noMinimum = CompressionPolicy(minSize: 0)
        #expect(noMinimum.decide(request: request(), response: response(contentLength: 0)).skipReason == .tooSmall)
        #expect(noMinimum.decide(request: request(), response: response(contentLength: 1)).coding == .gzip)
    }

    @Test(
        "default types: compressible",
        arguments: [
            "text/html", "TEXT/HTML; charset=UTF-8", "text/css", "text/plain;charset=utf-8", "text/javascript",
            "application/json; charset=utf-8", "application/xml", "application/soap+xml; action=\"x\"",
            "application/javascript", "application/x-javascript", "application/vnd.ms-sync.wbxml",
            "image/svg+xml", " text/xml "
        ])
    func compressibleTypes(contentType: String) {
        #expect(policy.isCompressible(contentType: contentType))
        #expect(policy.decide(request: request(), response: response(contentType: contentType)).coding == .gzip)
    }

    @Test(
        "default types: not compressible",
        arguments: [
            "image/png", "application/octet-stream", "application/mapi-http", "application/zip", "text/",
            "textual/html", "application/xml-dtd", "application/jsonx", "", ";charset=utf-8"
        ])
    func incompressibleTypes(contentType: String) {
        #expect(!policy.isCompressible(contentType: contentType))
        #expect(policy.decide(request: request(), response: response(contentType: contentType)).skipReason == .typeNotCompressible)
    }

    @Test("a missing Content-Type is not compressed")
    func missingType() {
        #expect(policy.decide(request: request(), response: response(contentType: nil)).skipReason == .typeNotCompressible)
    }

    @Test("custom type lists, wildcards and case")
    func customTypes() {
        let all = CompressionPolicy(types: ["*/*"])
        #expect(all.isCompressible(contentType: "image/png"))
        let images = CompressionPolicy(types: ["IMAGE/*", "application/x-custom; q=1"])
        #expect(images.isCompressible(contentType: "image/bmp"))
        #expect(images.isCompressible(contentType: "application/X-Custom"))
        #expect(!images.isCompressible(contentType: "text/html"))
        #expect(!CompressionPolicy(types: []).isCompressible(contentType: "text/html"))
    }

    @Test(
        "never .lzx (Offline Address Book files)",
        arguments: [
            "/OAB/1234/lzx.LZX", "/oab/guid/full.lzx?cache=1", "/oab/x.lzx"
        ])
    func lzx(path: String) {
        let decision = policy.decide(request: request(path: path), response: response(contentType: "text/plain"))
        #expect(decision.skipReason == .excludedPath)
    }

    @Test("other OAB files are compressed")
    func oabManifest() {
        let decision = policy.decide(request: request(path: "/OAB/guid/oab.xml"), response: response(contentType: "text/xml"))
        #expect(decision.coding == .gzip)
    }

    @Test("a disabled policy changes nothing")
    func disabled() {
        let decision = CompressionPolicy.disabled.decide(request: request(), response: response())
        #expect(decision.coding == nil)
        #expect(decision.skipReason == .disabled)
        #expect(decision.headerEdits.isEmpty)
    }

    @Test("a client that cannot decode gets identity, but caches still learn about Vary")
    func notAcceptable() {
        for accept in [nil, "identity", "gzip;q=0", "br"] as [String?] {
            let decision = policy.decide(request: request(acceptEncoding: accept), response: response(etag: "\"e\""))
            #expect(decision.coding == nil)
            #expect(decision.skipReason == .notAcceptable)
            #expect(
                decision.headerEdits
                    == CompressionHeaderEdits(
                        contentEncoding: nil, vary: "Accept-Encoding", etag: .keep,
                        removeContentLength: false, removeAcceptRanges: false))
        }
    }

    @Test(
        "ETag weakening",
        arguments: [
            ("\"x\"", ETagEdit.replace("W/\"x\"")),
            ("\"\"", .replace("W/\"\"")),
            (" \"abc:0\" ", .replace("W/\"abc:0\"")),
            ("W/\"x\"", .keep),
            ("w/\"x\"", .remove),  // the W/ prefix is case-sensitive: not a weak tag, not a valid strong one
            ("abc", .remove),
            ("\"unterminated", .remove),
            ("W/abc", .remove)
        ])
    func etag(value: String, expected: ETagEdit) {
        let decision = policy.decide(request: request(), response: response(etag: value))
        #expect(decision.headerEdits.etag == expected)
    }

    @Test("no ETag stays no ETag")
    func noETag() {
        #expect(policy.decide(request: request(), response: response(etag: nil)).headerEdits.etag == .keep)
    }

    @Test(
        "Vary merge",
        arguments: [
            (nil, "Accept-Encoding"),
            ("", "Accept-Encoding"),
            ("Cookie", "Cookie, Accept-Encoding"),
            ("Origin, X-Accept-Encoding-Hint", "Origin, X-Accept-Encoding-Hint, Accept-Encoding"),
            ("accept-encoding", nil),
            ("Cookie,  Accept-Encoding ", nil),
            ("*", nil),
            ("Cookie, *", nil)
        ] as [(String?, String?)])
    func vary(existing: String?, expected: String?) {
        let decision = policy.decide(request: request(), response: response(vary: existing))
        #expect(decision.coding == .gzip)
        #expect(decision.headerEdits.vary == expected)
    }

    @Test("apply() removes, then sets, with canonical names")
    func apply() {
        var headers: [(String, String)] = [
            ("Content-Length", "16384"), ("Accept-Ranges", "bytes"), ("ETag", "\"x\""), ("Vary", "Cookie"),
            ("Content-Type", "text/html")
        ]
        let decision = policy.decide(request: request(), response: response(etag: "\"x\"", vary: "Cookie"))
        decision.headerEdits.apply(
            set: { name, value in
                headers.removeAll { $0.0 == name }
                headers.append((name, value))
            },
            remove: { name in headers.removeAll { $0.0 == name } })
        let result = Dictionary(uniqueKeysWithValues: headers)
        #expect(
            result == [
                "Content-Type": "text/html", "Content-Encoding": "gzip", "Vary": "Cookie, Accept-Encoding",
                "ETag": "W/\"x\""
            ])

        var untouched = headers
        CompressionHeaderEdits.none.apply(set: { _, _ in untouched = [] }, remove: { _ in untouched = [] })
        #expect(untouched.count == headers.count)
    }
}
