import NIOHTTP1

/// Decides what each request gets. Pure: reads the configuration and the shared state, so the
/// decisions are testable without sockets.
struct SimRouter {
    let configuration: SimConfiguration
    let state: SimState
    /// The OWA page, made once.
    let owaPage: [UInt8]

    init(configuration: SimConfiguration, state: SimState) {
        self.configuration = configuration
        self.state = state
        owaPage = Array(SimContent.owaPage(configuration: configuration).utf8)
    }

    /// The plan for a request whose head is `head`, on a connection authenticated as `user` (or nil).
    func plan(for head: HTTPRequestHead, user: String?) -> SimPlan {
        do {
            return try decide(head, target: SimRequestTarget(head.uri), user: user)
        } catch let error as SimError {
            return .respond(.error(.badRequest, error.message))
        } catch {
            return .respond(.error(.badRequest, "\(error)"))
        }
    }

    private func decide(_ head: HTTPRequestHead, target: SimRequestTarget, user: String?) throws -> SimPlan {
        let path = target.path
        let lowerPath = path.lowercased()
        let method = head.method
        let isGet = method == .GET || method == .HEAD

        // Health checks never need authentication and report maintenance state.
        if let service = SimService.healthCheck(path: path) {
            if state.isOffline(service) {
                return .respond(
                    SimResponse(
                        .serviceUnavailable, contentType: "text/html",
                        text: "503 Service Unavailable<br/>\(configuration.fqdn)"))
            }
            return .respond(SimResponse(.ok, contentType: "text/html", text: "200 OK<br/>\(configuration.fqdn)"))
        }
        if lowerPath.hasPrefix("/_sim/") {
            return try control(head, target: target)
        }
        let service = SimService.owning(path: path)
        if configuration.requireNTLM, let service, service.isProtected, user == nil {
            return .respond(.unauthorized("\(service.virtualDirectory) requires NTLM authentication of this connection"))
        }
        if target.has("sim-echo") { return .echo }

        switch method.rawValue.uppercased() {
        case "RPC_IN_DATA":
            return .hashBody
        case "RPC_OUT_DATA":
            return .stream(
                bytes: try target.byteCount("sim-bytes", default: 1 << 20),
                contentType: "application/rpc", headers: [])
        default:
            break
        }
        if isGet, target.has("sim-bytes") {
            return .stream(
                bytes: try target.byteCount("sim-bytes", default: 0),
                contentType: "application/octet-stream", headers: [])
        }
        guard let service else {
            // Any POST is hashed, even outside the virtual directories: tests may use any path.
            if method == .POST || method == .PUT { return .hashBody }
            if path == "/" {
                return .respond(
                    SimResponse(
                        .found, contentType: "text/html", text: "<html><body>Moved to /owa/</body></html>",
                        headers: [("Location", "/owa/")]))
            }
            return .respond(.error(.notFound, "no Exchange virtual directory at \(path)"))
        }
        return try serviceRequest(service, head: head, target: target, isGet: isGet)
    }

