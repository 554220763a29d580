import GatehouseTLS

/// Validation of `tls.ticket_keys`: the file is read and parsed here, so a bad key file is an
/// error at the line of the key that names it (at start, and on reload before anything changes).
extension ConfigValidator {
    /// The absolute path and the parsed keys, or nil after recording an error.
    func ticketKeys(_ file: Located<String>, sessionTickets: Bool) -> (String, TicketKeyRing)? {
        let howToMake =
            "create it with `gatehouse cert ticket-key rotate \(file.value)` (one base64 line of 80 bytes per key, newest first)"
        guard sessionTickets else {
            collector.error(
                "\(file.place) is set, but session_tickets is false, so no ticket would ever use the keys", at: file.mark,
                hint: "remove 'ticket_keys' or set 'session_tickets: true'")
            return nil
        }
        guard let path = readableFile(file, what: "session ticket key file") else { return nil }
        do {
            let (ring, warning) = try TicketKeyRing.load(path: path)
            if let warning { collector.warning(warning, at: file.mark, hint: "every instance must keep these keys secret") }
            return (path, ring)
        } catch {
            collector.error("session ticket key file '\(file.value)' for \(file.place): \(error)", at: file.mark, hint: howToMake)
            return nil
        }
    }
}
