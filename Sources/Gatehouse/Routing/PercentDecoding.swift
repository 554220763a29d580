/// Percent-decoding for inspection (deny rules), not for forwarding.
enum PercentDecoding {
    /// Decodes `%XX` escapes repeatedly (at most `rounds` times, until nothing changes) and lowers
    /// ASCII letters, so `%2550owershell` and `%50OWERSHELL` both read `powershell`. Invalid escapes
    /// stay as they are. Over-decoding is the safe side for a deny rule: an attacker gains nothing
    /// by hiding a word behind a second layer of encoding that some backend might peel off.
    static func inspectionForm<C: Collection<UInt8>>(_ bytes: C, rounds: Int = 4) -> [UInt8] {
        var current = bytes.map(ASCII.lower)
        for _ in 0..<rounds {
            guard current.contains(UInt8(ascii: "%")) else { break }
            var next = [UInt8]()
            next.reserveCapacity(current.count)
            var changed = false
            var index = 0
            while index < current.count {
                let byte = current[index]
                if byte == UInt8(ascii: "%"), index + 2 < current.count,
                    let high = ASCII.hexValue(current[index + 1]), let low = ASCII.hexValue(current[index + 2])
                {
                    next.append(ASCII.lower(high << 4 | low))
                    index += 3
                    changed = true
                } else {
                    next.append(byte)
                    index += 1
                }
            }
            current = next
            if !changed { break }
        }
        return current
    }
}
