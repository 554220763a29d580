import Testing

@testable import GatehouseTLS

/// The handler's lifecycle without NIO or OpenSSL.
@Suite struct TLSStateMachineTests {
    @Test func normalLifecycle() {
        var machine = TLSStateMachine()
        #expect(machine.acceptsWrites && !machine.canEncrypt)
        let result1 = machine.start()
        #expect(result1)
        let result2 = machine.start()
        #expect(!result2, "the handshake starts once")
        let result3 = machine.handshakeCompleted()
        #expect(result3)
        #expect(machine.canEncrypt)
        let result4 = machine.closeRequested()
        #expect(result4 == .sendCloseNotifyThenClose)
        let result5 = machine.closeRequested()
        #expect(result5 == .alreadyClosing)
        #expect(!machine.acceptsWrites)
        let result6 = machine.inputEnded()
        #expect(result6 == .clean)
    }

    @Test func closeBeforeSecureClosesAtOnce() {
        var machine = TLSStateMachine()
        _ = machine.start()
        let result7 = machine.closeRequested()
        #expect(result7 == .closeNow)
        let result8 = machine.handshakeCompleted()
        #expect(!result8, "a late handshake completion after close is ignored")
    }

    @Test func endOfInputIsClassified() {
        var duringHandshake = TLSStateMachine()
        _ = duringHandshake.start()
        let result9 = duringHandshake.inputEnded()
        #expect(result9 == .duringHandshake)

        var noData = TLSStateMachine()
        _ = noData.start()
        _ = noData.handshakeCompleted()
        let result10 = noData.inputEnded()
        #expect(result10 == .unclean(afterData: false))

        var afterData = TLSStateMachine()
        _ = afterData.start()
        _ = afterData.handshakeCompleted()
        afterData.applicationDataReceived()
        let result11 = afterData.inputEnded()
        #expect(result11 == .unclean(afterData: true))

        var clean = TLSStateMachine()
        _ = clean.start()
        _ = clean.handshakeCompleted()
        let result12 = clean.closeNotifyReceived(allowHalfClosure: false)
        #expect(result12 == .replyAndClose)
        let result13 = clean.inputEnded()
        #expect(result13 == .clean)
    }

    @Test func halfClosureKeepsWriting() {
        var machine = TLSStateMachine()
        _ = machine.start()
        _ = machine.handshakeCompleted()
        let result14 = machine.closeNotifyReceived(allowHalfClosure: true)
        #expect(result14 == .reportInputClosed)
        #expect(machine.canEncrypt)
        let result15 = machine.inputEnded()
        #expect(result15 == .clean)
    }

    @Test func failureIsReportedOnce() {
        var machine = TLSStateMachine()
        _ = machine.start()
        let result16 = machine.failed()
        #expect(result16)
        let result17 = machine.failed()
        #expect(!result17)
        let result18 = machine.inputEnded()
        #expect(result18 == .clean, "after a reported failure, EOF adds no second error")
    }
}
