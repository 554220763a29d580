import COpenSSL
import Foundation

/// The certificate's validity period.
extension X509Certificate {
    /// The start of the validity period (notBefore).
    public var notBefore: Date { Self.date(X509_get0_notBefore(x509)) }

    /// The end of the validity period (notAfter).
    public var notAfter: Date { Self.date(X509_get0_notAfter(x509)) }

    /// Whether `date` lies within [notBefore, notAfter].
    public func isValid(at date: Date = Date()) -> Bool {
        date >= notBefore && date <= notAfter
    }

    /// Converts an ASN1_TIME (UTCTime or GeneralizedTime, always UTC in certificates) to a Date.
    static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date {
        guard let time else { return Date(timeIntervalSince1970: 0) }
        var parts = tm()
        // ASN1_TIME_to_tm returns 1 on success; an unparseable time becomes the epoch, which every
        // caller treats as "not valid" rather than crashing.
        guard ASN1_TIME_to_tm(time, &parts) == 1 else { return Date(timeIntervalSince1970: 0) }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }
}
