import COpenSSL
import Foundation

/// A DER OCSP response that passed every check for the certificate it is stapled to, so a client
/// that asks (status_request) learns the certificate is good without asking the CA itself.
///
/// Checked once, when the configuration is loaded (start and reload): the response must be
/// successful, hold exactly one single response whose CertID names this certificate and its
/// issuer, be signed by that issuer or by a responder the issuer certified for OCSP signing, say
/// "good", and be current (nextUpdate in the future, thisUpdate not further in the future than
/// `clockSkew`). A response that fails is never stapled.
public struct OCSPStaple: Sendable, Equatable {
    /// The response exactly as read, handed to OpenSSL for each handshake that asks.
    public let der: [UInt8]
    /// When the responder produced this status.
    public let thisUpdate: Date
    /// When the status expires; the file must be refreshed (and Gatehouse reloaded) before then.
    public let nextUpdate: Date

    /// How far thisUpdate may lie ahead of our clock (responders and hosts disagree a little).
    public static let clockSkew: TimeInterval = 300
    /// The largest response file read (real responses are a few KiB).
    public static let maximumSize = 1 << 20

    /// Why a response was refused.
    public struct Rejection: Error, Equatable, Sendable, CustomStringConvertible {
        public var reason: String
        public init(_ reason: String) { self.reason = reason }
        public var description: String { reason }
    }

