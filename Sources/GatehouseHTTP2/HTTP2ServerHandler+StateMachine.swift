extension HTTP2ServerHandler {
    /// The connection's life: `idle` until the preface is sent, `active` while serving, `draining`
    /// after our GOAWAY (quiesce, idle timeout) while open streams finish, `closed` at the end.
    /// Events return what the handler must do, so the rules are testable without NIO.
    struct StateMachine {
        enum State: Equatable { case idle, active, draining, closed }
        enum Action: Equatable { case none, start, sendGoaway, close }
        private(set) var state: State = .idle

        /// The channel is active and the handler is in place.
        mutating func channelReady() -> Action {
            guard state == .idle else { return .none }
            state = .active
            return .start
        }

        /// Quiesce requested or idle timeout: stop taking new streams.
        mutating func beginDraining() -> Action {
            guard state == .active else { return .none }
            state = .draining
            return .sendGoaway
        }

        /// nghttp2 wants neither to read nor to write: the session is over.
        mutating func sessionFinished() -> Action {
            switch state {
            case .active, .draining:
                state = .closed
                return .close
            case .idle, .closed:
                return .none
            }
        }

        /// The channel went away.
        mutating func channelInactive() { state = .closed }

        var isServing: Bool { state == .active || state == .draining }
    }
}
