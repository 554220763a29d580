/// The active health of one (server, service) pair: HAProxy's rise/fall counting. A healthy pair
/// goes down after `fall` consecutive failed probes; a down one comes back after `rise`
/// consecutive good ones. Pure value; every probe result returns what changed, if anything.
struct HealthCheck {
    enum State: Equatable {
        /// In rotation; `failures` consecutive probes failed so far.
        case healthy(failures: Int)
        /// Out of rotation; `successes` consecutive probes passed so far.
        case unhealthy(successes: Int)
    }

    /// What a probe result changed.
    enum Transition: Equatable {
        case wentDown
        case cameUp
    }

    let rise: Int
    let fall: Int
    private(set) var state: State = .healthy(failures: 0)

    /// Starts healthy, as HAProxy does, so a fresh start serves traffic at once.
    init(rise: Int, fall: Int) {
        self.rise = max(1, rise)
        self.fall = max(1, fall)
    }

    var isHealthy: Bool {
        if case .healthy = state { return true }
        return false
    }

    /// Records one probe; returns the transition when this probe crossed a threshold.
    mutating func record(success: Bool) -> Transition? {
        switch (state, success) {
        case (.healthy, true):
            state = .healthy(failures: 0)
        case (.healthy(let failures), false):
            if failures + 1 >= fall {
                state = .unhealthy(successes: 0)
                return .wentDown
            }
            state = .healthy(failures: failures + 1)
        case (.unhealthy(let successes), true):
            if successes + 1 >= rise {
                state = .healthy(failures: 0)
                return .cameUp
            }
            state = .unhealthy(successes: successes + 1)
        case (.unhealthy, false):
            state = .unhealthy(successes: 0)
        }
        return nil
    }

    /// The same state under new thresholds (a reload that edited `rise`/`fall`); counts already
    /// past a new threshold cross it at the next probe.
    func withThresholds(rise: Int, fall: Int) -> HealthCheck {
        var check = HealthCheck(rise: rise, fall: fall)
        check.state = state
        return check
    }
}
