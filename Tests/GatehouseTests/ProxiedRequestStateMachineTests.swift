import NIOCore
import NIOHTTP1
import Testing

@testable import Gatehouse

/// Every transition of one proxied request, without NIO channels or timers: time is passed in.
@Suite struct ProxiedRequestStateMachineTests {
    typealias Machine = ProxiedRequest.StateMachine

    private let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
    private static let http1 = Machine.ClientTraits(abortsOneExchange: false, connectionAuthentication: true)
    private static let http2 = Machine.ClientTraits(abortsOneExchange: true, connectionAuthentication: false)

    private func machine(
        _ method: HTTPMethod = .GET, declaresBody: Bool = false, ntlm: Bool = false,
        traits: Machine.ClientTraits = http1
    ) -> Machine {
        Machine(method: method, declaresBody: declaresBody, authenticatesConnection: ntlm, traits: traits)
    }

    private func clocks(idle: Int64 = 120, connect: Int64 = 5, header: Int64 = 30, total: Int64? = nil) -> RequestDeadlines {
        RequestDeadlines(
            idle: .seconds(idle), connect: .seconds(connect), header: .seconds(header),
            total: total.map { .seconds($0) }, now: t0)
    }

    private func bytes(_ count: Int) -> ByteBuffer {
        ByteBuffer(repeating: UInt8(ascii: "x"), count: count)
    }

    private func head(
        _ status: UInt = 200, keepAlive: Bool = true, framingKnown: Bool = true,
        challenge: Bool = false
    ) -> Machine.ResponseHeadFacts {
        Machine.ResponseHeadFacts(
            status: status, keepAlive: keepAlive, framingKnown: framingKnown,
            challengesConnection: challenge)
    }

    /// A machine routed, connected to server 0, request sent (and ended when `ended`).
    private func forwarding(
        _ method: HTTPMethod = .GET, framing: RequestBodyFraming = .none, ended: Bool = true,
        ntlm: Bool = false, traits: Machine.ClientTraits = http1,
        maxBody: Int64 = 1_000_000
    ) -> Machine {
        var m = machine(method, declaresBody: framing != .none, ntlm: ntlm, traits: traits)
        _ = m.routed(framing: framing, maxBodyBytes: maxBody, deadlines: clocks(), now: t0)
        m.serverChosen(0, pinned: false)
        _ = m.leased(now: t0)
        if ended { _ = m.clientEnd(nil, now: t0) }
        return m
    }

    // MARK: happy path

    @Test func happyPathGetIsRoutedConnectedRelayedAndReleasedForReuse() {
        var m = machine()
        #expect(isConnect(m.routed(framing: .none, maxBodyBytes: 100, deadlines: clocks(), now: t0)))
        m.serverChosen(3, pinned: false)
        #expect(m.currentServer == 3)
        guard case .sendRequest(let queued, let end, _, let bind) = m.leased(now: t0) else {
            Issue.record("expected sendRequest")
            return
        }
        #expect(queued.isEmpty && !end && !bind)
        guard case .forwardEnd = m.clientEnd(nil, now: t0) else {
            Issue.record("expected forwardEnd")
            return
        }
        guard case .relayHead(false) = m.backendHead(head(), now: t0) else {
            Issue.record("expected relayHead")
            return
        }
        guard case .relayBody = m.backendBody(bytes: 10, now: t0) else {
            Issue.record("expected relayBody")
            return
        }
        guard case .completeResponse(.reuse, false) = m.backendEnd(now: t0) else {
            Issue.record("expected completeResponse(reuse)")
            return
        }
        #expect(m.isFinished)
        #expect(m.responseStatus == 200 && m.responseBodyBytes == 10)
        guard case .none = m.clientAborted() else {
            Issue.record("a late abort does nothing")
            return
        }
    }

    @Test func informationalHeadsAreRelayedAndDoNotStopTheHeaderClock() {
        var m = forwarding()
        guard case .relayInformational = m.backendHead(head(100), now: t0) else {
            Issue.record("100")
            return
        }
        #expect(!m.responseHeadSent)
        #expect(m.nextDeadline == t0 + .seconds(30))
    }

