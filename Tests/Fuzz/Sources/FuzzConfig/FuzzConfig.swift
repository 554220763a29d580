import Foundation
import Yams

@testable import Gatehouse

/// Fuzzes the configuration loader (YAML, decoding, validation) with any text.
///
/// Invariants: it never crashes; a refused document yields at least one error, and at least one
/// of its errors names a line (only a document with no YAML content at all may be refused
/// without one); every diagnostic's line lies within the document (plus one, for "at the end").
/// The document is read as `<temp>/conf/gatehouse.yaml`, beside empty stand-ins for the certificate
/// and key files the seeds name (`../certs/...`, `../certs-example/...`; the loader only checks that
/// they exist), so valid documents get past the file checks into the rest of the validation.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    // YAML's line breaks: LF, CR (CR LF counts once, so this is an upper bound), NEL, LS, PS.
    let lineCount = text.unicodeScalars.reduce(1) { count, scalar in
        count + (["\n", "\r", "\u{85}", "\u{2028}", "\u{2029}"].contains(scalar) ? 1 : 0)
    }
    do {
        let (_, warnings) = try GatehouseConfiguration.parse(yaml: text, path: Fixture.configPath)
        check(warnings, lineCount: lineCount)
    } catch {
        precondition(!error.diagnostics.isEmpty, "a refused configuration without a diagnostic")
        check(error.diagnostics + error.warnings, lineCount: lineCount)
        if !error.diagnostics.contains(where: { $0.line > 0 }) {
            // Yams: nil for a document with no content; a syntax error must have its line.
            let isEmptyDocument: Bool
            do { isEmptyDocument = try Yams.compose(yaml: text) == nil } catch { isEmptyDocument = false }
            precondition(
                isEmptyDocument,
                "a refused configuration without a line number: \(error.diagnostics.map(\.description))")
        }
    }
    return 0
}

/// Traps when a diagnostic points outside the document or says nothing.
func check(_ diagnostics: [ConfigDiagnostic], lineCount: Int) {
    for diagnostic in diagnostics {
        precondition(!diagnostic.message.isEmpty, "a diagnostic without a message")
        precondition(
            diagnostic.line >= 0 && diagnostic.line <= lineCount + 1,
            "a diagnostic on line \(diagnostic.line) of a \(lineCount)-line document: \(diagnostic)")
    }
}

/// The folder the document is read from, made once per process.
enum Fixture {
    static let configPath: String = {
        let root = NSTemporaryDirectory() + "gatehouse-fuzz-config-\(getpid())"
        let files = [
            "certs/mail.pem", "certs/mail.key", "certs/mbx01.pem", "certs/mbx02.pem",
            "certs-example/mail-ecdsa.pem", "certs-example/mail-ecdsa.key", "certs-example/mail-rsa.pem",
            "certs-example/mail-rsa.key", "certs-example/wildcard.pem", "certs-example/wildcard.key",
            "certs-example/mbx01.pem", "certs-example/mbx02.pem"
        ]
        for file in files {
            let path = root + "/" + file
            try! FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            precondition(FileManager.default.createFile(atPath: path, contents: Data("stand-in\n".utf8)))
        }
        try! FileManager.default.createDirectory(atPath: root + "/conf", withIntermediateDirectories: true)
        return root + "/conf/gatehouse.yaml"
    }()
}
