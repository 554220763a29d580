import NIOCore
import NIOHTTP1
import Testing

@testable import Gatehouse

/// The transitions of `ProxiedRequest.StateMachine` that `ProxiedRequestStateMachineTests` leaves
/// out: the total clock before and after the head, body and end events in states that take none,
/// router events after routing, heads out of place, and an unparseable response never resent.
@Suite struct ProxiedRequestStateMachineGapTests {
    typealias Machine = ProxiedRequest.StateMachine

    private let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
    private static let http1 = Machine.ClientTraits(abortsOneExchange: false, connectionAuthentication: true)

    private func clocks(total: Int64? = nil) -> RequestDeadlines {
        RequestDeadlines(
            idle: .seconds(120), connect: .seconds(5), header: .seconds(30),
            total: total.map { .seconds($0) }, now: t0)
    }

    private func head(_ status: UInt = 200) -> Machine.ResponseHeadFacts {
        Machine.ResponseHeadFacts(status: status, keepAlive: true, framingKnown: true, challengesConnection: false)
    }

    private func forwarding(_ method: HTTPMethod = .GET, total: Int64? = nil) -> Machine {
        var m = Machine(method: method, declaresBody: false, authenticatesConnection: false, traits: Self.http1)
        _ = m.routed(framing: .none, maxBodyBytes: 1000, deadlines: clocks(total: total), now: t0)
        m.serverChosen(0, pinned: false)
        _ = m.leased(now: t0)
        _ = m.clientEnd(nil, now: t0)
        return m
    }

    @Test func theTotalClockIs504BeforeTheHeadAndAnAbortAfterIt() {
        var waiting = forwarding(total: 20)
        #expect(waiting.nextDeadline == t0 + .seconds(20))
        guard case .none = waiting.deadlineReached(now: t0 + .seconds(19)) else {
            Issue.record("early")
            return
        }
        guard case .respondLocally(.timedOut(.total), .finish) = waiting.deadlineReached(now: t0 + .seconds(20)) else {
            Issue.record("504 before the head")
            return
        }
        var streaming = forwarding(total: 20)
        _ = streaming.backendHead(head(), now: t0 + .seconds(1))
        _ = streaming.backendBody(bytes: 10, now: t0 + .seconds(19))
        guard case .abort(.timedOut(.total)) = streaming.deadlineReached(now: t0 + .seconds(20)) else {
            Issue.record("abort after the head, however busy")
            return
        }
        guard case .none = streaming.backendEnd(now: t0 + .seconds(21)) else {
            Issue.record("finished")
            return
        }
    }

    @Test func bodyAndEndInStatesThatTakeNoneAreCreditedOrIgnored() {
        var routing = Machine(method: .POST, declaresBody: true, authenticatesConnection: false, traits: Self.http1)
        guard case .creditClient(7) = routing.clientBody(ByteBuffer(string: "1234567"), now: t0) else {
            Issue.record("routing credits")
            return
        }
        guard case .none = routing.clientEnd(nil, now: t0) else {
            Issue.record("routing ignores the end")
            return
        }
        var finished = forwarding()
        _ = finished.backendHead(head(), now: t0)
        _ = finished.backendEnd(now: t0)
        guard case .creditClient(3) = finished.clientBody(ByteBuffer(string: "abc"), now: t0) else {
            Issue.record("finished credits")
            return
        }
        guard case .none = finished.clientEnd(nil, now: t0) else {
            Issue.record("finished ignores the end")
            return
        }
        guard case .none = finished.deadlineReached(now: t0 + .seconds(10_000)) else {
            Issue.record("no clock")
            return
        }
        guard case .none = finished.backendWritable(false) else {
            Issue.record("no pause")
            return
        }
    }

    @Test func routerEventsAfterRoutingChangeNothing() {
        var m = forwarding()
        guard case .none = m.answeredByRouter(LocalResponse(status: .forbidden, reason: "late")) else {
            Issue.record("answered after routing")
            return
        }
        guard case .none = m.abortedByRouter(reason: "late") else {
            Issue.record("aborted after routing")
            return
        }
        guard case .relayHead(false) = m.backendHead(head(), now: t0) else {
            Issue.record("still forwarding")
            return
        }
    }

    @Test func headsOutOfPlaceChangeNothing() {
        var connecting = Machine(method: .GET, declaresBody: false, authenticatesConnection: false, traits: Self.http1)
        _ = connecting.routed(framing: .none, maxBodyBytes: 10, deadlines: clocks(), now: t0)
        guard case .none = connecting.backendHead(head(), now: t0) else {
            Issue.record("head while connecting")
            return
        }
        guard case .none = connecting.backendFailed(.closedEarly(server: "a"), now: t0) else {
            Issue.record("failure while connecting is the lease's, not the stream's")
            return
        }
        var m = forwarding()
        _ = m.backendHead(head(), now: t0)
        guard case .none = m.backendHead(head(204), now: t0) else {
            Issue.record("a second final head")
            return
        }
        guard case .relayBody = m.backendBody(bytes: 1, now: t0) else {
            Issue.record("still streaming")
            return
        }
    }

    @Test func anUnparseableResponseIsNeverResentEvenForAGet() {
        var m = forwarding(.GET)
        let action = m.backendFailed(.protocolError(server: "a", reason: "garbage"), now: t0)
        guard case .respondLocally(.backendFailed(.protocolError), .finish) = action else {
            Issue.record("502, no resend: bytes arrived \(action)")
            return
        }
        #expect(m.triedServers.asArray == [0])
    }
}