    @Test func responseNotReusableWhenTheBackendClosesOrFramingIsUnknown() {
        var m = forwarding()
        _ = m.backendHead(head(keepAlive: false), now: t0)
        guard case .completeResponse(.close, false) = m.backendEnd(now: t0) else {
            Issue.record("close")
            return
        }
        var n = forwarding()
        _ = n.backendHead(head(framingKnown: false), now: t0)
        guard case .completeResponse(.close, false) = n.backendEnd(now: t0) else {
            Issue.record("close")
            return
        }
    }

    // MARK: body queued while connecting

    @Test func bodyQueuedWhileConnectingIsSentWithTheHead() {
        var m = machine(.POST, declaresBody: true)
        _ = m.routed(framing: .contentLength(20), maxBodyBytes: 100, deadlines: clocks(), now: t0)
        guard case .none = m.clientBody(bytes(10), now: t0) else {
            Issue.record("queued")
            return
        }
        guard case .none = m.clientBody(bytes(10), now: t0) else {
            Issue.record("queued")
            return
        }
        guard case .none = m.clientEnd(nil, now: t0) else {
            Issue.record("queued end")
            return
        }
        m.serverChosen(0, pinned: false)
        guard case .sendRequest(let queued, true, _, false) = m.leased(now: t0) else {
            Issue.record("send")
            return
        }
        #expect(queued.map(\.readableBytes) == [10, 10])
        // The whole request left with the head: the header clock runs.
        #expect(m.nextDeadline == t0 + .seconds(30))
    }

    @Test func theQueuePausesTheClientPastItsLimitAndTheConnectionResumesIt() {
        var m = machine(.POST, declaresBody: true)
        _ = m.routed(framing: .chunked, maxBodyBytes: 1 << 30, deadlines: clocks(), now: t0)
        guard case .none = m.clientBody(bytes(Machine.queueLimit), now: t0) else {
            Issue.record("at limit")
            return
        }
        guard case .pauseClientReads(true) = m.clientBody(bytes(1), now: t0) else {
            Issue.record("pause")
            return
        }
        m.serverChosen(0, pinned: false)
        _ = m.leased(now: t0)
        guard case .pauseClientReads(false) = m.backendWritable(true) else {
            Issue.record("resume")
            return
        }
        guard case .forwardBody = m.clientBody(bytes(1), now: t0) else {
            Issue.record("forward")
            return
        }
        guard case .pauseClientReads(true) = m.backendWritable(false) else {
            Issue.record("backpressure")
            return
        }
    }

    // MARK: body limit and framing

    @Test func declaredLengthOverTheLimitIs413WithoutConnecting() {
        var m = machine(.POST, declaresBody: true)
        let action = m.routed(framing: .contentLength(101), maxBodyBytes: 100, deadlines: clocks(), now: t0)
        guard case .respondLocally(.declaredBodyTooLarge(101, 100), .closeClient) = action else {
            Issue.record("413 and close (HTTP/1.1 body unread): \(action)")
            return
        }
        #expect(m.nextDeadline == nil)
        // HTTP/2: the rest of the stream's body is credited and dropped until its end.
        var h2 = machine(.POST, declaresBody: true, traits: Self.http2)
        guard
            case .respondLocally(_, .discardBody) = h2.routed(
                framing: .contentLength(101), maxBodyBytes: 100,
                deadlines: clocks(), now: t0)
        else {
            Issue.record("413 and discard")
            return
        }
        guard case .creditClient(50) = h2.clientBody(bytes(50), now: t0) else {
            Issue.record("credit")
            return
        }
        guard case .finishDiscarding = h2.clientEnd(nil, now: t0) else {
            Issue.record("end of discard")
            return
        }
        #expect(h2.requestBodyBytes == 50)
    }

    @Test func bodyOverTheLimitMidStreamIs413BeforeTheHeadAndAnAbortAfter() {
        var m = forwarding(.POST, framing: .chunked, ended: false, maxBody: 100)
        guard case .forwardBody = m.clientBody(bytes(100), now: t0) else {
            Issue.record("at limit")
            return
        }
        guard case .respondLocally(.bodyTooLarge(100), .closeClient) = m.clientBody(bytes(1), now: t0) else {
            Issue.record("413")
            return
        }
        #expect(m.isFinished)
        var n = forwarding(.POST, framing: .chunked, ended: false, maxBody: 100)
        _ = n.backendHead(head(), now: t0)
        guard case .abort(.bodyTooLarge) = n.clientBody(bytes(101), now: t0) else {
            Issue.record("abort")
            return
        }
    }

