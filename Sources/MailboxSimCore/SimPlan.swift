import NIOHTTP1

/// A complete response, decided when the request head arrives and sent once its body has been read.
struct SimResponse {
    var status: HTTPResponseStatus
    var headers: [(String, String)] = []
    var body: [UInt8] = []

    init(_ status: HTTPResponseStatus, contentType: String? = nil, body: [UInt8] = [], headers: [(String, String)] = []) {
        self.status = status
        self.body = body
        self.headers = headers
        if let contentType { self.headers.append(("Content-Type", contentType)) }
    }

    init(_ status: HTTPResponseStatus, contentType: String, text: String, headers: [(String, String)] = []) {
        self.init(status, contentType: contentType, body: Array(text.utf8), headers: headers)
    }

    /// A plain-text error whose body says what was wrong.
    static func error(_ status: HTTPResponseStatus, _ message: String) -> SimResponse {
        SimResponse(status, contentType: "text/plain; charset=utf-8", text: "\(status.code) \(status.reasonPhrase): \(message)\n")
    }

    /// The 401 a protected path gives an unauthenticated connection: both schemes offered, as IIS does.
    static func unauthorized(_ message: String) -> SimResponse {
        var response = error(.unauthorized, message)
        response.headers += [("WWW-Authenticate", "NTLM"), ("WWW-Authenticate", "Negotiate")]
        return response
    }
}

/// What the connection handler does with one request: the router's decision.
enum SimPlan {
    /// Read (and drop) the body, then send `response`.
    case respond(SimResponse)
    /// Read the body, then answer JSON: the method, target, headers exactly as received, body size.
    case echo
    /// Hash the body as it streams; answer `{"bytes":N,"sha256":"hex"}`.
    case hashBody
    /// Read the body, wait `seconds`, then send `response` (ActiveSync Ping).
    case hold(seconds: Double, response: SimResponse)
    /// Answer a chunked `PENDING` line every `interval` for `duration`, then `DONE` (MAPI NotificationWait).
    case notificationWait(interval: Double, duration: Double)
    /// Stream `bytes` deterministic bytes (byte i = i % 251) with Content-Length, with backpressure.
    case stream(bytes: UInt64, contentType: String, headers: [(String, String)])
}
