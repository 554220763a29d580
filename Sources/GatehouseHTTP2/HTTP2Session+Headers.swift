import CNGHTTP2
import NIOHTTP1

extension HTTP2Session {
    /// Builds an `nghttp2_nv` array for a response head or trailers and calls `body` with it.
    /// Names are lowercased and connection-specific fields dropped (RFC 9113 §8.2.2). Names and
    /// values are packed into one reused scratch array, so no per-header allocation happens; nghttp2
    /// copies them during the submit call (no NO_COPY flags), so the scratch can be reused at once.
    func withHeaderBlock(status: Int?, headers: HTTPHeaders, _ body: (UnsafePointer<nghttp2_nv>, Int) -> Int32) -> Int32 {
        headerScratch.removeAll(keepingCapacity: true)
        headerRanges.removeAll(keepingCapacity: true)
        if let status {
            let nameStart = headerScratch.count
            headerScratch.append(contentsOf: ":status".utf8)
            let valueStart = headerScratch.count
            let code = min(max(status, 100), 999)
            headerScratch.append(UInt8(ascii: "0") + UInt8(code / 100))
            headerScratch.append(UInt8(ascii: "0") + UInt8(code / 10 % 10))
            headerScratch.append(UInt8(ascii: "0") + UInt8(code % 10))
            headerRanges.append((nameStart, 7, valueStart, 3))
        }
        for (name, value) in headers {
            let nameStart = headerScratch.count
            for byte in name.utf8 {
                headerScratch.append(byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte)
            }
            let nameLength = headerScratch.count - nameStart
            if nameLength == 0 || Self.isConnectionSpecific(headerScratch[nameStart...]) {
                headerScratch.removeLast(nameLength)
                continue
            }
            let valueStart = headerScratch.count
            headerScratch.append(contentsOf: value.utf8)
            headerRanges.append((nameStart, nameLength, valueStart, headerScratch.count - valueStart))
        }
        if headerRanges.isEmpty { return 0 }
        return headerScratch.withUnsafeMutableBufferPointer { scratch -> Int32 in
            let base = scratch.baseAddress!
            nvScratch.removeAll(keepingCapacity: true)
            for range in headerRanges {
                nvScratch.append(
                    nghttp2_nv(
                        name: base + range.nameStart, value: base + range.valueStart,
                        namelen: range.nameLength, valuelen: range.valueLength,
                        flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
            }
            return nvScratch.withUnsafeBufferPointer { nva in body(nva.baseAddress!, nva.count) }
        }
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