    @Test func bodyWhileConnectingOverTheLimitIs413() {
        var m = machine(.POST, declaresBody: true, traits: Self.http2)
        _ = m.routed(framing: .chunked, maxBodyBytes: 10, deadlines: clocks(), now: t0)
        guard case .respondLocally(.bodyTooLarge, .discardBody) = m.clientBody(bytes(11), now: t0) else {
            Issue.record("413")
            return
        }
        // The lease that completes afterwards goes back untouched.
        guard case .returnUnusedConnection = m.leased(now: t0) else {
            Issue.record("unused")
            return
        }
    }

    @Test func noBodyByteBeyondTheFramingReachesTheBackend() {
        var m = forwarding(.POST, framing: .contentLength(4), ended: false)
        guard case .forwardBody = m.clientBody(bytes(4), now: t0) else {
            Issue.record("within")
            return
        }
        guard case .respondLocally(.bodyBeyondFraming(.contentLength(4)), _) = m.clientBody(bytes(1), now: t0) else {
            Issue.record("beyond")
            return
        }
        var n = forwarding(.GET, framing: .none, ended: false)
        guard case .respondLocally(.bodyBeyondFraming(.none), _) = n.clientBody(bytes(1), now: t0) else {
            Issue.record("bodiless")
            return
        }
    }

    // MARK: resend rule

    @Test func connectFailureTriesAnotherServerOnceForAnyMethod() {
        var m = machine(.POST, declaresBody: true)
        _ = m.routed(framing: .contentLength(1), maxBodyBytes: 10, deadlines: clocks(), now: t0)
        m.serverChosen(0, pinned: false)
        let error = BackendError.connectFailed(server: "a", reason: "refused")
        #expect(isConnect(m.leaseFailed(.connectFailed(error), now: t0)))
        #expect(m.triedServers.asArray == [0])
        m.serverChosen(1, pinned: false)
        guard case .respondLocally(.connectFailed, _) = m.leaseFailed(.connectFailed(error), now: t0) else {
            Issue.record("502 after two")
            return
        }
        #expect(m.currentServer == 1)
    }

    @Test func noHealthyServerAndPinnedCapAre503() {
        var m = machine()
        _ = m.routed(framing: .none, maxBodyBytes: 10, deadlines: clocks(), now: t0)
        guard case .respondLocally(.noHealthyServer, .finish) = m.leaseFailed(.noHealthyServer, now: t0) else {
            Issue.record("503")
            return
        }
        var n = machine(ntlm: true)
        #expect(n.needsPinnedRoom)
        _ = n.routed(framing: .none, maxBodyBytes: 10, deadlines: clocks(), now: t0)
        guard case .respondLocally(.pinnedLimitReached, .finish) = n.leaseFailed(.pinnedLimitReached, now: t0) else {
            Issue.record("503 pinned")
            return
        }
    }

    @Test func aQueueTimeoutIs503WithoutResend() {
        var m = machine(.GET)
        _ = m.routed(framing: .none, maxBodyBytes: 10, deadlines: clocks(), now: t0)
        m.serverChosen(0, pinned: false)
        let error = BackendError.queueTimeout(pool: "p", server: "a", waitedMilliseconds: 3000)
        guard case .respondLocally(.queueTimedOut, .finish) = m.leaseFailed(.queueTimedOut(error), now: t0) else {
            Issue.record("503, no second server")
            return
        }
    }

    @Test func staleReusedConnectionResendsAnIdempotentRequestOnly() {
        let closed = BackendError.closedEarly(server: "a")
        var get = forwarding(.GET)
        guard case .resend = get.backendFailed(closed, now: t0) else {
            Issue.record("GET resent")
            return
        }
        get.serverChosen(1, pinned: false)
        guard case .sendRequest(let queued, true, _, _) = get.leased(now: t0) else {
            Issue.record("again")
            return
        }
        #expect(queued.isEmpty)
        // Never a third time.
        guard case .respondLocally(.backendFailed, _) = get.backendFailed(closed, now: t0) else {
            Issue.record("502")
            return
        }
        var post = forwarding(.POST)
        guard case .respondLocally(.backendFailed, _) = post.backendFailed(closed, now: t0) else {
            Issue.record("POST never resent")
            return
        }
    }

