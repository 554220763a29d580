import Foundation
import Testing

@testable import Gatehouse

/// DeviceId and DeviceType from both forms of the ActiveSync query (MS-ASHTTP 2.2.1.1.1).
@Suite struct ActiveSyncDeviceTests {
    @Test func plainQuery() {
        let device = ActiveSyncDevice.parse(uri: "/Microsoft-Server-ActiveSync?Cmd=Sync&User=alice&DeviceId=ABC123&DeviceType=iPhone")
        #expect(device == ActiveSyncDevice(id: "ABC123", type: "iPhone"))
    }

    @Test func namesAndPathAreCaseInsensitive() {
        let device = ActiveSyncDevice.parse(uri: "/microsoft-server-activesync/default.eas?deviceid=X1&DEVICETYPE=Android")
        #expect(device == ActiveSyncDevice(id: "X1", type: "Android"))
    }

    @Test func otherPathsAndQueriesWithoutADeviceGiveNothing() {
        #expect(ActiveSyncDevice.parse(uri: "/owa/?DeviceId=ABC") == nil)
        #expect(ActiveSyncDevice.parse(uri: "/Microsoft-Server-ActiveSync") == nil)
        #expect(ActiveSyncDevice.parse(uri: "/Microsoft-Server-ActiveSync?Cmd=Ping&User=a") == nil)
    }

    /// The base64 form: version 141, command 0 (Sync), locale 0x0409, a 16-byte device id, a
    /// 4-byte policy key, device type "WP8", then command parameters.
    @Test func base64Query() {
        let id: [UInt8] = [0x6D, 0x6C, 0x40, 0xB6, 0x9B, 0x4B, 0x0E, 0x28, 0x58, 0x16, 0xE1, 0xE9, 0x19, 0x4A, 0x12, 0x56]
        var bytes: [UInt8] = [141, 0, 0x09, 0x04, UInt8(id.count)] + id + [4, 1, 2, 3, 4]
        bytes += [3] + Array("WP8".utf8) + [7, 4] + Array("test".utf8)
        let query = Data(bytes).base64EncodedString()
        let device = ActiveSyncDevice.parse(uri: "/Microsoft-Server-ActiveSync?" + query)
        #expect(device == ActiveSyncDevice(id: "6D6C40B69B4B0E285816E1E9194A1256", type: "WP8"))
        // The same, percent-encoded as some clients send it.
        let encoded = query.replacingOccurrences(of: "=", with: "%3D").replacingOccurrences(of: "+", with: "%2B")
            .replacingOccurrences(of: "/", with: "%2F")
        #expect(ActiveSyncDevice.parse(uri: "/Microsoft-Server-ActiveSync?" + encoded) == device)
        // A printable device id is shown as text.
        let printable: [UInt8] = [141, 0, 0x09, 0x04, 6] + Array("PHONE1".utf8) + [0, 7] + Array("Android".utf8)
        #expect(
            ActiveSyncDevice.parse(uri: "/Microsoft-Server-ActiveSync?" + Data(printable).base64EncodedString())
                == ActiveSyncDevice(id: "PHONE1", type: "Android"))
    }

    @Test func truncatedOrOversizedBase64GivesNothing() {
        let truncated: [UInt8] = [141, 0, 0x09, 0x04, 16, 1, 2, 3]
        #expect(ActiveSyncDevice.parse(uri: "/Microsoft-Server-ActiveSync?" + Data(truncated).base64EncodedString()) == nil)
        let long = "/Microsoft-Server-ActiveSync?DeviceId=" + String(repeating: "A", count: 5000)
        #expect(ActiveSyncDevice.parse(uri: long) == nil)
    }
}
