import Foundation
import GatehouseTLS

/// OCSP responses (`ocsp:` of a certificate entry) are checked while the runtime is built: a bad
/// one costs the certificate its staple and gives a warning, never the listener.
extension RuntimeSnapshot {
    /// `certified` with the staple read from `file` when it passes `OCSPStaple`'s checks; otherwise
    /// unchanged, with a warning naming the file and the reason.
    static func stapling(
        _ file: String?, to certified: CertifiedKey, listener: String, now: Date = Date(), warnings: inout [String]
    ) -> CertifiedKey {
        guard let file else { return certified }
        var result = certified
        do {
            result.ocspStaple = try OCSPStaple.load(path: file, chain: certified.chain, now: now)
        } catch {
            warnings.append(
                "listener \(listener): OCSP response \(file) for \(certified.leaf.subjectLine) is not stapled: \(error)")
        }
        return result
    }
}
