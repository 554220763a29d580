/// `limits.http2:`: checked here so that a value HTTP/2 cannot carry (a window beyond 2^31-1, a
/// stream window larger than the connection's) is refused at its line instead of clamped.
extension ConfigValidator {
    /// The `http2:` block of `limits:`, with `HTTP2Limits` defaults for the keys left out.
    func validateHTTP2Limits(_ document: Located<HTTP2LimitsDocument>?) -> HTTP2Limits {
        var limits = HTTP2Limits()
        guard let document else { return limits }
        let value = document.value
        limits.maxConcurrentStreams = integer(
            value.maxConcurrentStreams, in: HTTP2Limits.streamRange, default: limits.maxConcurrentStreams)
        limits.initialWindowSize = window(
            value.initialWindowSize, in: HTTP2Limits.streamWindowRange, default: limits.initialWindowSize)
        limits.connectionWindowSize = window(
            value.connectionWindowSize, in: HTTP2Limits.connectionWindowRange, default: limits.connectionWindowSize)
        if let stream = value.initialWindowSize, limits.initialWindowSize > limits.connectionWindowSize {
            notAboveConnectionWindow(stream, limits.initialWindowSize, limits)
        }
        if let upload = value.uploadWindowSize {
            limits.uploadWindowSize = window(upload, in: HTTP2Limits.streamWindowRange, default: limits.uploadWindowSize)
            if limits.uploadWindowSize > limits.connectionWindowSize {
                notAboveConnectionWindow(upload, limits.uploadWindowSize, limits)
            } else if limits.uploadWindowSize < limits.initialWindowSize {
                collector.error(
                    "\(upload.place) (\(ByteSize.format(limits.uploadWindowSize))) is smaller than initial_window_size "
                        + "(\(ByteSize.format(limits.initialWindowSize)))", at: upload.mark,
                    hint: "a stream's window only widens once its body flows to a backend; set it to at least "
                        + "initial_window_size")
            }
        } else {
            // Left out: 1 MiB, within whatever the two other windows were set to.
            limits.uploadWindowSize = max(limits.initialWindowSize, min(limits.uploadWindowSize, limits.connectionWindowSize))
        }
        return limits
    }

    /// A stream window (`initial_window_size`, `upload_window_size`) above the connection's.
    private func notAboveConnectionWindow(_ value: Located<String>, _ size: Int, _ limits: HTTP2Limits) {
        collector.error(
            "\(value.place) (\(ByteSize.format(size))) is larger than connection_window_size "
                + "(\(ByteSize.format(limits.connectionWindowSize)))", at: value.mark,
            hint: "one stream can never use more than the connection's window; raise connection_window_size")
    }

    /// A flow-control window: a byte size within `range`, or `fallback` with an error.
    private func window(_ value: Located<String>?, in range: ClosedRange<Int>, default fallback: Int) -> Int {
        guard let value else { return fallback }
        let parsed = size(value, default: -1)
        guard parsed >= 0 else { return fallback }  // already reported
        guard range.contains(parsed) else {
            collector.error(
                "\(value.place) must be between \(ByteSize.format(range.lowerBound)) and "
                    + "\(ByteSize.format(range.upperBound)), not \(ByteSize.format(parsed))", at: value.mark,
                hint: "HTTP/2 windows are at most 2^31-1 bytes; each open stream may make the proxy hold up to "
                    + "initial_window_size of request body")
            return fallback
        }
        return parsed
    }
}
