/// The deny rules that name virtual directories in the path: whole segments of the lower-case
/// canonical path, scanned in place.
extension RequestInspection {
    /// `external_powershell`: a remote PowerShell directory (`powershell`, `powershell-liveid`) as a
    /// whole path segment. At the root (`/powershell`, `/PowerShell;x/...`) it is the admin service
    /// itself and only clients outside the admin networks are refused; anywhere below the root it is
    /// refused for every client, because there it can only be aimed at a front end that rewrites
    /// paths (OWASSRF's `/owa/<address>/powershell`), never at the PowerShell service.
    ///
    /// - Parameter isAdminClient: asked at most once, and only for a PowerShell path at the root.
    static func namesPowershell(_ path: UnsafeBufferPointer<UInt8>, isAdminClient: () -> Bool) -> Bool {
        var atRoot = true
        for segment in PathSegments(path) {
            if ExchangeService.names(ExchangeService.powershellDirectoryNames, contain: segment.name) {
                if !atRoot || !isAdminClient() { return true }
            }
            atRoot = false
        }
        return false
    }
}
