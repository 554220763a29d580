/// The Extended Protection part of `/state`: per server, the certificate it presented on its last
/// successful handshake, and per (service, host, key type) whether that certificate binds like the
/// front certificate the listener serves for that host (`match`, `mismatch`, `unknown` before the
/// first handshake), and whether it is out of that service's NTLM/Negotiate rotation.
extension AdminState {
    /// The picture `HealthRegistry.bindingPicture()` returns.
    typealias BindingPicture = (
        pools: [BackendPool], fronts: [ChannelBindingFront], presented: [[PresentedCertificate?]],
        rows: [ChannelBindingTable.Row]
    )

    /// The server's JSON members `"presented_sha256":...,"extended_protection":[...]`; pools are
    /// matched by name (the picture was read separately from the health picture).
    static func bindingMembers(pool name: String, server: Int, picture: BindingPicture) -> String {
        guard let pool = picture.pools.firstIndex(where: { $0.name == name }), server < picture.presented[pool].count
        else { return "\"presented_sha256\":null,\"extended_protection\":[]" }
        let presented = picture.presented[pool][server].map { quote($0.thumbprint) } ?? "null"
        var entries: [String] = []
        for row in picture.rows where row.pool == pool && row.server == server {
            let front = picture.fronts[row.front]
            let excluded = row.verdict.excludes(setting: front.setting, routeUsesWindowsAuthentication: true)
            entries.append(
                "{\"service\":\(quote(front.serviceName)),\"setting\":\(quote(front.setting.rawValue)),"
                    + "\"host\":\(quote(front.host)),\"key_type\":\(quote(front.keyType)),"
                    + "\"front_sha256\":\(quote(front.certificate.thumbprint)),"
                    + "\"match\":\(quote(row.verdict.rawValue)),\"excluded_from_ntlm\":\(excluded)}")
        }
        return "\"presented_sha256\":\(presented),\"extended_protection\":[\(entries.joined(separator: ","))]"
    }
}
