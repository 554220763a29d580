/// Extended Protection at run time, as pure functions of the front certificates and what each
/// server presented: the verdict per (front, server), which servers leave which service's
/// NTLM rotation, and which (service, pool, server) pairs changed state (one log line each).
/// `HealthRegistry` holds the inputs; everything here is testable with hashes passed in.
enum ChannelBindingTable {
    /// One front certificate compared with one server of one of its pools.
    struct Row: Equatable, Sendable {
        var front: Int
        var pool: Int
        var server: Int
        var verdict: ChannelBindingVerdict
    }

    /// A (service, pool, server) triple by name: stable across reloads.
    struct Key: Hashable, Sendable {
        var service: String
        var pool: String
        var server: String
    }

    /// A triple whose state changed: it now mismatches (`front` is the first front certificate it
    /// mismatches), or it matches again after a mismatch.
    struct Change: Equatable, Sendable {
        var key: Key
        var mismatched: Bool
        var setting: ExtendedProtectionSetting
        var front: PresentedCertificate
        var presented: PresentedCertificate
    }

    /// The verdict of every front against every server of its pools. `presented[pool][server]`
    /// is the certificate of the server's last successful handshake (nil: none yet).
    static func rows(fronts: [ChannelBindingFront], poolNames: [String], presented: [[PresentedCertificate?]]) -> [Row] {
        var rows: [Row] = []
        for (frontIndex, front) in fronts.enumerated() {
            for name in front.pools {
                guard let pool = poolNames.firstIndex(of: name) else { continue }
                for (server, certificate) in presented[pool].enumerated() {
                    let verdict = ChannelBindingVerdict.of(
                        front: front.certificate.bindingHash, presented: certificate?.bindingHash)
                    rows.append(Row(front: frontIndex, pool: pool, server: server, verdict: verdict))
                }
            }
        }
        return rows
    }

    /// `excluded[pool][service]`: per server, whether it is out of the rotation of the service's
    /// NTLM/Negotiate routes (`RoutePolicy.bindingService`).
    static func exclusions(rows: [Row], fronts: [ChannelBindingFront], serverCounts: [Int]) -> [[Int: [Bool]]] {
        var excluded: [[Int: [Bool]]] = serverCounts.map { _ in [:] }
        for row in rows {
            let front = fronts[row.front]
            guard row.verdict.excludes(setting: front.setting, routeUsesWindowsAuthentication: true) else { continue }
            excluded[row.pool][front.service, default: Array(repeating: false, count: serverCounts[row.pool])][row.server] = true
        }
        return excluded
    }

    /// The triples that mismatch now, each with the first front certificate it mismatches, and the
    /// ones that match every front (a triple with an unknown verdict is in neither).
    static func states(
        rows: [Row], fronts: [ChannelBindingFront], poolNames: [String], serverNames: [[String]],
        presented: [[PresentedCertificate?]]
    ) -> (mismatched: [Key: Change], matched: [Key: Change]) {
        var mismatched: [Key: Change] = [:]
        var matched: [Key: Change] = [:]
        var unknown: Set<Key> = []
        for row in rows {
            let front = fronts[row.front]
            let key = Key(service: front.serviceName, pool: poolNames[row.pool], server: serverNames[row.pool][row.server])
            guard let certificate = presented[row.pool][row.server] else {
                unknown.insert(key)
                continue
            }
            let change = Change(
                key: key, mismatched: row.verdict == .mismatch, setting: front.setting, front: front.certificate,
                presented: certificate)
            if row.verdict == .mismatch {
                if mismatched[key] == nil { mismatched[key] = change }
            } else if matched[key] == nil {
                matched[key] = change
            }
        }
        for key in mismatched.keys { matched[key] = nil }
        for key in unknown { matched[key] = nil }
        return (mismatched, matched)
    }

    /// What changed from `before` (the triples that mismatched) to `now`: each newly mismatching
    /// triple, and each formerly mismatching one that now matches. A triple that became unknown
    /// (removed by a reload) changes nothing worth a line.
    static func changes(before: Set<Key>, now: (mismatched: [Key: Change], matched: [Key: Change])) -> [Change] {
        let appeared = now.mismatched.filter { !before.contains($0.key) }.values
        let recovered = now.matched.filter { before.contains($0.key) }.values
        return (Array(appeared) + Array(recovered)).sorted {
            ($0.key.service, $0.key.pool, $0.key.server) < ($1.key.service, $1.key.pool, $1.key.server)
        }
    }
}
