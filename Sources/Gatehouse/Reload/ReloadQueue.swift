import NIOConcurrencyHelpers

/// Runs reloads one at a time, in the order they were asked for (SIGHUP, admin endpoint): a
/// reload awaits sockets being bound, and two interleaved ones would diff against a state the
/// other is changing. Also holds the server's reload function for the admin endpoint, which is
/// built before the server can hand itself out.
final class ReloadQueue: Sendable {
    private struct State {
        var running = false
        var waiting: [CheckedContinuation<Void, Never>] = []
        var perform: (@Sendable (_ trigger: String) async -> ReloadOutcome)?
    }

    private let state = NIOLockedValueBox(State())

    init() {}

    /// Sets the function `reload(trigger:)` runs.
    func install(_ perform: @escaping @Sendable (_ trigger: String) async -> ReloadOutcome) {
        state.withLockedValue { $0.perform = perform }
    }

    /// Runs one reload after those already asked for.
    func reload(trigger: String) async -> ReloadOutcome {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let runNow = state.withLockedValue { state -> Bool in
                if state.running {
                    state.waiting.append(continuation)
                    return false
                }
                state.running = true
                return true
            }
            if runNow { continuation.resume() }
        }
        let perform = state.withLockedValue { $0.perform }
        let outcome =
            await perform?(trigger)
            ?? ReloadOutcome(applied: false, errors: ["error: the server is not running yet"])
        let next = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            guard !state.waiting.isEmpty else {
                state.running = false
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.resume()
        return outcome
    }
}
