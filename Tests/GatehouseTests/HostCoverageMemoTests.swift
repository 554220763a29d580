import Testing

@testable import Gatehouse

/// `HostCoverageMemo`: the per-connection 421 check answers as the certificate check does, asking
/// it again only when the Host differs from the last one.
@Suite struct HostCoverageMemoTests {
    /// A certificate check that covers `mail.contoso.com` (any port) and counts its calls.
    final class Check: @unchecked Sendable {
        var calls: [String] = []
        func covers(_ host: String) -> Bool {
            calls.append(host)
            return host == "mail.contoso.com" || host.hasPrefix("mail.contoso.com:")
        }
    }

    @Test func theSameHostIsCheckedOnceAndAnsweredAsTheCheckDid() {
        let check = Check()
        let memo = HostCoverageMemo(check.covers)
        #expect(memo.covers("mail.contoso.com"))
        #expect(memo.covers("mail.contoso.com"))
        #expect(memo.covers("mail.contoso.com"))
        #expect(check.calls == ["mail.contoso.com"])
    }

    @Test func aRefusedHostStaysRefusedWhenAskedAgain() {
        let check = Check()
        let memo = HostCoverageMemo(check.covers)
        #expect(!memo.covers("evil.example"))
        #expect(!memo.covers("evil.example"))
        #expect(check.calls == ["evil.example"])
    }

    @Test func aDifferentHostIsCheckedAgainAndReplacesTheRememberedOne() {
        let check = Check()
        let memo = HostCoverageMemo(check.covers)
        #expect(memo.covers("mail.contoso.com"))
        #expect(!memo.covers("evil.example"))
        #expect(memo.covers("mail.contoso.com:443"))
        #expect(memo.covers("mail.contoso.com"))
        #expect(!memo.covers("Evil.example"), "no case folding in the memo: the check decides")
        #expect(check.calls == ["mail.contoso.com", "evil.example", "mail.contoso.com:443", "mail.contoso.com", "Evil.example"])
    }
}
