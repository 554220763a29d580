import GatehouseTLS
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Gatehouse

/// The exposition as `series → value`, series written as in the text (`name{labels}`).
func metricSamples(_ metrics: GatehouseMetrics) -> [String: Double] {
    var samples: [String: Double] = [:]
    for line in metrics.exposition().split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
        samples[String(line[..<space])] = value
    }
    return samples
}

/// Status classes, long-poll classification, and the families with the right values after
/// recorded events (read back from the registry's own exposition).
@Suite struct MetricsTests {
    static func pool() throws -> BackendPool {
        try PassiveEjectionTableTests.pool()  // "mailbox": mbx01, mbx02; services ews, owa
    }

    @Test func statusClassesFollowTheFirstDigitAndAbortsHaveTheirOwn() {
        #expect(StatusClass(status: 200, aborted: false).label == "2xx")
        #expect(StatusClass(status: 101, aborted: false).label == "1xx")
        #expect(StatusClass(status: 302, aborted: false).label == "3xx")
        #expect(StatusClass(status: 404, aborted: false).label == "4xx")
        #expect(StatusClass(status: 503, aborted: false).label == "5xx")
        #expect(StatusClass(status: 0, aborted: false) == .aborted)
        #expect(StatusClass(status: 200, aborted: true) == .aborted)
        #expect(StatusClass(status: 700, aborted: false) == .aborted)
        #expect(StatusClass.allCases.map(\.label) == ["1xx", "2xx", "3xx", "4xx", "5xx", "aborted"])
    }

