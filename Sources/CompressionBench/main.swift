import GatehouseCompression
import NIOCore

// compression-bench: how much CPU response compression costs Gatehouse, per core.
//
// Build and run:  swift build -c release --product compression-bench && .build/release/compression-bench
//
// Measures thread CPU time (not wall time, so other processes on a shared machine matter less)
// for two bodies: a 16 KiB OWA-like HTML page compressed as one response, and a 10 MiB EWS-like
// XML stream fed in 16 KiB chunks. Throughput is MB (10^6 bytes) of *input* per CPU second.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// CPU time consumed by the calling thread, in seconds.
func threadCPUSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// A small deterministic generator so every run compresses the same bytes.
struct Generator {
    var state: UInt64 = 0x2545_F491_4F6C_DD1D
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
    mutating func pick<T>(_ items: [T]) -> T { items[Int(next() % UInt64(items.count))] }
    /// Base64-looking text, like Exchange item ids (compresses poorly, as in real responses).
    mutating func id(length: Int) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        return String((0..<length).map { _ in alphabet[Int(next() % 64)] })
    }
}

let senders = [
    "Adele Vance", "Alex Wilber", "Diego Siciliani", "Grady Archie", "Isaiah Langer", "Lee Gu",
    "Lynne Robbins", "Megan Bowen", "Nestor Wilke", "Patti Fernandez", "Pradeep Gupta"
]
let subjects = [
    "Quarterly review", "Re: Budget draft", "Lunch on Friday?", "FW: Customer escalation",
    "Build status", "Meeting notes", "Travel itinerary", "Re: Re: Contract renewal", "Status report"
]

/// A 16 KiB page shaped like an OWA mail list: markup, inline style, script, varying rows.
func owaPage(size: Int) -> [UInt8] {
    var g = Generator()
    var html = """
        <!DOCTYPE html><html lang="en" dir="ltr"><head><meta charset="utf-8"><title>Mail - Outlook</title>
        <style>.ms-List-cell{display:flex;align-items:center}.itemRow{padding:4px 12px;border-bottom:1px solid #edebe9}
        .unread .subject{font-weight:600;color:#0078d4}.from{width:180px;overflow:hidden;text-overflow:ellipsis}</style>
        <script>window.owaConfig={"mailbox":"adelev@contoso.com","culture":"en-US","version":"15.2.1544.4"};</script>
        </head><body class="owa"><div id="app"><div role="list" class="ms-List" aria-label="Message list">

        """
    var row = 0
    while html.utf8.count < size {
        let unread = g.next() % 3 == 0 ? " unread" : ""
        html += """
            <div role="listitem" class="ms-List-cell itemRow\(unread)" data-convid="\(g.id(length: 40))" aria-posinset="\(row)">\
            <span class="from">\(g.pick(senders))</span><span class="subject">\(g.pick(subjects))</span>\
            <span class="preview">Hi team, please find the latest numbers attached (\(g.next() % 10_000)).</span>\
            <span class="date">\(1 + g.next() % 12)/\(1 + g.next() % 28)/2026 \(g.next() % 12 + 1):\(10 + g.next() % 50) PM</span></div>

            """
        row += 1
    }
    return Array(html.utf8.prefix(size))
}

/// An EWS FindItem-like XML stream of the given size.
func ewsXML(size: Int) -> [UInt8] {
    var g = Generator(state: 0x9E37_79B9_7F4A_7C15)
    var bytes: [UInt8] = []
    bytes.reserveCapacity(size + 1024)
    bytes += Array(
        """
        <?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>\
        <m:FindItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" \
        xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages>\
        <m:FindItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:RootFolder><t:Items>

        """.utf8)
    while bytes.count < size {
        let item = """
            <t:Message><t:ItemId Id="AAMkAD\(g.id(length: 140))" ChangeKey="CQAAABYAAA\(g.id(length: 30))"/>\
            <t:Subject>\(g.pick(subjects))</t:Subject><t:Sensitivity>Normal</t:Sensitivity>\
            <t:DateTimeReceived>2026-\(10 + g.next() % 3)-\(10 + g.next() % 18)T\(10 + g.next() % 13):\(10 + g.next() % 50):00Z</t:DateTimeReceived>\
            <t:Size>\(1000 + g.next() % 90_000)</t:Size><t:HasAttachments>\(g.next() % 4 == 0)</t:HasAttachments>\
            <t:From><t:Mailbox><t:Name>\(g.pick(senders))</t:Name><t:EmailAddress>user\(g.next() % 500)@contoso.com</t:EmailAddress>\
            <t:RoutingType>SMTP</t:RoutingType></t:Mailbox></t:From><t:IsRead>\(g.next() % 2 == 0)</t:IsRead></t:Message>

            """
        bytes += Array(item.utf8)
    }
    return Array(bytes.prefix(size))
}