    /// Reads `path` and checks it for the leaf of `chain` (leaf first, issuer somewhere after it).
    public static func load(path: String, chain: [X509Certificate], now: Date = Date()) throws -> OCSPStaple {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw Rejection("cannot read the file") }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: maximumSize + 1)) ?? Data()
        guard data.count <= maximumSize else { throw Rejection("the file is larger than 1 MiB, not an OCSP response") }
        return try OCSPStaple(der: [UInt8](data), chain: chain, now: now)
    }

    /// Checks `der` for the leaf of `chain` at `now`; throws a `Rejection` naming the failed check.
    public init(der: [UInt8], chain: [X509Certificate], now: Date = Date()) throws {
        guard let leaf = chain.first else { throw Rejection("no certificate to check the response against") }
        guard let issuer = chain.dropFirst().first(where: { X509_check_issued($0.x509, leaf.x509) == X509_V_OK }) else {
            throw Rejection(
                "the certificate file holds no issuer of \(leaf.subjectLine); append the issuing CA certificate after the leaf")
        }
        guard !der.isEmpty else { throw Rejection("the file is empty") }
        OpenSSLErrorQueue.clear()
        let response: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var pointer: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_OCSP_RESPONSE(nil, &pointer, buffer.count)
        }
        guard let response else { throw Rejection("not a DER OCSP response") }
        defer { OCSP_RESPONSE_free(response) }
        let status = OCSP_response_status(response)
        guard status == OCSP_RESPONSE_STATUS_SUCCESSFUL else {
            throw Rejection("the responder answered \(String(cString: OCSP_response_status_str(Int(status)))), not successful")
        }
        guard let basic = OCSP_response_get1_basic(response) else { throw Rejection("the response holds no basic OCSP response") }
        defer { OCSP_BASICRESP_free(basic) }
        let count = OCSP_resp_count(basic)
        guard count == 1, let single = OCSP_resp_get0(basic, 0) else {
            throw Rejection("the response holds \(count) certificate statuses; exactly one is expected")
        }
        try Self.checkCertificateID(single, leaf: leaf, issuer: issuer)
        try Self.checkSignature(basic, issuer: issuer)
        let times = try Self.checkStatusAndTimes(single, now: now)
        thisUpdate = times.thisUpdate
        nextUpdate = times.nextUpdate
        self.der = der
    }

    /// The single response must name `leaf` as issued by `issuer`, with the hash the responder chose.
    private static func checkCertificateID(_ single: OpaquePointer, leaf: X509Certificate, issuer: X509Certificate) throws {
        guard let presented = OCSP_SINGLERESP_get0_id(single) else { throw Rejection("the status names no certificate") }
        var algorithm: OpaquePointer?
        guard OCSP_id_get0_info(nil, &algorithm, nil, nil, presented) == 1, let algorithm,
            let digest = EVP_get_digestbyname(OBJ_nid2sn(OBJ_obj2nid(algorithm)))
        else { throw Rejection("the status names its certificate with an unknown hash algorithm") }
        guard let expected = OCSP_cert_to_id(digest, leaf.x509, issuer.x509) else {
            throw Rejection(OpenSSLErrorQueue.describe("cannot compute the certificate ID"))
        }
        defer { OCSP_CERTID_free(expected) }
        guard OCSP_id_cmp(expected, presented) == 0 else {
            throw Rejection(
                "the response is for another certificate (its CertID does not match \(leaf.subjectLine) issued by \(issuer.subjectLine))")
        }
    }

    /// OCSP_basic_verify with the issuer as the only trust anchor (an intermediate is enough: partial
    /// chains are allowed), so only the issuer or a responder it certified can have signed.
    private static func checkSignature(_ basic: OpaquePointer, issuer: X509Certificate) throws {
        guard let store = X509_STORE_new() else { throw Rejection("cannot allocate a certificate store") }
        defer { X509_STORE_free(store) }
        guard let certificates = COpenSSL_sk_X509_new_null() else { throw Rejection("cannot allocate a certificate stack") }
        defer { COpenSSL_sk_X509_free(certificates) }
        guard X509_STORE_add_cert(store, issuer.x509) == 1, COpenSSL_sk_X509_push(certificates, issuer.x509) > 0 else {
            throw Rejection(OpenSSLErrorQueue.describe("cannot prepare the signature check"))
        }
        X509_STORE_set_flags(store, UInt(X509_V_FLAG_PARTIAL_CHAIN))
        OpenSSLErrorQueue.clear()
        guard OCSP_basic_verify(basic, certificates, store, 0) == 1 else {
            let detail = OpenSSLErrorQueue.drain().map { " (\($0))" } ?? ""
            throw Rejection("the response is not signed by the issuer \(issuer.subjectLine) or a responder it certified\(detail)")
        }
    }

    /// The status must be good and current; returns (thisUpdate, nextUpdate).
    private static func checkStatusAndTimes(_ single: OpaquePointer, now: Date) throws -> (thisUpdate: Date, nextUpdate: Date) {
        var reason: Int32 = 0
        var revoked: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>?
        var thisUpdateTime: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>?
        var nextUpdateTime: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>?
        let status = OCSP_single_get0_status(single, &reason, &revoked, &thisUpdateTime, &nextUpdateTime)
        let formatter = ISO8601DateFormatter()
        switch status {
        case V_OCSP_CERTSTATUS_GOOD: break
        case V_OCSP_CERTSTATUS_REVOKED:
            let when = revoked.map { formatter.string(from: X509Certificate.date($0)) } ?? "an unknown time"
            throw Rejection("the response says the certificate was revoked at \(when)")
        default: throw Rejection("the response says the certificate's status is unknown to the responder")
        }
        guard let thisUpdateTime else { throw Rejection("the response has no thisUpdate time") }
        guard let nextUpdateTime else {
            throw Rejection("the response has no nextUpdate time, so it never says when it expires")
        }
        let thisUpdate = X509Certificate.date(thisUpdateTime)
        let nextUpdate = X509Certificate.date(nextUpdateTime)
        guard nextUpdate > now else { throw Rejection("the response expired at \(formatter.string(from: nextUpdate)) (nextUpdate)") }
        guard thisUpdate <= now.addingTimeInterval(clockSkew) else {
            throw Rejection("the response's thisUpdate \(formatter.string(from: thisUpdate)) is in the future; check the clock")
        }
        return (thisUpdate, nextUpdate)
    }
}
