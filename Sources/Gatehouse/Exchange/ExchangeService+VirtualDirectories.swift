/// The virtual-directory names the deny rules match whole path segments against.
extension ExchangeService {
    /// Lower-case names under which Exchange serves remote PowerShell.
    static let powershellDirectoryNames: [[UInt8]] = [Array("powershell".utf8), Array("powershell-liveid".utf8)]

    /// Whether `name` (lower case) is exactly one of `names`.
    static func names<C: Collection<UInt8>>(_ names: [[UInt8]], contain name: C) -> Bool {
        let count = name.count
        for candidate in names where candidate.count == count && candidate.elementsEqual(name) {
            return true
        }
        return false
    }
}
