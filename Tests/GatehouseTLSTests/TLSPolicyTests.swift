import Foundation
import Testing

@testable import GatehouseTLS

/// Policy validation names the bad value; the default is the Exchange posture.
@Suite struct TLSPolicyTests {
    @Test func defaultPolicyIsValidAndExchangeLike() throws {
        let policy = TLSPolicy.exchangeDefault
        try policy.validate()
        #expect(policy.minimumVersion == .tls1_2)
        #expect(policy.maximumVersion == .tls1_3)
        #expect(policy.groups == ["X25519", "P-256"])
        #expect(policy.handshakeTimeout == .seconds(10))
        #expect(
            policy.cipherList.split(separator: ":").allSatisfy { $0.hasPrefix("ECDHE-") && ($0.contains("GCM") || $0.contains("CHACHA20")) }
        )
    }

    @Test func badCipherIsNamed() {
        var policy = TLSPolicy.exchangeDefault
        policy.cipherList = "ECDHE-RSA-AES128-GCM-SHA256:NOT-A-CIPHER"
        let error = #expect(throws: TLSError.self) { try policy.validate() }
        #expect(error?.kind == .configuration)
        #expect(error?.message.contains("\"NOT-A-CIPHER\"") == true)
    }

    @Test func badTLS13SuiteIsNamed() {
        var policy = TLSPolicy.exchangeDefault
        policy.cipherSuites = "TLS_AES_128_GCM_SHA256:TLS_FAKE_SHA1"
        let error = #expect(throws: TLSError.self) { try policy.validate() }
        #expect(error?.message.contains("\"TLS_FAKE_SHA1\"") == true)
    }

    @Test func badGroupIsNamed() {
        var policy = TLSPolicy.exchangeDefault
        policy.groups = ["X25519", "P-999"]
        let error = #expect(throws: TLSError.self) { try policy.validate() }
        #expect(error?.message.contains("\"P-999\"") == true)
    }

    @Test func invertedVersionsAreRefused() {
        var policy = TLSPolicy.exchangeDefault
        policy.minimumVersion = .tls1_3
        policy.maximumVersion = .tls1_2
        #expect(throws: TLSError.self) { try policy.validate() }
    }

    @Test func contextsRefuseBadPolicies() throws {
        let pki = try TestPKI()
        let certified = try pki.certified(pki.selfSigned(cn: "a.example.com", dns: ["a.example.com"]))
        var policy = TLSPolicy.exchangeDefault
        policy.groups = ["nope"]
        #expect(throws: TLSError.self) {
            try CertificateStore(certificates: [certified], defaultCertificate: nil, policy: policy, alpn: ["h2"], strictSNI: false)
        }
        #expect(throws: TLSError.self) {
            try TLSClientContext(trust: BackendTrust(trustedCertificates: [certified.leaf]), policy: policy)
        }
    }
}
