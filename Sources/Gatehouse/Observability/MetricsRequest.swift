import NIOHTTP1
import Prometheus

/// The status class a finished request is counted under: the first digit of the status Gatehouse
/// sent, or `aborted` when the client got no complete response (it went away, a screening rule
/// aborted the stream, the backend failed after the head was sent).
public enum StatusClass: Int, CaseIterable, Sendable {
    case informational = 0
    case success, redirection, clientError, serverError, aborted

    /// The `class` label value: "1xx"..."5xx" or "aborted".
    public var label: String {
        switch self {
        case .informational: return "1xx"
        case .success: return "2xx"
        case .redirection: return "3xx"
        case .clientError: return "4xx"
        case .serverError: return "5xx"
        case .aborted: return "aborted"
        }
    }

    /// The class for a request that ended with `status` (0: nothing was sent), `aborted` when the
    /// exchange was cut. A status outside 100...599 counts as aborted (it never reaches a client).
    public init(status: UInt, aborted: Bool) {
        guard !aborted, status >= 100, status < 600 else {
            self = .aborted
            return
        }
        self = StatusClass(rawValue: Int(status / 100) - 1)!
    }
}

/// Which requests of a route are long polls: requests held open by design (minutes, up to an
/// hour) whose duration says nothing about latency. They are counted in their own histogram
/// (`gatehouse_long_poll_duration_seconds`) and kept out of `gatehouse_request_duration_seconds`.
///
/// Decided from what the route and the request head say, without reading a body:
/// - `activeSync`: routes with the `activesync` preset, requests whose query has `Cmd=Ping`
///   (held up to 59 minutes by the mailbox server);
/// - `mapi`: routes with the `mapi` preset, requests with `X-RequestType: NotificationWait`;
/// - `rpc`: routes with the `rpc` preset, methods `RPC_IN_DATA` / `RPC_OUT_DATA` (Outlook
///   Anywhere's two channels, open for the whole session).
/// Other routes have no long polls: their requests are not even looked at.
/// EWS streaming notifications (`GetStreamingEvents`) are named only in the SOAP body, so they
/// stay in the latency histogram; a dedicated EWS route for them would need a path of its own.
public enum LongPollRule: Sendable, Equatable {
    case none, activeSync, mapi, rpc

    /// The rule for a route: from its Exchange preset.
    init(preset: ExchangeService?) {
        switch preset {
        case .activesync: self = .activeSync
        case .mapi: self = .mapi
        case .rpc: self = .rpc
        default: self = .none
        }
    }

    /// Whether `head` is a long poll on a route with this rule. No allocation: byte compares on
    /// the target and header values as stored.
    public func isLongPoll(_ head: HTTPRequestHead) -> Bool {
        switch self {
        case .none:
            return false
        case .rpc:
            guard case .RAW(let value) = head.method else { return false }
            return value == "RPC_IN_DATA" || value == "RPC_OUT_DATA"
        case .activeSync:
            return Self.queryHasPing(head.uri)
        case .mapi:
            for (name, value) in head.headers where name.utf8.count == 13 {
                if ASCII.equalsIgnoringCase(name.utf8, "x-requesttype".utf8) {
                    return ASCII.equalsIgnoringCase(value.utf8, "notificationwait".utf8)
                }
            }
            return false
        }
    }

    /// Whether the query of `uri` has a parameter `Cmd=Ping` (names and value case-insensitive,
    /// as IIS reads them).
    static func queryHasPing(_ uri: String) -> Bool {
        let utf8 = uri.utf8
        guard var start = utf8.firstIndex(of: UInt8(ascii: "?")).map({ utf8.index(after: $0) }) else { return false }
        while start < utf8.endIndex {
            let end = utf8[start...].firstIndex(of: UInt8(ascii: "&")) ?? utf8.endIndex
            if ASCII.equalsIgnoringCase(utf8[start..<end], "cmd=ping".utf8) { return true }
            start = end == utf8.endIndex ? end : utf8.index(after: end)
        }
        return false
    }
}

/// The metric handles of one route, created once when the runtime snapshot is instrumented and
/// kept in its `RoutePolicy`: a finished request picks its counters by index (server, class),
/// never by label strings.
public final class RouteMetrics: Sendable {
    /// `requests[server + 1][class]`; slot 0 is "no server" (answered before one was chosen).
    let requests: [[Counter]]
    /// One histogram per event loop (`GatehouseMetrics.loops`), indexed by the recording loop.
    let duration: [ValueHistogram]
    /// Only on routes that have long polls (`longPoll` is not `.none`); one per event loop.
    let longPollDuration: [ValueHistogram]?
    let bytesReceived: Counter
    let bytesSent: Counter
    let longPoll: LongPollRule
    /// The route's pool's backend handles (connects, failures, resends, ejections).
    let pool: PoolMetrics?

    init(
        requests: [[Counter]], duration: [ValueHistogram], longPollDuration: [ValueHistogram]?,
        bytesReceived: Counter, bytesSent: Counter, longPoll: LongPollRule, pool: PoolMetrics?
    ) {
        self.requests = requests
        self.duration = duration
        self.longPollDuration = longPollDuration
        self.bytesReceived = bytesReceived
        self.bytesSent = bytesSent
        self.longPoll = longPoll
        self.pool = pool
    }

    /// One finished request: its counter, its body bytes and its duration (in the long-poll
    /// histogram when `head` is one). Per request: two or three relaxed atomic adds and one
    /// observation in the histogram of the recording event loop `loop` (its lock is never
    /// contended: no other loop records into it); no allocation.
    func record(
        server: Int?, status: UInt, aborted: Bool, head: HTTPRequestHead,
        bytesIn: Int64, bytesOut: Int64, seconds: Double, loop: Int = 0
    ) {
        let slot = server.map { $0 + 1 } ?? 0
        let row = slot < requests.count ? requests[slot] : requests[0]
        row[StatusClass(status: status, aborted: aborted).rawValue].increment()
        if bytesIn > 0 { bytesReceived.increment(by: bytesIn) }
        if bytesOut > 0 { bytesSent.increment(by: bytesOut) }
        let shard = loop >= 0 && loop < duration.count ? loop : 0
        if let longPollDuration, longPoll.isLongPoll(head) {
            longPollDuration[shard].record(seconds)
        } else {
            duration[shard].record(seconds)
        }
    }
}

/// Requests answered before a route was chosen (unknown host, 421, deny rules, screening,
/// no route for the path, malformed targets): counted with empty route labels.
final class UnroutedMetrics: Sendable {
    let requests: [Counter]
    let bytesReceived: Counter
    let bytesSent: Counter

    init(requests: [Counter], bytesReceived: Counter, bytesSent: Counter) {
        self.requests = requests
        self.bytesReceived = bytesReceived
        self.bytesSent = bytesSent
    }

    func record(status: UInt, aborted: Bool, bytesIn: Int64, bytesOut: Int64) {
        requests[StatusClass(status: status, aborted: aborted).rawValue].increment()
        if bytesIn > 0 { bytesReceived.increment(by: bytesIn) }
        if bytesOut > 0 { bytesSent.increment(by: bytesOut) }
    }
}
