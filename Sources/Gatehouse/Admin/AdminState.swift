import Foundation
import NIOCore

/// The JSON the admin endpoint serves: per pool its servers with drain state, active health per
/// service, passive ejection (`suspect`) for the server and per service, and connection counters
/// summed over the event loops (with `requests`, started since start, and `requests_per_second` over the last seconds); and the
/// listeners with their certificates (`AdminState+Listeners.swift`); per server, Extended Protection's
/// verdict on the certificate it presents (`AdminState+ExtendedProtection.swift`); and under
/// `connections`, per connection cap (`max_connections`, `max_redirect_connections`) what it counts
/// now and its limit.
enum AdminState {
    static func render(server: AdminServer) -> EventLoopFuture<String> {
        // One consistent picture: a reload between reads would mix two pool lists.
        let (healthPools, views, lastResults) = server.health.picture()
        let binding = server.health.bindingPicture()
        let futures = healthPools.map { server.pools.counters(of: $0) }
        let loop = futures.first?.eventLoop ?? server.pools.anyEventLoop
        return EventLoopFuture.whenAllSucceed(futures, on: loop).map { counters in
            let rates = server.rates.rates(
                counts: counters.enumerated().map { index, count in
                    healthPools[index].servers.indices.map { $0 < count.requests.count ? count.requests[$0] : 0 }
                })
            var pools: [String] = []
            for (index, pool) in healthPools.enumerated() {
                let view = views[index]
                let results = lastResults[index]
                let count = counters[index]
                let suspects = pool.ejection.suspects(now: NIODeadline.now().uptimeNanoseconds)
                var servers: [String] = []
                for (serverIndex, backend) in pool.servers.enumerated() {
                    var services: [String] = []
                    for (serviceIndex, label) in pool.healthLabels.enumerated() {
                        services.append(
                            "\(quote(label)):{\"up\":\(view.serviceUp[serviceIndex][serverIndex]),"
                                + "\"path\":\(quote(pool.healthPaths[serviceIndex])),"
                                + "\"last\":\(quote(results[serviceIndex][serverIndex])),"
                                + "\"suspect\":\(suspects[serverIndex].services[serviceIndex])}")
                    }
                    func counter(_ values: [Int]) -> Int { serverIndex < values.count ? values[serverIndex] : 0 }
                    servers.append(
                        "{\"name\":\(quote(backend.name)),"
                            + "\"address\":\(quote("\(backend.host):\(backend.port)")),"
                            + "\"weight\":\(backend.weight),\"draining\":\(view.draining[serverIndex]),"
                            + "\"up\":\(view.serverUp[serverIndex]),\"suspect\":\(suspects[serverIndex].server),"
                            + "\"services\":{\(services.joined(separator: ","))},"
                            + "\"outstanding\":\(counter(count.outstanding)),\"idle\":\(counter(count.idle)),"
                            + "\"pinned\":\(counter(count.pinned)),\"suspect_loops\":\(counter(count.suspect)),"
                            + "\"requests\":\(counter(count.requests)),"
                            + bindingMembers(pool: pool.name, server: serverIndex, picture: binding) + ","
                            + "\"requests_per_second\":\(rates[index][serverIndex].map { "\(($0 * 10).rounded() / 10)" } ?? "null")}")
                }
                pools.append(
                    "{\"name\":\(quote(pool.name)),\"balance\":\(quote(pool.balance.rawValue)),"
                        + "\"max_pinned_per_server\":\(pool.pinned.limit),"
                        + "\"servers\":[\(servers.joined(separator: ","))]}")
            }
            let caps = server.connectionCaps.map { "\(quote($0.key)):{\"open\":\($0.count),\"limit\":\($0.limit)}" }
            return "{\"pools\":[\(pools.joined(separator: ","))],\"listeners\":\(listeners(server.listeners, now: Date())),"
                + "\"connections\":{\(caps.joined(separator: ","))}}"
        }
    }

    /// A JSON string literal.
    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
