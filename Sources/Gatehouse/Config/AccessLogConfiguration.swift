import Foundation

/// The access log: which format, and where (`access_log:`). Without the block: today's text line
/// on standard output.
public struct AccessLogConfiguration: Sendable, Hashable {
    /// The line format.
    public var format: AccessLogFormat
    /// The absolute path of the log file; nil writes to standard output.
    public var path: String?

    /// A configuration; the defaults are the file's.
    public init(format: AccessLogFormat = .text, path: String? = nil) {
        self.format = format
        self.path = path
    }
}

/// The `access_log:` block as written.
struct AccessLogDocument: Codable {
    var format: Located<String>?
    var path: Located<String>?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case format, path
    }
}

/// Validation of `access_log:`: the format is one of the three, the path `stdout` or a file whose
/// folder exists and which this user can write (so a typo is refused by `check`, not found at start).
extension ConfigValidator {
    func validateAccessLog(_ document: Located<AccessLogDocument>?) -> AccessLogConfiguration {
        var configuration = AccessLogConfiguration()
        guard let document else { return configuration }
        if let format = document.value.format,
            let chosen = choice(format, among: AccessLogFormat.allCases.map(\.rawValue))
        {
            configuration.format = AccessLogFormat(rawValue: chosen)!
        }
        if let value = document.value.path, value.value != "stdout" {
            configuration.path = writableFile(value)
        }
        return configuration
    }

    /// The absolute path of a file to append to, or nil with an error saying why it cannot be.
    private func writableFile(_ value: Located<String>) -> String? {
        guard !value.value.isEmpty else {
            collector.error(
                "\(value.place) is empty", at: value.mark,
                hint: "write a file path, or 'stdout' for standard output")
            return nil
        }
        let path = absolutePath(value.value)
        let resolved = value.value.hasPrefix("/") ? "" : " (resolved to \(path))"
        let folder = (path as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard !isDirectory.boolValue else {
                collector.error(
                    "\(value.place) '\(value.value)'\(resolved) is a folder, not a file", at: value.mark,
                    hint: "name the log file inside it, e.g. \(value.value)/access.log")
                return nil
            }
            guard FileManager.default.isWritableFile(atPath: path) else {
                collector.error(
                    "\(value.place) '\(value.value)'\(resolved) is not writable by this user",
                    at: value.mark, hint: "check the file's owner and permissions")
                return nil
            }
            return path
        }
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            collector.error(
                "the folder of \(value.place) '\(value.value)'\(resolved) does not exist", at: value.mark,
                hint: "create \(folder) first; relative paths are relative to the configuration file's folder")
            return nil
        }
        guard FileManager.default.isWritableFile(atPath: folder) else {
            collector.error(
                "\(value.place) '\(value.value)'\(resolved) cannot be created: the folder is not writable "
                    + "by this user", at: value.mark, hint: "check the owner and permissions of \(folder)")
            return nil
        }
        return path
    }
}
