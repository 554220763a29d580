import NIOCore
import Testing

@testable import GatehouseHTTP1

/// The timer wheel with time passed in: when entries come due, re-arming, disarming, removal,
/// crowded slots, wrap-around and deadlines more than one turn ahead.
@Suite struct TimerWheelTests {
    typealias Wheel = TimerWheel<Int>

    /// Seconds since uptime zero.
    static func at(_ seconds: Double) -> NIODeadline { .uptimeNanoseconds(UInt64((seconds * 1e9).rounded())) }

    /// A 100 ms wheel; 8 slots (one turn = 0.8 s) unless a test wants more.
    static func wheel(slots: Int = 8, now: Double = 0) -> Wheel {
        Wheel(tick: .milliseconds(100), slots: slots, now: at(now))
    }

    static func payloads(_ handles: [Wheel.Handle], in wheel: Wheel) -> [Int] {
        handles.map { wheel.payload($0) }.sorted()
    }

    @Test func anEntryFiresExactlyAtItsDeadlineNotBeforeAndOnce() {
        var wheel = Self.wheel()
        let entry = wheel.add(1)
        wheel.arm(entry, at: Self.at(1.0))
        #expect(wheel.due(entry) == Self.at(1.0))
        #expect(wheel.advance(to: Self.at(0.999_999)).isEmpty)
        #expect(wheel.advance(to: Self.at(1.0)) == [entry])
        #expect(wheel.due(entry) == nil, "an entry that fired is disarmed")
        #expect(wheel.armedCount == 0 && wheel.count == 1, "and stays until removed")
        #expect(wheel.advance(to: Self.at(2.0)).isEmpty)
    }

    @Test func aDeadlineBetweenTicksFiresAtTheNextTickSoLessThanOneTickLate() {
        var wheel = Self.wheel()
        let entry = wheel.add(1)
        wheel.arm(entry, at: Self.at(1.05))
        #expect(wheel.due(entry) == Self.at(1.1))
        #expect(wheel.advance(to: Self.at(1.05)).isEmpty, "the tick of 1.05 s is not over before 1.1 s")
        #expect(wheel.advance(to: Self.at(1.099)).isEmpty)
        #expect(wheel.advance(to: Self.at(1.1)) == [entry])
    }

    @Test func aDriverRunningLateStillGetsEveryEntryDueSinceItsLastAdvance() {
        var wheel = Self.wheel()
        let early = wheel.add(1)
        let middle = wheel.add(2)
        let later = wheel.add(3)
        wheel.arm(early, at: Self.at(0.3))
        wheel.arm(middle, at: Self.at(0.7))
        wheel.arm(later, at: Self.at(0.9))
        #expect(Self.payloads(wheel.advance(to: Self.at(0.75)), in: wheel) == [1, 2])
        #expect(wheel.advance(to: Self.at(0.85)).isEmpty)
        #expect(wheel.advance(to: Self.at(5)) == [later])
    }

    @Test func reArmingMovesTheEntryLaterOrEarlier() {
        var wheel = Self.wheel()
        let entry = wheel.add(1)
        wheel.arm(entry, at: Self.at(0.4))
        wheel.arm(entry, at: Self.at(0.6))
        #expect(wheel.armedCount == 1)
        #expect(wheel.advance(to: Self.at(0.5)).isEmpty, "no longer due at its first deadline")
        wheel.arm(entry, at: Self.at(3.0))
        wheel.arm(entry, at: Self.at(0.7))
        #expect(wheel.advance(to: Self.at(0.7)) == [entry])
        // Within the same tick a re-arm changes nothing.
        wheel.arm(entry, at: Self.at(1.01))
        wheel.arm(entry, at: Self.at(1.09))
        #expect(wheel.due(entry) == Self.at(1.1) && wheel.armedCount == 1)
        #expect(wheel.advance(to: Self.at(1.1)) == [entry])
    }

    @Test func aDisarmedEntryNeverFiresAndCanBeArmedAgain() {
        var wheel = Self.wheel()
        let entry = wheel.add(1)
        wheel.arm(entry, at: Self.at(0.5))
        wheel.disarm(entry)
        wheel.disarm(entry)
        #expect(wheel.armedCount == 0 && wheel.due(entry) == nil)
        #expect(wheel.advance(to: Self.at(10)).isEmpty)
        wheel.arm(entry, at: Self.at(10.2))
        #expect(wheel.advance(to: Self.at(10.2)) == [entry])
    }

    @Test func aRemovedEntryLeavesItsSlotAndItsPlaceIsReused() {
        var wheel = Self.wheel()
        let gone = wheel.add(1)
        let kept = wheel.add(2)
        wheel.arm(gone, at: Self.at(0.5))
        wheel.arm(kept, at: Self.at(0.5))
        #expect(wheel.remove(gone) == 1)
        #expect(wheel.count == 1 && wheel.armedCount == 1)
        let reused = wheel.add(3)
        #expect(reused == gone, "the freed place is used again")
        #expect(wheel.due(reused) == nil, "not armed by its predecessor")
        #expect(wheel.advance(to: Self.at(0.5)) == [kept])
    }

