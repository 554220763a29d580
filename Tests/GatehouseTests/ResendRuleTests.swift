import NIOHTTP1
import Testing

@testable import Gatehouse

/// Which failed requests are sent to another backend, and which never are.
@Suite struct ResendRuleTests {
    private func attempt(_ method: HTTPMethod = .GET, attempts: Int = 1, responseStarted: Bool = false,
                         bodyForwarded: Bool = false, pinned: Bool = false, reused: Bool = false) -> ResendRule.Attempt {
        ResendRule.Attempt(attempts: attempts, responseStarted: responseStarted, bodyForwarded: bodyForwarded,
                           pinned: pinned, reusedConnection: reused, method: method)
    }

    @Test func anUnansweredIdempotentRequestIsResentOnce() {
        #expect(ResendRule.mayResend(attempt(.GET)))
        #expect(ResendRule.mayResend(attempt(.HEAD)))
        #expect(!ResendRule.mayResend(attempt(.GET, attempts: 2)))
    }

    @Test func aPostIsResentOnlyFromAStaleIdleConnection() {
        #expect(!ResendRule.mayResend(attempt(.POST)))
        #expect(ResendRule.mayResend(attempt(.POST, reused: true)))
        #expect(!ResendRule.mayResend(attempt(.RAW(value: "RPC_IN_DATA"))))
    }

    @Test func neverAfterResponseBytesOrAStreamedBody() {
        #expect(!ResendRule.mayResend(attempt(.GET, responseStarted: true)))
        #expect(!ResendRule.mayResend(attempt(.POST, responseStarted: true, reused: true)))
        #expect(!ResendRule.mayResend(attempt(.PUT, bodyForwarded: true)))
        #expect(!ResendRule.mayResend(attempt(.POST, bodyForwarded: true, reused: true)))
    }

    @Test func neverTheClientsAuthenticatedConnection() {
        #expect(!ResendRule.mayResend(attempt(.GET, pinned: true, reused: true)))
    }
}
