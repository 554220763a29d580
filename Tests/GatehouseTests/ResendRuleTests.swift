import NIOHTTP1
import Testing

@testable import Gatehouse

/// Which failed requests are sent to another backend, and which never are.
@Suite struct ResendRuleTests {
    private func attempt(
        _ method: HTTPMethod = .GET, attempts: Int = 1, responseStarted: Bool = false,
        bodyForwarded: Bool = false, pinned: Bool = false
    ) -> ResendRule.Attempt {
        ResendRule.Attempt(
            attempts: attempts, responseStarted: responseStarted, bodyForwarded: bodyForwarded,
            pinned: pinned, method: method)
    }

    @Test func anUnansweredIdempotentRequestIsResentOnce() {
        #expect(ResendRule.mayResend(attempt(.GET)))
        #expect(ResendRule.mayResend(attempt(.HEAD)))
        #expect(!ResendRule.mayResend(attempt(.GET, attempts: 2)))
    }

    @Test func aNonIdempotentRequestIsNeverResent() {
        // Not even from a reused keep-alive connection: the backend may have processed it.
        #expect(!ResendRule.mayResend(attempt(.POST)))
        #expect(!ResendRule.mayResend(attempt(.PATCH)))
        #expect(!ResendRule.mayResend(attempt(.RAW(value: "RPC_IN_DATA"))))
        #expect(!ResendRule.mayResend(attempt(.TRACE)))
        #expect(ResendRule.mayResend(attempt(.PUT)))
        #expect(ResendRule.mayResend(attempt(.DELETE)))
    }

    @Test func neverAfterResponseBytesOrAStreamedBody() {
        #expect(!ResendRule.mayResend(attempt(.GET, responseStarted: true)))
        #expect(!ResendRule.mayResend(attempt(.POST, responseStarted: true)))
        #expect(!ResendRule.mayResend(attempt(.PUT, bodyForwarded: true)))
        #expect(!ResendRule.mayResend(attempt(.DELETE, bodyForwarded: true)))
    }

    @Test func neverTheClientsAuthenticatedConnection() {
        #expect(!ResendRule.mayResend(attempt(.GET, pinned: true)))
    }
}