    @Test func neverResentAfterBodyForwardedOrResponseStarted() {
        let closed = BackendError.closedEarly(server: "a")
        var put = forwarding(.PUT, framing: .contentLength(2), ended: false)
        _ = put.clientBody(bytes(1), now: t0)
        guard case .respondLocally(.backendFailed, _) = put.backendFailed(closed, now: t0) else {
            Issue.record("PUT with body")
            return
        }
        var get = forwarding(.GET)
        _ = get.backendHead(head(), now: t0)
        guard case .abort(.backendFailed) = get.backendFailed(closed, now: t0) else {
            Issue.record("abort after the head")
            return
        }
        // Unparseable bytes count as a started response.
        var bad = forwarding(.GET)
        guard
            case .respondLocally(.backendFailed, _) = bad.backendFailed(
                .protocolError(server: "a", reason: "x"),
                now: t0)
        else {
            Issue.record("protocol error")
            return
        }
    }

    @Test func neverResentOnThePinnedConnection() {
        var m = machine(.GET)
        _ = m.routed(framing: .none, maxBodyBytes: 10, deadlines: clocks(), now: t0)
        m.serverChosen(2, pinned: true)
        guard case .sendRequest(_, _, _, true) = m.leased(now: t0) else {
            Issue.record("bound")
            return
        }
        _ = m.clientEnd(nil, now: t0)
        guard case .respondLocally(.backendFailed, _) = m.backendFailed(.closedEarly(server: "a"), now: t0) else {
            Issue.record("no resend")
            return
        }
    }

    // MARK: deadlines

    @Test func connectTimeoutIs504AndTheLateLeaseGoesBack() {
        var m = machine()
        _ = m.routed(framing: .none, maxBodyBytes: 10, deadlines: clocks(connect: 5), now: t0)
        #expect(m.nextDeadline == t0 + .seconds(5))
        guard case .none = m.deadlineReached(now: t0 + .seconds(4)) else {
            Issue.record("early")
            return
        }
        guard case .respondLocally(.timedOut(.connect), .finish) = m.deadlineReached(now: t0 + .seconds(5)) else {
            Issue.record("504")
            return
        }
        #expect(m.nextDeadline == nil)
        guard case .returnUnusedConnection = m.leased(now: t0 + .seconds(6)) else {
            Issue.record("back")
            return
        }
        guard case .none = m.leaseFailed(.noHealthyServer, now: t0) else {
            Issue.record("ignored")
            return
        }
    }

    @Test func headerTimeoutIs504BeforeTheHeadAndIdleTimeoutAbortsAfterIt() {
        var m = forwarding()
        guard case .respondLocally(.timedOut(.header), .finish) = m.deadlineReached(now: t0 + .seconds(30)) else {
            Issue.record("504")
            return
        }
        var n = forwarding()
        _ = n.backendHead(head(), now: t0 + .seconds(1))
        #expect(n.nextDeadline == t0 + .seconds(121))
        _ = n.backendBody(bytes: 5, now: t0 + .seconds(60))
        guard case .none = n.deadlineReached(now: t0 + .seconds(121)) else {
            Issue.record("activity moved it")
            return
        }
        guard case .abort(.timedOut(.idle)) = n.deadlineReached(now: t0 + .seconds(180)) else {
            Issue.record("abort")
            return
        }
        #expect(n.isFinished)
    }

    // MARK: client aborts

    @Test func clientAbortInEachState() {
        var routing = machine()
        guard case .clientGone = routing.clientAborted() else {
            Issue.record("routing")
            return
        }
        var connecting = machine()
        _ = connecting.routed(framing: .none, maxBodyBytes: 10, deadlines: clocks(), now: t0)
        guard case .clientGone = connecting.clientAborted() else {
            Issue.record("connecting")
            return
        }
        guard case .returnUnusedConnection = connecting.leased(now: t0) else {
            Issue.record("lease back")
            return
        }
        var sending = forwarding(ended: false)
        guard case .clientGone = sending.clientAborted() else {
            Issue.record("forwarding")
            return
        }
        var streaming = forwarding()
        _ = streaming.backendHead(head(), now: t0)
        guard case .clientGone = streaming.clientAborted() else {
            Issue.record("streaming")
            return
        }
        guard case .none = streaming.backendEnd(now: t0) else {
            Issue.record("late end")
            return
        }
        guard case .none = streaming.backendFailed(.closedEarly(server: "a"), now: t0) else {
            Issue.record("late")
            return
        }
        var discarding = machine(.POST, declaresBody: true, traits: Self.http2)
        _ = discarding.answeredByRouter(LocalResponse(status: .forbidden, reason: "deny"))
        guard case .finishDiscarding = discarding.clientAborted() else {
            Issue.record("discarding")
            return
        }
        guard case .none = discarding.clientAborted() else {
            Issue.record("finished")
            return
        }
    }

