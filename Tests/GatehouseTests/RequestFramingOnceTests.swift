import NIOCore
import NIOHTTP1
import Testing

@testable import Gatehouse

/// A request's framing is parsed once (`RequestFraming.parse`) and that value decides routing, the
/// early 413 by declared length and whether a local answer leaves an unread body behind.
/// Identical repeated Content-Length values (`N, N`, RFC 9110 §8.6) count as one length.
@Suite struct RequestFramingOnceTests {
    typealias Machine = ProxiedRequest.StateMachine

    private let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
    private static let http1 = Machine.ClientTraits(abortsOneExchange: false, connectionAuthentication: true)
    private static let maxBody: Int64 = 1000

    private static func router() throws -> ExchangeRouter {
        let table = try RoutingTable(services: [
            .init(name: "mail", hosts: ["mail.contoso.com"], routes: [.init(prefix: "/", id: 0)], redirectRootTo: nil)
        ])
        let policy = RoutePolicy(poolIndex: 0, name: "mail/owa", idleTimeout: .seconds(120), maxBodyBytes: maxBody)
        return ExchangeRouter(table: table, policies: [policy])
    }

    private static let facts = ClientConnectionFacts(
        clientIP: nil, isTLS: false, serverName: nil,
        certificateCovers: { _ in true })

    /// What the proxy does with a POST carrying `lines` as Content-Length lines: the decision from
    /// the one parse, then (when forwarded) the machine's answer to it.
    private func outcome(_ lines: [String]) throws -> (ProxyDecision, Machine.Action?) {
        var headers = HTTPHeaders([("Host", "mail.contoso.com")])
        for line in lines { headers.add(name: "Content-Length", value: line) }
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/owa/x", headers: headers)
        let parsed = RequestFraming.parse(head.headers)
        let decision = try Self.router().decide(head: head, framing: parsed, connection: Self.facts)
        guard case .forward(let policy, _, let framing) = decision else { return (decision, nil) }
        var machine = Machine(
            method: .POST, declaresBody: RequestFraming.declaresBody(parsed, headers: headers),
            authenticatesConnection: false, traits: Self.http1)
        let deadlines = RequestDeadlines(idle: .seconds(120), connect: .seconds(5), header: .seconds(30), total: nil, now: t0)
        return (decision, machine.routed(framing: framing, maxBodyBytes: policy.maxBodyBytes, deadlines: deadlines, now: t0))
    }

    @Test(arguments: [["2000, 2000"], ["2000", "2000"], ["2000,2000, 2000"]])
    func identicalRepeatsOverTheLimitGetTheEarly413(lines: [String]) throws {
        let (decision, action) = try outcome(lines)
        guard case .forward(_, let head, .contentLength(2000)) = decision else {
            Issue.record("expected a forward with one length: \(decision)")
            return
        }
        #expect(head.headers["content-length"] == ["2000"])
        guard case .respondLocally(.declaredBodyTooLarge(2000, Self.maxBody), .closeClient)? = action else {
            Issue.record("expected the early 413 and a close: \(String(describing: action))")
            return
        }
    }

    @Test(arguments: [["5, 5"], ["5", "5"]])
    func identicalRepeatsWithinTheLimitAreForwarded(lines: [String]) throws {
        let (decision, action) = try outcome(lines)
        guard case .forward(_, _, .contentLength(5)) = decision, case .connect? = action else {
            Issue.record("expected a forward and a connect: \(decision) \(String(describing: action))")
            return
        }
    }

    @Test(arguments: [["5, 6"], ["5", "6"], ["2000, 5"]])
    func differingValuesAreA400(lines: [String]) throws {
        let (decision, action) = try outcome(lines)
        guard case .respond(let answer) = decision else {
            Issue.record("expected a 400: \(decision)")
            return
        }
        #expect(answer.status == .badRequest)
        #expect(answer.reason.contains("conflicting_content_length"))
        #expect(action == nil)
    }

    @Test func declaresBodyReadsTheParsedLengthNotItsSpelling() {
        func declares(_ fields: [(String, String)]) -> Bool {
            let headers = HTTPHeaders(fields)
            return RequestFraming.declaresBody(RequestFraming.parse(headers), headers: headers)
        }
        #expect(!declares([]))
        #expect(!declares([("Content-Length", "0")]))
        #expect(!declares([("Content-Length", "00")]))
        #expect(!declares([("Content-Length", "0, 0")]))
        #expect(declares([("Content-Length", "1")]))
        #expect(declares([("Content-Length", "5, 5")]))
        #expect(declares([("Transfer-Encoding", "chunked")]))
        // Refused framings that name a body count as one (the connection closes after the 400).
        #expect(declares([("Content-Length", "5, 6")]))
        #expect(declares([("Content-Length", "1"), ("Transfer-Encoding", "chunked")]))
        #expect(!declares([("Host", "a"), ("Host", "b")]))
    }
}
