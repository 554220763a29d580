import NIOCore
import NIOEmbedded
import Testing

@testable import GatehouseHTTP1

/// The per-loop clock on an embedded loop: it fires through the loop's own time (advanceTime),
/// keeps one task however many entries it holds, and stops ticking when nothing is armed.
@Suite struct ConnectionClockTests {
    /// Records when it fired; can re-arm itself or remove another client's entry when it does.
    final class Client: ConnectionClockClient {
        var fired: [NIODeadline] = []
        var onFire: ((NIODeadline) -> Void)?
        func connectionClockFired(now: NIODeadline) {
            fired.append(now)
            onFire?(now)
        }
    }

    static func at(_ seconds: Double) -> NIODeadline { .uptimeNanoseconds(UInt64((seconds * 1e9).rounded())) }

    @Test func eachLoopHasItsOwnClock() {
        let first = EmbeddedEventLoop()
        let second = EmbeddedEventLoop()
        #expect(ConnectionClock.on(first) === ConnectionClock.on(first))
        #expect(ConnectionClock.on(first) !== ConnectionClock.on(second))
    }

    @Test func aLoopWhoseLastConnectionLeftWhileArmedIsNotKeptAlive() {
        weak var released: EmbeddedEventLoop?
        var clock: ConnectionClock?
        do {
            let loop = EmbeddedEventLoop()
            released = loop
            clock = ConnectionClock.on(loop)
            let entry = clock!.add(Client())
            clock!.arm(entry, at: Self.at(60))
            // The connection closes before its deadline, and the loop never runs again (a test's
            // or a fuzz input's embedded loop): the pending tick must not hold the loop.
            clock!.remove(entry)
            #expect(!clock!.isTicking)
        }
        #expect(released == nil, "the tick task's promise kept the loop (and its clock) alive")
        #expect(clock?.eventLoop == nil)
    }

    @Test func advancingTheLoopFiresDeadlinesAtTheirTicks() {
        let loop = EmbeddedEventLoop()
        let clock = ConnectionClock(eventLoop: loop)
        let client = Client()
        let entry = clock.add(client)
        clock.arm(entry, at: Self.at(2))
        loop.advanceTime(by: .milliseconds(1_999))
        #expect(client.fired.isEmpty)
        loop.advanceTime(by: .milliseconds(1))
        #expect(client.fired == [Self.at(2)])
        // Between ticks: late by less than one tick, never early.
        clock.arm(entry, at: Self.at(3.05))
        loop.advanceTime(to: Self.at(3.099))
        #expect(client.fired.count == 1)
        loop.advanceTime(to: Self.at(3.1))
        #expect(client.fired.last == Self.at(3.1))
        #expect(!clock.isTicking, "nothing armed: no task left on the loop")
    }

    @Test func manyConnectionsShareOneTaskAndEachFiresOnce() {
        let loop = EmbeddedEventLoop()
        let clock = ConnectionClock(eventLoop: loop)
        let clients = (0..<5_000).map { _ in Client() }
        for (number, client) in clients.enumerated() {
            clock.arm(clock.add(client), at: Self.at(1 + Double(number % 50) * 0.1))
        }
        #expect(clock.armedCount == 5_000 && clock.isTicking)
        loop.advanceTime(to: Self.at(3))
        #expect(clients.filter { !$0.fired.isEmpty }.count == 2_100, "those due by 3 s, no others")
        loop.advanceTime(to: Self.at(10))
        #expect(clients.allSatisfy { $0.fired.count == 1 })
        #expect(clients[49].fired == [Self.at(5.9)])
        #expect(clock.armedCount == 0 && !clock.isTicking)
    }

    @Test func aClientCanReArmFromItsCallbackAndRemoveAnother() {
        let loop = EmbeddedEventLoop()
        let clock = ConnectionClock(eventLoop: loop)
        let repeating = Client()
        let victim = Client()
        let repeatingEntry = clock.add(repeating)
        let victimEntry = clock.add(victim)
        repeating.onFire = { now in
            if repeating.fired.count == 1 { clock.remove(victimEntry) }
            if repeating.fired.count < 3 { clock.arm(repeatingEntry, at: now + .seconds(1)) }
        }
        clock.arm(repeatingEntry, at: Self.at(1))
        clock.arm(victimEntry, at: Self.at(5))
        loop.advanceTime(to: Self.at(10))
        #expect(repeating.fired == [Self.at(1), Self.at(2), Self.at(3)])
        #expect(victim.fired.isEmpty, "removed before its deadline")
        #expect(clock.entryCount == 1 && !clock.isTicking)
    }

    @Test func theTickStopsOnceNothingIsArmedAndArmingAfterAPauseCatchesUp() {
        let loop = EmbeddedEventLoop()
        let clock = ConnectionClock(eventLoop: loop)
        let client = Client()
        let entry = clock.add(client)
        clock.arm(entry, at: Self.at(1))
        #expect(clock.isTicking)
        clock.disarm(entry)
        #expect(clock.isTicking, "the tick runs out by itself")
        loop.advanceTime(to: Self.at(0.1))
        #expect(!clock.isTicking, "it found nothing armed and did not come back")
        loop.advanceTime(to: Self.at(500))
        clock.arm(entry, at: Self.at(500.5))
        loop.advanceTime(to: Self.at(500.4))
        #expect(client.fired.isEmpty)
        loop.advanceTime(to: Self.at(500.5))
        #expect(client.fired == [Self.at(500.5)])
    }

    @Test func removingAClientLetsItGo() {
        let loop = EmbeddedEventLoop()
        let clock = ConnectionClock(eventLoop: loop)
        weak var gone: Client?
        do {
            let client = Client()
            gone = client
            let entry = clock.add(client)
            clock.arm(entry, at: Self.at(1))
            clock.remove(entry)
        }
        #expect(gone == nil)
        #expect(clock.entryCount == 0)
        loop.advanceTime(by: .milliseconds(100))
        #expect(!clock.isTicking)
    }
}