    // MARK: pinning

    @Test func ntlmRequestBindsItsConnectionAndKeepsItPinned() {
        var m = forwarding(ntlm: true)
        _ = m.backendHead(head(), now: t0)
        guard case .completeResponse(.keepPinned, false) = m.backendEnd(now: t0) else {
            Issue.record("pinned")
            return
        }
        // A pinned exchange whose connection cannot be reused is closed, never pooled.
        var n = forwarding(ntlm: true)
        _ = n.backendHead(head(keepAlive: false), now: t0)
        guard case .completeResponse(.close, false) = n.backendEnd(now: t0) else {
            Issue.record("closed")
            return
        }
    }

    @Test func backendChallengePinsOnHTTP1Only() {
        var m = forwarding()
        guard case .relayHead(true) = m.backendHead(head(401, challenge: true), now: t0) else {
            Issue.record("bind")
            return
        }
        guard case .completeResponse(.keepPinned, false) = m.backendEnd(now: t0) else {
            Issue.record("kept")
            return
        }
        var h2 = forwarding(traits: Self.http2)
        guard case .relayHead(false) = h2.backendHead(head(401, challenge: true), now: t0) else {
            Issue.record("h2 never pins")
            return
        }
        guard case .completeResponse(.reuse, false) = h2.backendEnd(now: t0) else {
            Issue.record("pooled")
            return
        }
        // An Authorization: NTLM on HTTP/2 never binds (the stream layer refuses it anyway).
        #expect(!machine(ntlm: true, traits: Self.http2).needsPinnedRoom)
    }

    // MARK: early responses and local answers

    @Test func earlyResponseBeforeTheRequestEndClosesOrResets() {
        var m = forwarding(.POST, framing: .contentLength(10), ended: false)
        _ = m.clientBody(bytes(2), now: t0)
        _ = m.backendHead(head(401), now: t0)
        // Not reusable (the rest of the body is unread), and the client must stop sending.
        guard case .completeResponse(.close, true) = m.backendEnd(now: t0) else {
            Issue.record("early")
            return
        }
        var h2 = forwarding(.POST, framing: .chunked, ended: false, traits: Self.http2)
        _ = h2.backendHead(head(413), now: t0)
        guard case .completeResponse(.close, true) = h2.backendEnd(now: t0) else {
            Issue.record("reset")
            return
        }
    }

    @Test func localAnswersWithAndWithoutAPendingBody() {
        let deny = LocalResponse(status: .forbidden, reason: "deny rule")
        var get = machine()
        guard case .respondLocally(.local, .finish) = get.answeredByRouter(deny) else {
            Issue.record("get")
            return
        }
        var post = machine(.POST, declaresBody: true)
        guard case .respondLocally(.local, .closeClient) = post.answeredByRouter(deny) else {
            Issue.record("unread body closes")
            return
        }
        var ended = machine(.POST, declaresBody: true)
        _ = ended.clientEnd(nil, now: t0)
        guard case .respondLocally(.local, .finish) = ended.answeredByRouter(deny) else {
            Issue.record("body already read")
            return
        }
        // HTTP/2 without a declared length still has a body pending until END_STREAM.
        var h2 = machine(.GET, traits: Self.http2)
        guard case .respondLocally(.local, .discardBody) = h2.answeredByRouter(deny) else {
            Issue.record("h2 discards")
            return
        }
        #expect(h2.isFinished)
        guard case .none = h2.deadlineReached(now: t0 + .seconds(10_000)) else {
            Issue.record("no clock")
            return
        }
    }