    @Test func manyEntriesInOneSlotFireTogetherAndOnlyThoseDue() {
        var wheel = Self.wheel()
        var now: [Wheel.Handle] = []
        var nextTurn: [Wheel.Handle] = []
        for number in 0..<100 {
            // Same slot: 0.3 s, and one turn (0.8 s) and two turns later.
            let handle = wheel.add(number)
            wheel.arm(handle, at: Self.at(number % 3 == 0 ? 0.3 : number % 3 == 1 ? 1.1 : 1.9))
            if number % 3 == 0 { now.append(handle) } else if number % 3 == 1 { nextTurn.append(handle) }
        }
        // Take some out of the list: its first, its last and one in the middle.
        for handle in [now[0], now[17], now[now.count - 1]] { wheel.remove(handle) }
        let expected = now.dropFirst().dropLast().filter { $0 != now[17] }.map { wheel.payload($0) }
        #expect(Self.payloads(wheel.advance(to: Self.at(0.3)), in: wheel) == expected.sorted())
        #expect(wheel.advance(to: Self.at(1.0)).isEmpty)
        #expect(Self.payloads(wheel.advance(to: Self.at(1.1)), in: wheel) == Self.payloads(nextTurn, in: wheel))
        #expect(wheel.advance(to: Self.at(1.9)).count == 33)
        #expect(wheel.armedCount == 0 && wheel.count == 97)
    }

    @Test func slotsWrapAroundFromTheLastToTheFirst() {
        var wheel = Self.wheel(now: 10.5)  // tick 105: slot 1 of 8
        let handles = (0..<8).map { wheel.add($0) }
        for (number, handle) in handles.enumerated() {
            // Ticks 106...113: slots 2...7, then 0 and 1 again.
            wheel.arm(handle, at: Self.at(10.6 + Double(number) * 0.1))
        }
        for (number, handle) in handles.enumerated() {
            let now = Self.at(10.6 + Double(number) * 0.1)
            #expect(wheel.advance(to: now) == [handle], "tick \(106 + number)")
        }
        #expect(wheel.armedCount == 0)
    }

    @Test func aDeadlineSeveralTurnsAheadWaitsItsTurn() {
        var wheel = Self.wheel()
        let far = wheel.add(1)
        wheel.arm(far, at: Self.at(2.5))  // tick 25: more than three turns of 8
        var tick = 1
        while tick < 25 {
            #expect(wheel.advance(to: Self.at(Double(tick) / 10)).isEmpty, "tick \(tick)")
            tick += 1
        }
        #expect(wheel.advance(to: Self.at(2.5)) == [far])
    }

    @Test func oneAdvanceOverManyTurnsFindsWhatIsDueAndKeepsTheRest() {
        var wheel = Self.wheel()
        let due = (0..<20).map { wheel.add($0) }
        for (number, handle) in due.enumerated() { wheel.arm(handle, at: Self.at(0.1 + Double(number) * 0.45)) }
        let after = wheel.add(100)
        wheel.arm(after, at: Self.at(9.05))
        #expect(wheel.advance(to: Self.at(9.0)).count == 20)
        #expect(wheel.armedCount == 1)
        #expect(wheel.advance(to: Self.at(9.1)) == [after])
    }

    @Test func aDeadlineAlreadyPastIsDueAtTheNextTick() {
        var wheel = Self.wheel(now: 5)
        let entry = wheel.add(1)
        wheel.arm(entry, at: Self.at(1))
        #expect(wheel.due(entry) == Self.at(5.1))
        #expect(wheel.nextTick == Self.at(5.1))
        #expect(wheel.advance(to: Self.at(5.1)) == [entry])
    }

    @Test func timeGoingBackwardsWalksNothing() {
        var wheel = Self.wheel()
        let entry = wheel.add(1)
        #expect(wheel.advance(to: Self.at(5)).isEmpty)
        #expect(wheel.advance(to: Self.at(3)).isEmpty)
        #expect(wheel.processedTick == 50)
        wheel.arm(entry, at: Self.at(4))
        #expect(wheel.due(entry) == Self.at(5.1), "a deadline before the ticks walked is due at the next one")
    }

    @Test func disarmAllEmptiesTheSlotsButKeepsTheEntries() {
        var wheel = Self.wheel()
        let handles = (0..<10).map { wheel.add($0) }
        for (number, handle) in handles.enumerated() { wheel.arm(handle, at: Self.at(Double(number) * 0.3)) }
        wheel.disarmAll()
        #expect(wheel.armedCount == 0 && wheel.count == 10)
        #expect(wheel.advance(to: Self.at(100)).isEmpty)
    }

    @Test func theSlotCountIsRoundedUpToAPowerOfTwo() {
        #expect(Wheel(tick: .milliseconds(100), slots: 1000, now: Self.at(0)).slotCount == 1024)
        #expect(Wheel(tick: .milliseconds(100), slots: 1, now: Self.at(0)).slotCount == 1)
    }
}