    private func head(_ method: HTTPMethod, _ uri: String, _ headers: HTTPHeaders = [:]) -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: headers)
    }

    @Test func activeSyncPingIsALongPollAndSyncIsNot() {
        let rule = LongPollRule(preset: .activesync)
        #expect(rule == .activeSync)
        #expect(rule.isLongPoll(head(.POST, "/Microsoft-Server-ActiveSync?Cmd=Ping&User=alice&DeviceId=A1")))
        #expect(rule.isLongPoll(head(.POST, "/Microsoft-Server-ActiveSync?User=alice&cmd=PING")))
        #expect(!rule.isLongPoll(head(.POST, "/Microsoft-Server-ActiveSync?Cmd=Sync&User=alice")))
        #expect(!rule.isLongPoll(head(.POST, "/Microsoft-Server-ActiveSync?Cmd=Pings")))
        #expect(!rule.isLongPoll(head(.POST, "/Microsoft-Server-ActiveSync/Cmd=Ping")))
        // Only on the ActiveSync route: the same query elsewhere is an ordinary request.
        #expect(!LongPollRule(preset: .owa).isLongPoll(head(.POST, "/owa/?Cmd=Ping")))
    }

    @Test func mapiNotificationWaitAndRPCChannelsAreLongPolls() {
        let mapi = LongPollRule(preset: .mapi)
        #expect(mapi.isLongPoll(head(.POST, "/mapi/emsmdb/?MailboxId=x", ["X-RequestType": "NotificationWait"])))
        #expect(mapi.isLongPoll(head(.POST, "/mapi/emsmdb/", ["x-requesttype": "notificationwait"])))
        #expect(!mapi.isLongPoll(head(.POST, "/mapi/emsmdb/", ["X-RequestType": "Execute"])))
        #expect(!mapi.isLongPoll(head(.POST, "/mapi/emsmdb/")))
        // RPC over HTTP: the two channel methods on the rpc route.
        let rpc = LongPollRule(preset: .rpc)
        #expect(rpc.isLongPoll(head(.RAW(value: "RPC_IN_DATA"), "/rpc/rpcproxy.dll?mbx:6001")))
        #expect(rpc.isLongPoll(head(.RAW(value: "RPC_OUT_DATA"), "/rpc/rpcproxy.dll?mbx:6001")))
        #expect(!rpc.isLongPoll(head(.GET, "/rpc/rpcproxy.dll")))
        // Routes without long polls never classify one.
        #expect(LongPollRule(preset: .owa) == .none)
        #expect(!LongPollRule.none.isLongPoll(head(.RAW(value: "RPC_IN_DATA"), "/owa/")))
    }

    @Test func aRouteCountsRequestsByServerAndClassAndKeepsLongPollsOutOfLatency() throws {
        let metrics = GatehouseMetrics()
        let pool = try Self.pool()
        let poolMetrics = PoolMetrics(pool: pool, registry: metrics.registry)
        let route = metrics.makeRouteMetrics(
            service: "contoso", route: "contoso/Microsoft-Server-ActiveSync", pool: pool,
            poolMetrics: poolMetrics, longPoll: .activeSync)
        let sync = head(.POST, "/Microsoft-Server-ActiveSync?Cmd=Sync")
        let ping = head(.POST, "/Microsoft-Server-ActiveSync?Cmd=Ping")
        route.record(server: 1, status: 200, aborted: false, head: sync, bytesIn: 100, bytesOut: 2_000, seconds: 0.004)
        route.record(server: 1, status: 200, aborted: false, head: sync, bytesIn: 0, bytesOut: 500, seconds: 0.3)
        route.record(server: 0, status: 503, aborted: false, head: sync, bytesIn: 0, bytesOut: 0, seconds: 0.02)
        route.record(server: nil, status: 503, aborted: false, head: sync, bytesIn: 0, bytesOut: 0, seconds: 0.001)
        route.record(server: 0, status: 200, aborted: true, head: ping, bytesIn: 10, bytesOut: 0, seconds: 1_800)

        let samples = metricSamples(metrics)
        let labels = #"service="contoso",route="contoso/Microsoft-Server-ActiveSync""#
        func requests(_ server: String, _ status: String) -> Double? {
            samples[#"gatehouse_requests_total{\#(labels),pool="mailbox",server="\#(server)",class="\#(status)"}"#]
        }
        #expect(requests("mbx02", "2xx") == 2)
        #expect(requests("mbx01", "5xx") == 1)
        #expect(requests("", "5xx") == 1)
        #expect(requests("mbx01", "aborted") == 1)
        #expect(requests("mbx01", "2xx") == 0)
        #expect(samples[#"gatehouse_client_received_body_bytes_total{\#(labels)}"#] == 110)
        #expect(samples[#"gatehouse_client_sent_body_bytes_total{\#(labels)}"#] == 2_500)
        // Four ordinary requests in the latency histogram, the Ping only in the long-poll one; all
        // recorded on loop 0, so in that loop's histograms.
        let loop0 = labels + #",loop="0""#
        #expect(samples[#"gatehouse_request_duration_seconds_count{\#(loop0)}"#] == 4)
        #expect(samples[#"gatehouse_request_duration_seconds_bucket{\#(loop0),le="0.005"}"#] == 2)
        #expect(samples[#"gatehouse_request_duration_seconds_bucket{\#(loop0),le="0.25"}"#] == 3)
        #expect(samples[#"gatehouse_request_duration_seconds_bucket{\#(loop0),le="+Inf"}"#] == 4)
        #expect(samples[#"gatehouse_long_poll_duration_seconds_count{\#(loop0)}"#] == 1)
        #expect(samples[#"gatehouse_long_poll_duration_seconds_bucket{\#(loop0),le="1800.0"}"#] == 1)
        #expect(samples[#"gatehouse_long_poll_duration_seconds_bucket{\#(loop0),le="900.0"}"#] == 0)
    }

    @Test func eachEventLoopRecordsLatencyIntoItsOwnHistogram() throws {
        let metrics = GatehouseMetrics(loops: 3)
        let route = metrics.makeRouteMetrics(service: "s", route: "s/owa", pool: try Self.pool(), poolMetrics: nil, longPoll: .none)
        #expect(route.duration.count == 3)
        let get = head(.GET, "/owa/")
        route.record(server: 0, status: 200, aborted: false, head: get, bytesIn: 0, bytesOut: 1, seconds: 0.01, loop: 1)
        route.record(server: 0, status: 200, aborted: false, head: get, bytesIn: 0, bytesOut: 1, seconds: 0.01, loop: 2)
        route.record(server: 0, status: 200, aborted: false, head: get, bytesIn: 0, bytesOut: 1, seconds: 0.01, loop: 2)
        route.record(server: 0, status: 200, aborted: false, head: get, bytesIn: 0, bytesOut: 1, seconds: 0.01, loop: 7)
        let samples = metricSamples(metrics)
        func count(_ loop: Int) -> Double? {
            samples[#"gatehouse_request_duration_seconds_count{service="s",route="s/owa",loop="\#(loop)"}"#]
        }
        #expect(count(0) == 1)  // a loop index out of range records into shard 0
        #expect(count(1) == 1)
        #expect(count(2) == 2)
        #expect(samples[#"gatehouse_requests_total{service="s",route="s/owa",pool="mailbox",server="mbx01",class="2xx"}"#] == 4)
    }

    @Test func instrumentingTwiceContinuesTheSameSeries() throws {
        let metrics = GatehouseMetrics()
        let pool = try Self.pool()
        let first = metrics.makeRouteMetrics(service: "s", route: "s/owa", pool: pool, poolMetrics: nil, longPoll: .none)
        let second = metrics.makeRouteMetrics(service: "s", route: "s/owa", pool: pool, poolMetrics: nil, longPoll: .none)
        #expect(first.requests[1][1] === second.requests[1][1])
        #expect(first.duration.count == second.duration.count)
        #expect(zip(first.duration, second.duration).allSatisfy { $0 === $1 })
        #expect(first.longPollDuration == nil)  // no long polls on OWA: no histogram for them
    }

    @Test func backendEventsAndScrapeTimeStateBecomeTheirFamilies() throws {
        let metrics = GatehouseMetrics()
        let pools = PoolMetrics(pool: try Self.pool(), registry: metrics.registry)
        pools.connected(server: 0)
        pools.connected(server: 0)
        pools.connectFailed(server: 1)
        pools.resent(server: 1)
        pools.ejected(server: 1)
        pools.connected(server: 7)  // an index the pool does not have: ignored, no crash
        let counters = LoopPoolCounters(outstanding: [3, 0], idle: [2, 0], pinned: [1, 0], suspect: [0, 0], open: [6, 0])
        let view = PoolHealthView(generation: 1, serviceUp: [[true, false], [true, true]], draining: [false, true])
        pools.update(counters: counters, health: view)

        let samples = metricSamples(metrics)
        #expect(samples[#"gatehouse_backend_connects_total{pool="mailbox",server="mbx01"}"#] == 2)
        #expect(samples[#"gatehouse_backend_connect_failures_total{pool="mailbox",server="mbx02"}"#] == 1)
        #expect(samples[#"gatehouse_backend_resends_total{pool="mailbox",server="mbx02"}"#] == 1)
        #expect(samples[#"gatehouse_backend_passive_ejections_total{pool="mailbox",server="mbx02"}"#] == 1)
        #expect(samples[#"gatehouse_backend_connections{pool="mailbox",server="mbx01",state="open"}"#] == 6)
        #expect(samples[#"gatehouse_backend_connections{pool="mailbox",server="mbx01",state="idle"}"#] == 2)
        #expect(samples[#"gatehouse_backend_connections{pool="mailbox",server="mbx01",state="pinned"}"#] == 1)
        #expect(samples[#"gatehouse_backend_requests_in_flight{pool="mailbox",server="mbx01"}"#] == 3)
        #expect(samples[#"gatehouse_backend_up{pool="mailbox",server="mbx02",service="ews"}"#] == 0)
        #expect(samples[#"gatehouse_backend_up{pool="mailbox",server="mbx02",service="owa"}"#] == 1)
        #expect(samples[#"gatehouse_backend_up{pool="mailbox",server="mbx02",service=""}"#] == 1)
        #expect(samples[#"gatehouse_backend_draining{pool="mailbox",server="mbx02"}"#] == 1)
        #expect(samples[#"gatehouse_backend_draining{pool="mailbox",server="mbx01"}"#] == 0)
    }

    @Test func configReloadsAreCountedByOutcome() {
        let metrics = GatehouseMetrics()
        #expect(metricSamples(metrics)[#"gatehouse_config_reloads_total{outcome="success"}"#] == 0)
        metrics.recordConfigReload(.success)
        metrics.recordConfigReload(.failure)
        metrics.recordConfigReload(.success)
        let samples = metricSamples(metrics)
        #expect(samples[#"gatehouse_config_reloads_total{outcome="success"}"#] == 2)
        #expect(samples[#"gatehouse_config_reloads_total{outcome="failure"}"#] == 1)
        #expect(metrics.exposition().contains("# TYPE gatehouse_config_reloads_total counter"))
    }

    @Test func denyHitsAreCountedByRuleName() {
        let metrics = GatehouseMetrics()
        let hits = DenyHitCounters(screening: nil, registry: metrics.registry)
        hits.hit(.proxyshellAutodiscover)
        hits.hit(.proxyshellAutodiscover)
        hits.hit(screeningRule: "no such rule")  // not in any pack: nothing made per request
        let samples = metricSamples(metrics)
        #expect(samples[#"gatehouse_deny_rule_hits_total{rule="proxyshell_autodiscover"}"#] == 2)
        #expect(samples[#"gatehouse_deny_rule_hits_total{rule="be_resource"}"#] == 0)
        #expect(samples.keys.filter { $0.contains("no such rule") }.isEmpty)
    }

    @Test func screeningRuleHitsAreCountedByPackAndRule() throws {
        let packs = try RulePackTests.packs(
            RulePackTests.header + """
                  - { id: block-x, match: { path: '^/owa/x$' }, action: deny }
                  - { id: cut-y, match: { path: '^/owa/y$' }, action: abort }
                """)
        let metrics = GatehouseMetrics()
        let hits = DenyHitCounters(screening: packs, registry: metrics.registry)
        let label = try #require(try RulePackTests.hit(packs, "/owa/y"))
        hits.hit(screeningRule: label)
        let samples = metricSamples(metrics)
        #expect(samples[#"gatehouse_deny_rule_hits_total{rule="test/cut-y"}"#] == 1)
        #expect(samples[#"gatehouse_deny_rule_hits_total{rule="test/block-x"}"#] == 0)
    }

    @Test func handshakeFailureReasonsAreOpenSSLsOwnInSnakeCase() {
        #expect(
            ListenerMetrics.openSSLReason(
                "TLS handshake failed (error:0A0000C1:SSL routines::no shared cipher)") == "no_shared_cipher")
        #expect(
            ListenerMetrics.openSSLReason(
                "TLS handshake failed: x (error:0A00009C:SSL routines::http request; error:1:SSL routines::other)")
                == "http_request")
        // Text a client chose (an SNI name) comes before OpenSSL's part and never becomes the reason.
        #expect(
            ListenerMetrics.openSSLReason(
                "TLS handshake failed: unknown name (evil routines::chosen) (error:0A000458:SSL routines::tlsv1 unrecognized name)")
                == "tlsv1_unrecognized_name")
        #expect(ListenerMetrics.openSSLReason("no queue here") == nil)
        #expect(ListenerMetrics.failureReason(TLSError(.handshakeTimeout, "late")) == "timeout")
        #expect(
            ListenerMetrics.failureReason(
                TLSError(
                    .handshake,
                    "TLS handshake failed: the client closed the connection during the handshake")) == "closed")
        #expect(ListenerMetrics.failureReason(TLSError(.handshake, "TLS handshake failed")) == "handshake")
        #expect(ListenerMetrics.failureReason(IOError(errnoCode: 104, reason: "read")) == "closed")
        #expect(ListenerMetrics.failureReason(ChannelError.ioOnClosedChannel) == "other")
    }
}
