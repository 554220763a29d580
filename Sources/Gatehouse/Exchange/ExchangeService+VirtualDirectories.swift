/// The virtual-directory names the deny rules match whole path segments against.
extension ExchangeService {
    /// The first segment of this service's path, lower case (`/EWS/` -> `ews`,
    /// `/Microsoft-Server-ActiveSync` -> `microsoft-server-activesync`).
    var virtualDirectory: String {
        String(pathPrefix.lowercased().split(separator: "/").first ?? "")
    }

    /// Lower-case names of every virtual directory Exchange's front end proxies by path: the
    /// catalogue's services plus back-end directories that have no preset (`RpcWithCert`,
    /// `PushNotifications`, `PowerShell-LiveID`, `psws`). An explicit logon followed by one of these
    /// is how OWASSRF (CVE-2022-41080) made the front end call another service as itself.
    /// Made once; matching compares bytes without allocating.
    static let proxiedDirectoryNames: [[UInt8]] =
        allCases.map { Array($0.virtualDirectory.utf8) }
        + ["powershell-liveid", "rpcwithcert", "pushnotifications", "psws"].map { Array($0.utf8) }

    /// Lower-case names under which Exchange serves remote PowerShell.
    static let powershellDirectoryNames: [[UInt8]] = [Array("powershell".utf8), Array("powershell-liveid".utf8)]

    /// Lower-case names of the applications that accept an explicit logon, `/<app>/<address>/...`.
    static let explicitLogonApplicationNames: [[UInt8]] = [Array("owa".utf8), Array("ecp".utf8)]

    /// Whether `name` (lower case) is exactly one of `names`.
    static func names<C: Collection<UInt8>>(_ names: [[UInt8]], contain name: C) -> Bool {
        let count = name.count
        for candidate in names where candidate.count == count && candidate.elementsEqual(name) {
            return true
        }
        return false
    }
}
