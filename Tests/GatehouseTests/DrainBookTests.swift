import Testing

@testable import Gatehouse

/// The bookkeeping behind graceful stop and removed listeners: who is asked to finish, when the
/// listener counts as drained, and that nothing new gets in meanwhile.
@Suite struct DrainBookTests {
    @Test func everyOpenConnectionIsAskedOnceAndTheLastCloseDrains() {
        var book = DrainBook<Int>()
        let admitted = [book.opened(1), book.opened(2), book.opened(3)]
        #expect(admitted == [true, true, true])
        let earlyClose = book.closed(2)
        #expect(!earlyClose)  // not draining yet
        let first = book.beginDraining()
        #expect(Set(first.toQuiesce) == [1, 3] && !first.drained)
        // Asking again (a removed listener, then SIGTERM) quiesces nobody twice.
        let second = book.beginDraining()
        #expect(second.toQuiesce.isEmpty && !second.drained)
        let closes = [book.closed(1), book.closed(1), book.closed(3)]
        // A duplicate close changes nothing; the last one drains.
        #expect(closes == [false, false, true])
        #expect(book.isDrained)
    }

    @Test func noConnectionIsAdmittedWhileDraining() {
        var book = DrainBook<Int>()
        let before = book.opened(1)
        _ = book.beginDraining()
        let during = book.opened(2)
        #expect(before && !during)
        #expect(book.open == [1])
        let closes = [book.closed(2), book.closed(1)]
        #expect(closes == [false, true])  // the refused one was never counted
    }

    @Test func aListenerWithNoConnectionsIsDrainedAtOnce() {
        var book = DrainBook<Int>()
        let result = book.beginDraining()
        #expect(result.toQuiesce.isEmpty && result.drained && book.isDrained)
    }
}
