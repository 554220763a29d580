/// What a reload does with the listening sockets: a listener is identified by its address, so one
/// whose address is unchanged keeps its socket (no gap in which connections are refused) and only
/// serves the new certificates and routes; an address that appears is bound, one that disappears
/// stops accepting and its connections drain. Pure, so the diff is testable without sockets.
struct ListenerPlan: Equatable, Sendable {
    /// A listener's identity across reloads. Port 0 (a kernel-chosen port, in tests) is never
    /// "the same address" as another port-0 listener, so there the name tells them apart.
    struct Key: Hashable, Sendable, CustomStringConvertible {
        var host: String
        var port: Int
        var name: String?

        init(name: String, host: String, port: Int) {
            self.host = host
            self.port = port
            self.name = port == 0 ? name : nil
        }

        var description: String { "\(host):\(port)" + (name.map { " (\($0))" } ?? "") }
    }

    /// Addresses in both configurations: the socket stays.
    var keep: [Key]
    /// Addresses only in the new configuration, in its order: bound before the new one serves.
    var bind: [Key]
    /// Addresses only in the old configuration, in its order: closed, connections drained.
    var close: [Key]

    init(old: [Key], new: [Key]) {
        let oldSet = Set(old)
        let newSet = Set(new)
        keep = new.filter { oldSet.contains($0) }
        bind = new.filter { !oldSet.contains($0) }
        close = old.filter { !newSet.contains($0) }
    }

    init(keep: [Key], bind: [Key], close: [Key]) {
        self.keep = keep
        self.bind = bind
        self.close = close
    }
}