/// One measurement: input bytes, output bytes and CPU seconds for `repetitions` runs.
struct Sample {
    var inputBytes: Int
    var outputBytes: Int
    var cpuSeconds: Double
    var repetitions: Int
    var megabytesPerSecond: Double { Double(inputBytes * repetitions) / cpuSeconds / 1e6 }
    var microsecondsPerRun: Double { cpuSeconds / Double(repetitions) * 1e6 }
    var ratio: Double { Double(outputBytes) / Double(inputBytes) }
}

/// Runs `body` enough times to take ~`target` CPU seconds, three times, keeping the fastest
/// round (the least disturbed by other work on the machine).
func measure(inputBytes: Int, target: Double = 0.6, _ body: () throws -> Int) rethrows -> Sample {
    let outputBytes = try body()  // warm-up, and the output size
    let start = threadCPUSeconds()
    var calibration = 0
    while threadCPUSeconds() - start < 0.05 {
        _ = try body()
        calibration += 1
    }
    let perRun = (threadCPUSeconds() - start) / Double(calibration)
    let repetitions = max(1, Int(target / perRun))
    var best = Double.infinity
    for _ in 0..<3 {
        let roundStart = threadCPUSeconds()
        for _ in 0..<repetitions { _ = try body() }
        best = min(best, threadCPUSeconds() - roundStart)
    }
    return Sample(inputBytes: inputBytes, outputBytes: outputBytes, cpuSeconds: best, repetitions: repetitions)
}

/// Compresses `input` as one response with `deflater` (reset first), returning the output size.
func compressResponse(_ input: ByteBuffer, with deflater: Deflater, into output: inout ByteBuffer) throws -> Int {
    try deflater.reset()
    output.clear()
    try deflater.compress(input, into: &output, flush: .finish)
    return output.readableBytes
}

/// Streams `chunks` through `deflater` (reset first) with `flush` per chunk, then finishes.
func compressStream(_ chunks: [ByteBuffer], with deflater: Deflater, flush: Deflater.Flush, into output: inout ByteBuffer) throws -> Int {
    try deflater.reset()
    var total = 0
    for chunk in chunks {
        output.clear()  // a proxy would hand each output chunk to the channel here
        try deflater.compress(chunk, into: &output, flush: flush)
        total += output.readableBytes
    }
    output.clear()
    try deflater.compress(ByteBuffer(), into: &output, flush: .finish)
    return total + output.readableBytes
}

/// One aligned table row; µs per response only for the single-response measurements.
func row(_ name: String, _ level: Int, _ sample: Sample, perResponse: Bool) -> String {
    // Foundation's String(format:) is avoided to keep this target's dependencies to NIOCore.
    func pad(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(0, width - text.count)) }
    func fixed(_ value: Double, _ digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        return "\(rounded)"
    }
    let cost = perResponse ? fixed(sample.microsecondsPerRun, 1) : "-"
    return pad(name, 44) + pad("\(level)", 7) + pad(fixed(sample.ratio, 3), 8) + pad(fixed(sample.megabytesPerSecond, 1), 10) + cost
}

let page = owaPage(size: 16 * 1024)
let pageBuffer = ByteBuffer(bytes: page)
let xml = ewsXML(size: 10 << 20)
let xmlChunks = stride(from: 0, to: xml.count, by: 16 * 1024).map { ByteBuffer(bytes: xml[$0..<min(xml.count, $0 + 16 * 1024)]) }

print("compression-bench: zlib \(ZlibLibrary.versionText), gzip, one thread; MB = 10^6 input bytes per CPU second")
print("ratio = compressed / original; µs = CPU per 16 KiB response")
print(String(repeating: "-", count: 76))
print("body                                        level  ratio   MB/s      µs/response")
do {
    for level in [1, 6] {
        let deflater = try Deflater(coding: .gzip, level: level)
        var output = ByteBuffer()
        output.reserveCapacity(64 * 1024)

        let reused = try measure(inputBytes: page.count) {
            try compressResponse(pageBuffer, with: deflater, into: &output)
        }
        print(row("OWA page 16 KiB, reused Deflater (reset)", level, reused, perResponse: true))

        let fresh = try measure(inputBytes: page.count) {
            let once = try Deflater(coding: .gzip, level: level)
            return try compressResponse(pageBuffer, with: once, into: &output)
        }
        print(row("OWA page 16 KiB, new Deflater per response", level, fresh, perResponse: true))

        let stream = try measure(inputBytes: xml.count, target: 1.0) {
            try compressStream(xmlChunks, with: deflater, flush: .none, into: &output)
        }
        print(row("EWS XML 10 MiB, 16 KiB chunks, no flush", level, stream, perResponse: false))

        let synced = try measure(inputBytes: xml.count, target: 1.0) {
            try compressStream(xmlChunks, with: deflater, flush: .sync, into: &output)
        }
        print(row("EWS XML 10 MiB, 16 KiB chunks, sync flush", level, synced, perResponse: false))
    }
} catch {
    print("compression-bench failed: \(error)")
    exit(1)
}
