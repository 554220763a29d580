import NIOHTTP1

@testable import Gatehouse

/// Fuzzes the request-target canonicaliser and the built-in deny rules together.
///
/// Input: byte 0 picks the client (bit 0: inside the admin networks) and the method (bit 1:
/// OPTIONS); then the request target up to the first LF; then `name: value` header lines
/// (cookies, `X-AnonResource-Backend`, ...), one per line.
///
/// Invariants, for every target the canonicaliser accepts:
/// - its path is canonical (starts with `/`, no empty, `.` or `..` segment) and `lowercasedPath` is
///   its ASCII lower case;
/// - canonicalisation is idempotent: the `forwardTarget` the backend receives canonicalises again to
///   the same path, query and forward target;
/// - the backend's single percent-decoding of the forward path is exactly the path filtered here;
/// - the deny verdict is the same on the forward target (so what is allowed reaches the backend as
///   a path no deny rule matches) and on its ASCII upper case (case cannot slip past a rule).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTargetDeny(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let flags = data[0]
    let rest = UnsafeBufferPointer(start: data + 1, count: size - 1)
    let lines = rest.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
    let rawTarget = String(decoding: lines[0], as: UTF8.self)
    var headers = HTTPHeaders()
    for line in lines.dropFirst() {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
        // Field names are visible ASCII (NIO refuses anything else, as the decoder does before it).
        let nameBytes = line[line.startIndex..<colon]
        guard !nameBytes.isEmpty, nameBytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { continue }
        let name = String(decoding: nameBytes, as: UTF8.self)
        let value = String(decoding: line[(colon + 1)...], as: UTF8.self)
        headers.add(name: name, value: value)
    }
    let method: HTTPMethod = flags & 2 != 0 ? .OPTIONS : .GET
    let client = flags & 1 != 0 ? Fixture.adminClient : Fixture.externalClient

    guard let target = try? CanonicalTarget(requestTarget: rawTarget, method: method, host: Fixture.host) else { return 0 }
    let verdict = Fixture.verdict(target, method: method, headers: headers, client: client)
    guard target.form != .asterisk else { return 0 }

    checkCanonical(target)
    let again: CanonicalTarget
    do {
        again = try CanonicalTarget(requestTarget: target.forwardTarget, method: method, host: Fixture.host)
    } catch {
        preconditionFailure("the forward target \(target.forwardTarget) of \(rawTarget) is refused: \(error)")
    }
    precondition(again.path == target.path, "not idempotent: \(target.path) -> \(again.path)")
    precondition(again.query == target.query, "the query changed: \(target.query ?? "-") -> \(again.query ?? "-")")
    precondition(again.forwardTarget == target.forwardTarget, "the forward target changed: \(target.forwardTarget)")
    let forwardPath = target.forwardTarget.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
    precondition(
        percentDecodedOnce(Array(forwardPath.utf8)) == Array(target.path.utf8),
        "the backend decodes \(target.forwardTarget) to another path than \(target.path)")
    precondition(
        Fixture.verdict(again, method: method, headers: headers, client: client) == verdict,
        "the deny verdict differs on the forward target \(target.forwardTarget)")

    let shouted = String(decoding: target.forwardTarget.utf8.map(upper), as: UTF8.self)
    if let loud = try? CanonicalTarget(requestTarget: shouted, method: method, host: Fixture.host) {
        precondition(
            Fixture.verdict(loud, method: method, headers: headers, client: client) == verdict,
            "the deny verdict differs for the upper-case \(shouted)")
    }
    return 0
}

/// The fixed parts of every run: one service's deny rules, its admin networks and the two clients.
enum Fixture {
    static let host = "mail.contoso.com"
    static let adminNetworks = [try! IPNetwork("10.0.0.0/8")]
    static let adminClient = IPAddress("10.1.2.3")!
    static let externalClient = IPAddress("203.0.113.9")!

    /// The first deny rule violated, with every rule on.
    static func verdict(_ target: CanonicalTarget, method: HTTPMethod, headers: HTTPHeaders, client: IPAddress) -> DenyRule? {
        DenyRuleSet.all.firstViolation(
            method: method, target: target, headers: headers, client: client, adminNetworks: adminNetworks)
    }
}

/// Traps unless `target`'s path is in canonical form.
func checkCanonical(_ target: CanonicalTarget) {
    let path = target.path
    precondition(path.hasPrefix("/"), "a canonical path without a leading slash: \(path)")
    let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
    for (index, segment) in segments.enumerated() {
        precondition(segment != "." && segment != "..", "a dot-segment survived: \(path)")
        precondition(!segment.isEmpty || index == segments.count - 1, "an empty segment survived: \(path)")
    }
    precondition(
        Array(target.lowercasedPath.utf8) == path.utf8.map(lower), "lowercasedPath is not the path's lower case: \(path)")
}

func lower(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte }
func upper(_ byte: UInt8) -> UInt8 { byte >= 0x61 && byte <= 0x7A ? byte & ~0x20 : byte }

/// One round of percent-decoding, as a backend applies it to the path it receives.
func percentDecodedOnce(_ bytes: [UInt8]) -> [UInt8] {
    func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x37
        case 0x61...0x66: return byte - 0x57
        default: return nil
        }
    }
    var out: [UInt8] = []
    var index = 0
    while index < bytes.count {
        if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count, let high = hex(bytes[index + 1]),
            let low = hex(bytes[index + 2])
        {
            out.append(high << 4 | low)
            index += 3
        } else {
            out.append(bytes[index])
            index += 1
        }
    }
    return out
}
