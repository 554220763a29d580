import NIOCore
import NIOHTTP1
import Testing

@testable import Gatehouse

/// The plain-HTTP redirect listener's decisions and machinery, without sockets: which requests get a
/// redirect (hosts a virtual service lists only), its header and idle clocks, its connection cap.
@Suite struct RedirectListenerTests {
    static let table = try! RoutingTable(services: [
        RoutingTable.Service(
            name: "contoso", hosts: ["mail.contoso.lab", "autodiscover.contoso.lab", "[::1]"],
            routes: [RoutingTable.Route(prefix: "/owa/", id: 0)])
    ])
    static let policy = RedirectPolicy(httpsPort: 8443, table: table)

    func answer(_ uri: String, hosts: [String], policy: RedirectPolicy = Self.policy) -> RedirectHandler.Answer {
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: uri)
        for host in hosts { head.headers.add(name: "Host", value: host) }
        return RedirectHandler.answer(for: head, policy: policy)
    }

    @Test(arguments: [
        ("/owa/", "mail.contoso.lab", "https://mail.contoso.lab:8443/owa/"),
        ("/EWS/Exchange.asmx?x=1", "Mail.Contoso.Lab.:80", "https://mail.contoso.lab:8443/EWS/Exchange.asmx?x=1"),
        ("/", "autodiscover.contoso.lab", "https://autodiscover.contoso.lab:8443/"),
        ("/", "[::1]:80", "https://[::1]:8443/")
    ])
    func listedHostsAreRedirectedUnderTheirConfiguredName(uri: String, host: String, location: String) {
        #expect(answer(uri, hosts: [host]) == .redirect(location: location))
    }

    @Test(arguments: ["evil.example", "evil.example:80", "mail.contoso.lab.evil.example", "127.0.0.1", "[::2]"])
    func otherHostsGetTheUnknownHostAnswerAndNoLocation(host: String) {
        #expect(answer("/owa/", hosts: [host]) == .unknownHost)
    }

    @Test func absoluteFormAuthorityDecidesWhateverTheHostHeaderSays() {
        #expect(answer("http://evil.example/", hosts: ["mail.contoso.lab"]) == .unknownHost)
        #expect(answer("http://evil.example:80/owa/?a=1", hosts: []) == .unknownHost)
        #expect(
            answer("http://mail.contoso.lab/owa/?a=1", hosts: ["evil.example"])
                == .redirect(location: "https://mail.contoso.lab:8443/owa/?a=1"))
        #expect(
            answer("HTTP://autodiscover.contoso.lab?x=1", hosts: [])
                == .redirect(location: "https://autodiscover.contoso.lab:8443/?x=1"))
    }

    @Test func unusableHostsOrTargetsAreBadRequests() {
        #expect(answer("/owa/", hosts: []) == .badRequest)
        #expect(answer("/owa/", hosts: ["mail.contoso.lab", "evil.example"]) == .badRequest)
        #expect(answer("/owa/", hosts: ["mail.contoso.lab", "mail.contoso.lab"]) == .badRequest)
        #expect(answer("/owa/", hosts: [""]) == .badRequest)
        #expect(answer("/owa/", hosts: ["evil.example/x"]) == .badRequest)
        #expect(answer("/owa/", hosts: ["mail.contoso.lab:x"]) == .badRequest)
        #expect(answer("http://evil@mail.contoso.lab/owa/", hosts: ["mail.contoso.lab"]) == .badRequest)
        #expect(answer("ftp://mail.contoso.lab/owa/", hosts: ["mail.contoso.lab"]) == .badRequest)
        #expect(answer("*", hosts: ["mail.contoso.lab"]) == .badRequest)
    }

    @Test func port443IsLeftOutOfTheLocation() {
        let policy = RedirectPolicy(httpsPort: 443, table: Self.table, unknownHostStatus: .notFound)
        #expect(answer("/owa/", hosts: ["mail.contoso.lab"], policy: policy) == .redirect(location: "https://mail.contoso.lab/owa/"))
    }
}

/// The header and idle clocks as a value, with time passed in.
@Suite struct HeaderTimeoutStateMachineTests {
    typealias Machine = HeaderTimeoutHandler.StateMachine
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    func at(_ seconds: Double) -> NIODeadline { Self.start + .nanoseconds(Int64(seconds * 1e9)) }

