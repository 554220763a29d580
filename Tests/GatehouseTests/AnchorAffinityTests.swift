import NIOHTTP1
import Testing

@testable import Gatehouse

/// Anchor-mailbox extraction and rendezvous hashing onto servers.
@Suite struct AnchorAffinityTests {
    private func head(_ uri: String, _ headers: [(String, String)] = []) -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: .POST, uri: uri, headers: HTTPHeaders(headers))
    }

    @Test func findsTheAnchorWhereExchangeDoes() {
        let expected = AnchorMailbox.hash("user1@contoso.com")
        #expect(AnchorMailbox.hash(of: head("/EWS/Exchange.asmx", [("X-AnchorMailbox", "User1@Contoso.com")])) == expected)
        #expect(AnchorMailbox.hash(of: head("/mapi/emsmdb/?MailboxId=user1@contoso.com")) == expected)
        #expect(AnchorMailbox.hash(of: head("/mapi/nspi/?foo=1&mailboxid=user1%40contoso.com")) == expected)
        #expect(AnchorMailbox.hash(of: head("/rpc/rpcproxy.dll?user1@contoso.com:6001")) == expected)
        // "user1@contoso.com:secret" in Base64.
        #expect(AnchorMailbox.hash(of: head("/owa/", [("Authorization", "Basic dXNlcjFAY29udG9zby5jb206c2VjcmV0")])) == expected)
    }

    @Test func theHeaderWinsAndServerNamesAreNotMailboxes() {
        let header = head("/mapi/emsmdb/?MailboxId=other@contoso.com", [("X-AnchorMailbox", "user1@contoso.com")])
        #expect(AnchorMailbox.hash(of: header) == AnchorMailbox.hash("user1@contoso.com"))
        #expect(AnchorMailbox.hash(of: head("/rpc/rpcproxy.dll?mbx01.contoso.com:6001")) == nil)
        #expect(AnchorMailbox.hash(of: head("/owa/")) == nil)
        #expect(AnchorMailbox.hash(of: head("/owa/", [("Authorization", "NTLM TlRMTVNTUAABAAAA")])) == nil)
    }

    private let seeds = ["mbx01", "mbx02", "mbx03"].map(RendezvousHash.seed(serverName:))

    private func owner(_ mailbox: Int, eligible: (Int) -> Bool = { _ in true }, weights: [Int] = [1, 1, 1]) -> Int? {
        RendezvousHash.pick(
            key: AnchorMailbox.hash("user\(mailbox)@contoso.com"[...]), seeds: seeds,
            weights: weights, isEligible: eligible)
    }

    @Test func eachMailboxStaysOnOneServerAndSpreads() {
        var perServer = [0, 0, 0]
        for mailbox in 0..<3000 {
            let first = owner(mailbox)!
            #expect(owner(mailbox) == first)
            perServer[first] += 1
        }
        #expect(perServer.allSatisfy { $0 > 850 && $0 < 1150 }, "spread: \(perServer)")
    }

    @Test func onlyTheFailedServersMailboxesMove() {
        var moved = 0
        for mailbox in 0..<1000 {
            let before = owner(mailbox)!
            let after = owner(mailbox) { $0 != 1 }!
            if before == 1 {
                moved += 1
                #expect(after != 1)
            } else {
                #expect(after == before)
            }
        }
        #expect(moved > 250)
    }

    @Test func weightsShiftTheShare() {
        var perServer = [0, 0, 0]
        for mailbox in 0..<4000 { perServer[owner(mailbox, weights: [2, 1, 1])!] += 1 }
        #expect(perServer[0] > 1800 && perServer[0] < 2200, "spread: \(perServer)")
    }
}
