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

    /// `explicit_logon_vdir`: under `/owa` or `/ecp`, a segment holding an address (an explicit
    /// logon, `/owa/u@contoso.com/`) followed later by a segment that is a virtual directory's name
    /// (`/owa/u@contoso.com/powershell`, `/ecp/u%40contoso.com/ews/exchange.asmx`). Exchange's front
    /// end proxied what followed the address to that service with its own machine credentials
    /// (OWASSRF, CVE-2022-41080), so no client, admin networks included, may send this shape.
    /// A mailbox whose address merely starts like a directory (`/owa/powershell-team@contoso.com/`)
    /// is the address segment itself and is not matched.
    static func isExplicitLogonToDirectory(_ path: UnsafeBufferPointer<UInt8>) -> Bool {
        var segments = PathSegments(path)
        guard let application = segments.next(),
            ExchangeService.names(ExchangeService.explicitLogonApplicationNames, contain: application.name)
        else { return false }
        var afterAddress = false
        while let segment = segments.next() {
            if afterAddress, ExchangeService.names(ExchangeService.proxiedDirectoryNames, contain: segment.name) {
                return true
            }
            if segment.holdsAddress { afterAddress = true }
        }
        return false
    }
}