    @Test func withoutAnIdleTimeoutOnlyAHeadInProgressIsTimed() {
        // The TLS listeners' machine: the proxy handler keeps their idle clock.
        var machine = Machine(headerTimeout: .seconds(3), idleTimeout: nil, now: at(0))
        #expect(machine.deadline == nil)
        #expect(machine.check(now: at(1_000)) == .stop)
        machine.bytesReceived(now: at(5))
        #expect(machine.check(now: at(7.9)) == .checkAgain(at: at(8)))
        #expect(machine.check(now: at(8)) == .close(.header))
        machine.headReceived()
        #expect(machine.check(now: at(100)) == .stop)
        machine.responseFinished(now: at(100))
        #expect(machine.deadline == nil)
    }

    @Test func anIdleConnectionIsClosedAfterTheIdleTimeout() {
        let machine = Machine(headerTimeout: .seconds(3), idleTimeout: .seconds(10), now: at(0))
        #expect(machine.check(now: at(9.99)) == .checkAgain(at: at(10)))
        #expect(machine.check(now: at(10)) == .close(.idle))
    }

    @Test func aHeadThatStartsMustFinishWithinTheHeaderTimeout() {
        var machine = Machine(headerTimeout: .seconds(3), idleTimeout: .seconds(10), now: at(0))
        machine.bytesReceived(now: at(2))
        // More bytes of the same head do not restart the clock (slowloris).
        machine.bytesReceived(now: at(3))
        machine.bytesReceived(now: at(4.5))
        #expect(machine.check(now: at(4.9)) == .checkAgain(at: at(5)))
        #expect(machine.check(now: at(5)) == .close(.header))
    }

    @Test func theIdleClockKeepsRunningWhileAHeadTrickles() {
        var machine = Machine(headerTimeout: .seconds(3), idleTimeout: .seconds(10), now: at(0))
        machine.bytesReceived(now: at(8))
        #expect(machine.deadline == at(10))
        #expect(machine.check(now: at(10)) == .close(.idle))
    }

    @Test func aCompleteRequestStopsTheClocksAndItsResponseRestartsTheIdleClock() {
        var machine = Machine(headerTimeout: .seconds(3), idleTimeout: .seconds(10), now: at(0))
        machine.bytesReceived(now: at(1))
        machine.headReceived()
        #expect(machine.check(now: at(500)) == .stop)
        // Pipelined bytes while a request is answered are not a new head yet.
        machine.bytesReceived(now: at(501))
        #expect(machine.state == .busy)
        machine.responseFinished(now: at(600))
        #expect(machine.check(now: at(609)) == .checkAgain(at: at(610)))
        machine.bytesReceived(now: at(609))
        #expect(machine.check(now: at(610)) == .close(.idle))
        machine.headReceived()
        machine.responseFinished(now: at(611))
        machine.bytesReceived(now: at(612))
        #expect(machine.check(now: at(614.9)) == .checkAgain(at: at(615)))
        #expect(machine.check(now: at(615)) == .close(.header))
    }
}

/// The connection caps: one for the TLS listeners, one for the redirect listeners.
@Suite struct ConnectionCapTests {
    @Test func admitsUpToTheLimitThenRefusesAndWarnsOncePerBurst() {
        let cap = ConnectionCap(limit: 2, key: "max_redirect_connections")
        #expect(cap.admit() == .admitted)
        #expect(cap.admit() == .admitted)
        #expect(cap.admit() == .refused(firstOfBurst: true))
        #expect(cap.admit() == .refused(firstOfBurst: false))
        #expect(cap.count == 2)
        cap.release()
        #expect(cap.count == 1)
        #expect(cap.admit() == .admitted)
        #expect(cap.admit() == .refused(firstOfBurst: true))
    }

    @Test func twoCapsCountIndependently() {
        let tls = ConnectionCap(limit: 3, key: "max_connections")
        let redirect = ConnectionCap(limit: 1, key: "max_redirect_connections")
        #expect(redirect.admit() == .admitted)
        for _ in 0..<5 { _ = redirect.admit() }
        #expect((0..<3).map { _ in tls.admit() } == [.admitted, .admitted, .admitted])
        #expect(tls.count == 3 && redirect.count == 1)
    }
}
