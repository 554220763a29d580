import CNGHTTP2
import NIOHTTP1

extension HTTP2Session {
    /// Builds an `nghttp2_nv` array for a response head or trailers and calls `body` with it.
    /// Names are lowercased and connection-specific fields dropped (RFC 9113 §8.2.2). Names and
    /// values are packed into one reused scratch array, so no per-header allocation happens; nghttp2
    /// copies them during the submit call (no NO_COPY flags), so the scratch can be reused at once.
    func withHeaderBlock(status: Int?, headers: HTTPHeaders, _ body: (UnsafePointer<nghttp2_nv>, Int) -> Int32) -> Int32 {
        // The scratch arrays are taken out of `self` for the call: appends to a local array are
        // neither access-checked nor uniqueness-checked against the session each time (that was
        // ~5,000 instructions per response head, one byte at a time).
        var scratch = headerScratch
        var ranges = headerRanges
        var nva = nvScratch
        headerScratch = []
        headerRanges = []
        nvScratch = []
        defer {
            headerScratch = scratch
            headerRanges = ranges
            nvScratch = nva
        }
        scratch.removeAll(keepingCapacity: true)
        ranges.removeAll(keepingCapacity: true)
        nva.removeAll(keepingCapacity: true)
        if let status {
            let code = min(max(status, 100), 999)
            scratch.append(contentsOf: ":status".utf8)
            scratch.append(UInt8(ascii: "0") + UInt8(code / 100))
            scratch.append(UInt8(ascii: "0") + UInt8(code / 10 % 10))
            scratch.append(UInt8(ascii: "0") + UInt8(code % 10))
            ranges.append((0, 7, 7, 3))
        }
        for (name, value) in headers {
            let nameStart = scratch.count
            scratch.append(contentsOf: name.utf8)
            let nameLength = scratch.count - nameStart
            if nameLength == 0 || Self.lowercaseIsConnectionSpecific(&scratch, from: nameStart) {
                scratch.removeLast(nameLength)
                continue
            }
            let valueStart = scratch.count
            scratch.append(contentsOf: value.utf8)
            ranges.append((nameStart, nameLength, valueStart, scratch.count - valueStart))
        }
        if ranges.isEmpty { return 0 }
        nva.reserveCapacity(ranges.count)
        return scratch.withUnsafeMutableBufferPointer { bytes -> Int32 in
            let base = bytes.baseAddress!
            for range in ranges {
                nva.append(
                    nghttp2_nv(
                        name: base + range.nameStart, value: base + range.valueStart,
                        namelen: range.nameLength, valuelen: range.valueLength,
                        flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
            }
            return nva.withUnsafeBufferPointer { fields in body(fields.baseAddress!, fields.count) }
        }
    }

    /// Lowercases the name that ends `scratch` (from `start`) in place and says whether it is a
    /// connection-specific field.
    private static func lowercaseIsConnectionSpecific(_ scratch: inout [UInt8], from start: Int) -> Bool {
        scratch.withUnsafeMutableBufferPointer { bytes in
            for index in start..<bytes.count where bytes[index] &- UInt8(ascii: "A") < 26 {
                bytes[index] |= 0x20
            }
        }
        return isConnectionSpecific(scratch[start...])
    }

    /// Hop-by-hop fields that HTTP/2 forbids (RFC 9113 §8.2.2), given a lowercased name.
    static func isConnectionSpecific(_ name: ArraySlice<UInt8>) -> Bool {
        switch name.count {
        case 2: return name.elementsEqual("te".utf8)
        case 7: return name.elementsEqual("upgrade".utf8)
        case 10: return name.elementsEqual("connection".utf8) || name.elementsEqual("keep-alive".utf8)
        case 16: return name.elementsEqual("proxy-connection".utf8)
        case 17: return name.elementsEqual("transfer-encoding".utf8)
        default: return false
        }
    }
}
