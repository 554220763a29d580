// Benchmark only (issue #21 "Cost"): what the rule packs add to routing one request.
//
//   swift build -c release --product screening-bench
//   .build/release/screening-bench [conf/screening/exchange-mitigations.yaml] [iterations]
//
// Times ExchangeRouter.decide (framing checks, canonicalisation, host, built-in deny rules, packs,
// route, header rewriting) on realistic Exchange requests without and with the pack, interleaved
// rounds, best round of each; the difference is the packs' cost per request. Compare it with the
// proxy's CPU per proxied request (loadtest/screening_cost.py measures that) for the percentage.
import Foundation
import Gatehouse
import NIOHTTP1

let arguments = CommandLine.arguments
let packPath = arguments.count > 1 ? arguments[1] : "conf/screening/exchange-mitigations.yaml"
let iterations = arguments.count > 2 ? Int(arguments[2]) ?? 200_000 : 200_000

let pack: RulePack
do {
    pack = try RulePack.load(path: packPath)
} catch {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(1)
}
let table = try RoutingTable(services: [
    .init(name: "contoso", hosts: ["mail.contoso.lab"], routes: [.init(prefix: "/", id: 0)])
])
let policy = RoutePolicy(poolIndex: 0, name: "contoso/owa", idleTimeout: .seconds(120), maxBodyBytes: 1 << 30)
let plain = ExchangeRouter(table: table, policies: [policy])
let screened = ExchangeRouter(table: table, policies: [policy], screening: ScreeningPacks(packs: [pack]))
let facts = ClientConnectionFacts(
    clientIP: IPAddress("192.0.2.10"), isTLS: true, serverName: "mail.contoso.lab",
    certificateCovers: { _ in true })

/// Requests in the proportions a front end sees them: OWA with its cookies, EWS, ActiveSync, MAPI.
let cookies =
    "X-BackEndCookie=S-1-5-21-1=u56Lnp2ejJqBy5rJnZrNnpvSz8rMx9LLncnH0sbJys7SnczMnZvOm8nMnprGgYHNz83N0s7P0s3Hq8/G; "
    + "X-OWA-CANARY=Jq8cYbJ7k0uKZ3o6w8F1d2Q; ClientId=7A0D2F3C4B5E6F708192A3B4C5D6E7F8; X-BEResource=mbx01~1942062522"
let heads: [HTTPRequestHead] = [
    ("GET", "/owa/service.svc?action=GetItem&EP=1&ID=-42&AC=1", [("Cookie", cookies)]),
    ("POST", "/EWS/Exchange.asmx", [("Cookie", "X-BackEndOverrideCookie=mbx01~1942")]),
    ("POST", "/Microsoft-Server-ActiveSync?Cmd=Ping&User=alice&DeviceId=ABC123&DeviceType=iPhone", []),
    ("POST", "/mapi/emsmdb/?MailboxId=0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0@contoso.lab", [("X-RequestType", "Execute")])
].map { method, uri, extra in
    var headers = HTTPHeaders([
        ("Host", "mail.contoso.lab"), ("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"),
        ("Content-Length", "0")
    ])
    headers.add(contentsOf: extra)
    return HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: uri, headers: headers)
}

/// Nanoseconds per decide() over `iterations` requests.
func measure(_ router: ExchangeRouter) -> Double {
    var forwarded = 0
    let start = DispatchTime.now().uptimeNanoseconds
    for index in 0..<iterations {
        if case .forward = router.decide(head: heads[index & 3], connection: facts) { forwarded += 1 }
    }
    let elapsed = DispatchTime.now().uptimeNanoseconds - start
    precondition(forwarded == iterations, "a benchmark request was refused")
    return Double(elapsed) / Double(iterations)
}

var best = (plain: Double.infinity, screened: Double.infinity)
for _ in 0..<7 {
    best.plain = min(best.plain, measure(plain))
    best.screened = min(best.screened, measure(screened))
}
print(
    String(
        format: "decide() without packs: %.0f ns/request; with %@ (%d rules): %.0f ns/request; packs add %.0f ns/request",
        best.plain, pack.name, pack.rules.count, best.screened, best.screened - best.plain))

// The packs alone, per kind of request (ScreeningPacks.firstMatch on an already canonical target).
let screening = ScreeningPacks(packs: [pack])
let names = ["owa+cookies", "ews", "activesync", "mapi"]
for (index, head) in heads.enumerated() {
    let target = try CanonicalTarget(requestTarget: head.uri, method: head.method, host: "mail.contoso.lab")
    let client = IPAddress("192.0.2.10")!
    var bestNanoseconds = Double.infinity
    for _ in 0..<5 {
        var hits = 0
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<(iterations / 4) where screening.firstMatch(head: head, target: target, client: client) != nil {
            hits += 1
        }
        precondition(hits == 0)
        bestNanoseconds = min(bestNanoseconds, Double(DispatchTime.now().uptimeNanoseconds - start) / Double(iterations / 4))
    }
    print(String(format: "  firstMatch, %@: %.0f ns", names[index], bestNanoseconds))
}