    @Test func aScreeningAbortEndsTheRequestWithNoAnswerAndNothingLater() {
        var m = machine(.POST, declaresBody: true)
        guard case .abort(.screened(let reason)) = m.abortedByRouter(reason: "rule pack/eems-m1") else {
            Issue.record("abort")
            return
        }
        #expect(reason == "rule pack/eems-m1")
        #expect(m.isFinished)
        // The body the client still sends, its end and a later abort change nothing.
        guard case .none = m.clientEnd(nil, now: t0) else {
            Issue.record("end after abort")
            return
        }
        guard case .none = m.clientAborted() else {
            Issue.record("second finish")
            return
        }
        guard case .none = m.deadlineReached(now: t0 + .seconds(10_000)) else {
            Issue.record("no clock")
            return
        }
    }

    @Test func switchingProtocolsIs502AndTheConnectionIsDropped() {
        var m = forwarding()
        guard case .respondLocally(.switchingProtocols, .finish) = m.backendHead(head(101), now: t0) else {
            Issue.record("502")
            return
        }
    }

    @Test func clientWritabilityPacesTheBackend() {
        var m = forwarding()
        guard case .pauseBackendReads(true) = m.clientWritable(false) else {
            Issue.record("pause")
            return
        }
        #expect(!m.clientWritable)
        guard case .pauseBackendReads(false) = m.clientWritable(true) else {
            Issue.record("resume")
            return
        }
    }

    @Test func anUploadEndingAfterTheHeadStartsNoHeaderClock() {
        var m = forwarding(.POST, framing: .chunked, ended: false)
        _ = m.backendHead(head(401), now: t0 + .seconds(1))
        guard case .forwardEnd = m.clientEnd(nil, now: t0 + .seconds(2)) else {
            Issue.record("end")
            return
        }
        // Only the idle clock runs (from the last activity), not the 30 s header clock.
        #expect(m.nextDeadline == t0 + .seconds(122))
        guard case .completeResponse(.reuse, false) = m.backendEnd(now: t0 + .seconds(3)) else {
            Issue.record("reusable: the whole request was sent")
            return
        }
    }

    @Test func bodyArrivingWhileAResendConnectsQueuesAgain() {
        var m = forwarding(.GET, framing: .chunked, ended: false)
        guard case .resend = m.backendFailed(.closedEarly(server: "a"), now: t0) else {
            Issue.record("resend")
            return
        }
        #expect(m.isConnecting)
        guard case .none = m.clientBody(bytes(3), now: t0) else {
            Issue.record("queued")
            return
        }
        m.serverChosen(1, pinned: false)
        guard case .sendRequest(let queued, false, _, _) = m.leased(now: t0) else {
            Issue.record("send")
            return
        }
        #expect(queued.map(\.readableBytes) == [3])
        #expect(m.triedServers.asArray == [0, 1])
    }

    @Test func eventsOutOfPlaceChangeNothing() {
        var m = forwarding()
        guard case .none = m.backendBody(bytes: 3, now: t0) else {
            Issue.record("body before head")
            return
        }
        guard case .none = m.backendEnd(now: t0) else {
            Issue.record("end before head")
            return
        }
        var routing = machine()
        guard case .none = routing.backendWritable(true) else {
            Issue.record("not forwarding")
            return
        }
        guard case .none = routing.clientWritable(false) else {
            Issue.record("not forwarding")
            return
        }
        #expect(!routing.clientWritable)
        guard case .none = routing.leaseFailed(.noHealthyServer, now: t0) else {
            Issue.record("not connecting")
            return
        }
        guard case .returnUnusedConnection = routing.leased(now: t0) else {
            Issue.record("not connecting")
            return
        }
        var answered = machine()
        _ = answered.answeredByRouter(LocalResponse(status: .notFound, reason: "x"))
        guard case .none = answered.routed(framing: .none, maxBodyBytes: 1, deadlines: clocks(), now: t0) else {
            Issue.record("routed once")
            return
        }
    }

    @Test func triedServersHoldTwoInline() {
        var tried = Machine.TriedServers()
        #expect(tried.isEmpty && tried.asArray.isEmpty && tried.last == nil)
        tried.append(4)
        tried.append(7)
        #expect(tried.asArray == [4, 7] && tried.last == 7 && tried.count == 2)
    }

    private func isConnect(_ action: Machine.Action) -> Bool {
        if case .connect = action { return true }
        return false
    }
}
