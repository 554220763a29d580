import Foundation

/// Validation of `screening:`: each rule pack is read and compiled in full here, so `check` and
/// start refuse a bad pattern, an unknown key or a duplicate id with the pack's file:line:column.
extension ConfigValidator {
    func validateScreening(_ document: Located<ScreeningDocument>?) -> ScreeningPacks? {
        guard let document else { return nil }
        guard
            let paths = required(
                document.value.packs, key: "packs", in: document,
                hint: "e.g. packs: [screening/exchange-mitigations.yaml]")
        else { return nil }
        var packs: [RulePack] = []
        var names: [String: String] = [:]
        for value in paths {
            guard let path = readableFile(value, what: "rule pack") else { continue }
            let packCollector = DiagnosticCollector(file: displayPath(forPack: value.value))
            let pack = RulePackLoader.load(path: path, collector: packCollector)
            collector.absorb(packCollector)
            guard let pack else { continue }
            if let earlier = names[pack.name] {
                collector.error(
                    "rule pack '\(pack.name)' in \(value.value) has the same name as the pack in \(earlier)",
                    at: value.mark, hint: "logs name rules <pack>/<id>: give each pack its own 'pack:' name")
                continue
            }
            names[pack.name] = value.value
            packs.append(pack)
        }
        if paths.isEmpty {
            collector.warning(
                "'packs' in 'screening' lists no rule pack", at: document.mark,
                hint: "remove 'screening:' or name a pack file")
        }
        return packs.isEmpty ? nil : ScreeningPacks(packs: packs)
    }

    /// How diagnostics name a pack file: relative to where the user's configuration path points
    /// (`conf/gatehouse.yaml` + `screening/x.yaml` -> `conf/screening/x.yaml`).
    private func displayPath(forPack path: String) -> String {
        if path.hasPrefix("/") { return path }
        let folder = (collector.file as NSString).deletingLastPathComponent
        return folder.isEmpty ? path : (folder as NSString).appendingPathComponent(path)
    }
}