    /// Requests inside a virtual directory.
    private func serviceRequest(
        _ service: SimService, head: HTTPRequestHead, target: SimRequestTarget,
        isGet: Bool
    ) throws -> SimPlan {
        let lowerPath = target.path.lowercased()
        switch service {
        case .activesync where head.method == .POST && target.value("cmd")?.lowercased() == "ping":
            let seconds = try target.seconds("sim-hold", default: 480, range: 0...3600)
            return .hold(
                seconds: seconds,
                response: SimResponse(
                    .ok, contentType: "application/vnd.ms-sync.wbxml",
                    body: SimContent.pingResponse))
        case .mapi
        where head.method == .POST
            && head.headers.first(name: "X-RequestType")?.lowercased() == "notificationwait":
            let interval = try target.seconds("sim-interval", default: 30, range: 0.01...3600)
            let duration = try target.seconds("sim-duration", default: 300, range: 0...7200)
            return .notificationWait(interval: interval, duration: duration)
        case .oab where isGet:
            let components = lowerPath.split(separator: "/", omittingEmptySubsequences: true)
            if components.count == 3, components[2] == "oab.xml" {
                return .respond(
                    SimResponse(
                        .ok, contentType: "text/xml",
                        text: SimContent.oabManifest(
                            guid: String(target.path.split(separator: "/")[1]),
                            size: configuration.oabSize)))
            }
            if components.count == 3, components[2].hasSuffix(".lzx") {
                return .stream(
                    bytes: try target.byteCount("sim-bytes", default: configuration.oabSize),
                    contentType: "application/octet-stream", headers: [])
            }
            if components.count >= 2 {
                return .respond(.error(.notFound, "no such OAB file \(target.path)"))
            }
        case .owa where isGet && (lowerPath == "/owa/" || lowerPath == "/owa"):
            return .respond(SimResponse(.ok, contentType: "text/html; charset=utf-8", body: owaPage))
        default:
            break
        }
        if head.method == .POST || head.method == .PUT { return .hashBody }
        if head.method == .OPTIONS && service == .activesync {
            return .respond(
                SimResponse(
                    .ok,
                    headers: [
                        ("MS-Server-ActiveSync", "15.20"),
                        ("MS-ASProtocolVersions", "2.0,2.1,2.5,12.0,12.1,14.0,14.1,16.0,16.1"),
                        (
                            "MS-ASProtocolCommands",
                            "Sync,SendMail,SmartForward,SmartReply,GetAttachment,GetHierarchy,CreateCollection,DeleteCollection,MoveCollection,FolderSync,FolderCreate,FolderDelete,FolderUpdate,MoveItems,GetItemEstimate,MeetingResponse,Search,Settings,Ping,ItemOperations,Provision,ResolveRecipients,ValidateCert,Find"
                        )
                    ]))
        }
        let (contentType, body) = SimContent.generic(service, configuration: configuration)
        return .respond(SimResponse(.ok, contentType: contentType, text: body))
    }

    /// `/_sim/...`: maintenance switches and state.
    private func control(_ head: HTTPRequestHead, target: SimRequestTarget) throws -> SimPlan {
        let lowerPath = target.path.lowercased()
        switch (head.method, lowerPath) {
        case (.POST, "/_sim/offline"), (.POST, "/_sim/online"):
            var service: SimService?
            if let name = target.value("service") {
                guard let named = SimService.named(name), named.hasHealthCheck else {
                    let known = SimService.allCases.filter(\.hasHealthCheck).map(\.rawValue).joined(separator: ", ")
                    throw SimError("unknown service '\(name)' in \(target.path); known: \(known)")
                }
                service = named
            }
            if lowerPath == "/_sim/offline" { state.setOffline(service) } else { state.setOnline(service) }
            return .respond(SimResponse(.ok, contentType: "application/json", text: stateJSON() + "\n"))
        case (.GET, "/_sim/state"), (.HEAD, "/_sim/state"):
            return .respond(SimResponse(.ok, contentType: "application/json", text: stateJSON() + "\n"))
        case (_, "/_sim/offline"), (_, "/_sim/online"), (_, "/_sim/state"):
            return .respond(.error(.methodNotAllowed, "\(head.method.rawValue) \(target.path): use POST for offline/online, GET for state"))
        default:
            return .respond(
                .error(.notFound, "unknown simulator control path \(target.path); known: /_sim/offline, /_sim/online, /_sim/state"))
        }
    }

    /// The simulator's state as JSON.
    func stateJSON() -> String {
        let values = state.snapshot
        let healthy = SimService.allCases.filter(\.hasHealthCheck).map { service in
            (service.rawValue, values.serverOffline || values.offlineServices.contains(service) ? "false" : "true")
        }
        return SimJSON.object([
            ("name", SimJSON.string(configuration.name)),
            ("fqdn", SimJSON.string(configuration.fqdn)),
            ("offline", values.serverOffline ? "true" : "false"),
            ("offlineServices", SimJSON.array(values.offlineServices.sorted().map { SimJSON.string($0.rawValue) })),
            ("healthy", SimJSON.object(healthy)),
            ("requireNTLM", configuration.requireNTLM ? "true" : "false"),
            ("extendedProtection", SimJSON.string(configuration.extendedProtection.summary)),
            ("connectionsAccepted", String(values.connectionsAccepted)),
            ("connectionsOpen", String(values.connectionsOpen)),
            ("requests", String(values.requests)),
            ("authenticatedConnections", String(values.authenticatedConnections))
        ])
    }
}
