import COpenSSL

/// The RFC 5929 `tls-server-end-point` channel binding of a server certificate, and the token an
/// NTLM client derives from it (MS-NLMP `MsvAvChannelBindings`).
///
/// Windows Extended Protection binds an NTLM or Kerberos logon to the TLS channel the client saw:
/// the client hashes the server certificate it received, and the server compares that with the
/// hash of its own certificate. The simulator computes what it expects here and `gatehouse check`
/// compares front and back certificates with the same code, so both always agree.
extension X509Certificate {
    /// The digest RFC 5929 section 4.1 prescribes for this certificate: the hash of its signature
    /// algorithm, except that MD5 and SHA-1 (and signatures without a separate hash, such as
    /// Ed25519) use SHA-256.
    public var tlsServerEndPointDigestName: String {
        var digestNID: Int32 = NID_undef
        // X509_get_signature_info resolves RSA-PSS parameters too; it returns 1 on success.
        if X509_get_signature_info(x509, &digestNID, nil, nil, nil) != 1 {
            digestNID = NID_undef
        }
        switch digestNID {
        case NID_undef, NID_md5, NID_sha1, NID_md5_sha1: return "SHA256"
        default: return String(cString: OBJ_nid2sn(digestNID))
        }
    }

    /// The `tls-server-end-point` value: the certificate's DER encoding hashed with
    /// `tlsServerEndPointDigestName`. Empty only if OpenSSL lacks that digest.
    public var tlsServerEndPointHash: [UInt8] {
        guard let type = EVP_get_digestbyname(tlsServerEndPointDigestName) else { return [] }
        var buffer = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard X509_digest(x509, type, &buffer, &length) == 1 else { return [] }
        return Array(buffer.prefix(Int(length)))
    }

    /// `tlsServerEndPointHash` as uppercase hex, for messages and logs.
    public var tlsServerEndPointHex: String { HexText.upper(tlsServerEndPointHash) }

    /// The application data of the GSS channel bindings: `tls-server-end-point:` followed by the hash.
    public var channelBindingApplicationData: [UInt8] {
        ChannelBindings.applicationData(tlsServerEndPoint: tlsServerEndPointHash)
    }
}

/// The GSS channel-bindings structure (RFC 4121 4.1.1.2 as SSPI lays it out) and its MD5, the
/// 16 bytes an NTLMv2 client puts in the `MsvAvChannelBindings` AV pair.
public enum ChannelBindings {
    /// `tls-server-end-point:` + `hash`.
    public static func applicationData(tlsServerEndPoint hash: [UInt8]) -> [UInt8] {
        Array("tls-server-end-point:".utf8) + hash
    }

    /// The flattened structure: initiator address type and length (zero, no address), acceptor
    /// address type and length (zero), then the application data's length and bytes; every
    /// integer 32-bit little-endian.
    public static func structure(applicationData: [UInt8]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 16)
        let count = UInt32(applicationData.count)
        bytes += (0..<4).map { UInt8(truncatingIfNeeded: count >> (8 * UInt32($0))) }
        return bytes + applicationData
    }

    /// The MD5 of `structure(applicationData:)`: the `MsvAvChannelBindings` value.
    public static func ntlmToken(applicationData: [UInt8]) -> [UInt8] {
        md5(structure(applicationData: applicationData))
    }

    /// The MD5 of `bytes` (the protocol mandates it; it is not used for anything secret here).
    static func md5(_ bytes: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBytes { input in
            EVP_Digest(input.baseAddress, input.count, &output, &length, EVP_md5(), nil)
        }
        return ok == 1 ? Array(output.prefix(Int(length))) : []
    }

    /// Uppercase hex of `bytes`, as messages show tokens and hashes.
    public static func hex(_ bytes: [UInt8]) -> String { HexText.upper(bytes) }
}
