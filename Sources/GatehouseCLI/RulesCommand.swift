import ArgumentParser
import Foundation
import Gatehouse

/// `gatehouse rules`: screening rule packs.
struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "Work with screening rule packs.",
        subcommands: [RulesImportCommand.self])
}

/// `gatehouse rules import <web.config> --out pack.yaml`
struct RulesImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Convert IIS URL Rewrite rules (web.config, applicationHost.config) into a rule pack.",
        discussion: """
            Reads the inbound rules under <system.webServer><rewrite><rules> (or <globalRules>), as \
            Microsoft's Exchange mitigation scripts (EOMT, EOMTv2, EEMS) write them, and writes a pack \
            for `screening: { packs: [...] }`.

            Converted: <match url=".*"/>; <conditions logicalGrouping="MatchAll|MatchAny"> with \
            <add input pattern negate ignoreCase> on {REQUEST_URI} (key uri), \
            {UrlDecode:{REQUEST_URI}} (decoded_uri), {UrlDecode:{QUERY_STRING}} (query), \
            {REQUEST_METHOD} (method), {HTTP_COOKIE} and {HTTP_<NAME>} (header); actions \
            AbortRequest (abort) and CustomResponse (deny for 403, else { status: N }).

            All or nothing: a rule, condition or action a pack cannot express exactly (Rewrite or \
            Redirect actions, server variables, another input, another match url, outbound rules) \
            is refused with its line, as file:line: error: rule 'name': why, and nothing is written. \
            Disabled rules are named and skipped.

            Examples:
              gatehouse rules import web.config --out conf/screening/iis.yaml
              gatehouse rules import applicationHost.config --pack eomt --pack-version 2021.03
            """)

    @Argument(help: "The web.config or applicationHost.config to read.")
    var file: String

    @Option(name: .shortAndLong, help: "Where to write the pack (default: standard output).")
    var out: String?

    @Option(help: "The pack's name (pack:).")
    var pack = "iis-rewrite"

    @Option(name: .customLong("pack-version"), help: "The pack's version (version:).")
    var packVersion: String?

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            StandardError.print("\(file): error: cannot read the file (does it exist, and is it readable?)")
            throw ExitCode(1)
        }
        let result: IISRuleImport.Result
        do {
            result = try IISRuleImport.convert(
                xml: data, sourceName: (file as NSString).lastPathComponent,
                pack: pack, version: packVersion)
        } catch {
            for problem in error.problems {
                StandardError.print("\(file)\(problem.line > 0 ? ":\(problem.line)" : ""): error: \(problem)")
            }
            StandardError.print("\(file): \(error.problems.count) problem\(error.problems.count == 1 ? "" : "s"); nothing written")
            throw ExitCode(1)
        }
        for note in result.notes {
            StandardError.print("\(file):\(note.line): note: \(note)")
        }
        if let out {
            do {
                try result.yaml.write(toFile: out, atomically: true, encoding: .utf8)
            } catch {
                StandardError.print("\(out): error: cannot write the pack: \(error.localizedDescription)")
                throw ExitCode(1)
            }
            StandardError.print("\(out): \(result.ruleCount) rule\(result.ruleCount == 1 ? "" : "s") written (pack '\(pack)')")
        } else {
            print(result.yaml, terminator: "")
        }
    }
}
