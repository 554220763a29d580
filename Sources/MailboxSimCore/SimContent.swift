/// The fixed bodies the simulator serves, shaped like what an Exchange back end sends.
enum SimContent {
    /// The OWA start page: about 20 KiB of repetitive HTML, as compressible as the real one
    /// (compression tests need a text/html body worth compressing).
    static func owaPage(configuration: SimConfiguration) -> String {
        var html = """
            <!DOCTYPE html>
            <html dir="ltr" lang="en"><head><meta charset="utf-8">
            <meta name="robots" content="noindex, nofollow"><title>Outlook</title>
            <link rel="shortcut icon" href="/owa/auth/15.2.1544/themes/resources/favicon.ico" type="image/x-icon">
            <style>body{margin:0;font-family:'Segoe UI','Segoe WP',Tahoma,Arial,sans-serif;background:#fff;color:#333}
            .signInHeader{font-size:28px;font-weight:lighter;margin:20px 0}.row{display:flex;padding:6px 12px}
            .folder{width:220px;padding:4px 12px;color:#0072c6}.item{flex:1;border-bottom:1px solid #eaeaea}</style>
            </head><body><div id="owaMain" data-server="\(configuration.name)" data-fqdn="\(configuration.fqdn)">
            <div class="signInHeader">Outlook on the web</div><div id="mailList">

            """
        var index = 0
        while html.utf8.count < 20 * 1024 - 200 {
            index += 1
            html += """
                <div class="row" data-item="\(index)"><div class="folder">Inbox</div><div class="item">\
                <span class="from">Contoso Administrator</span><span class="subject">Weekly status report \(index)</span>\
                <span class="preview">Please find the weekly status report attached.</span></div></div>

                """
        }
        html += "</div></div><script>var owaServer='\(configuration.fqdn)';</script></body></html>\n"
        return html
    }

    /// The OAB manifest (`oab.xml`) listing one full download of `size` bytes.
    static func oabManifest(guid: String, size: UInt64) -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <OAB>
          <OAL id="\(guid)" dn="/" name="\\Default Global Address List">
            <Full seq="1" ver="32" size="\(size)" uncompressedsize="\(size)" SHA="">\(guid)-data-1.lzx</Full>
          </OAL>
        </OAB>

        """
    }

    /// An ActiveSync Ping response in WBXML: `<Ping><Status>1</Status></Ping>` (heartbeat expired, no changes).
    static let pingResponse: [UInt8] = [
        0x03, 0x01, 0x6A, 0x00,  // WBXML 1.3, unknown public id, UTF-8, empty string table
        0x00, 0x0D,  // switch to code page 13 (Ping)
        0x45,  // <Ping> with content
        0x47, 0x03, 0x31, 0x00, 0x01,  // <Status>"1"</Status>
        0x01  // </Ping>
    ]

    /// A small body for a GET that has no special meaning in `service`.
    static func generic(_ service: SimService, configuration: SimConfiguration) -> (contentType: String, body: String) {
        switch service {
        case .autodiscover:
            (
                "application/json; charset=utf-8",
                SimJSON.object([
                    ("Protocol", SimJSON.string("AutodiscoverV1")),
                    ("Url", SimJSON.string("https://\(configuration.fqdn)/autodiscover/autodiscover.xml"))
                ])
            )
        case .ews:
            (
                "text/xml; charset=utf-8",
                "<?xml version=\"1.0\" encoding=\"utf-8\"?><ServerVersionInfo Server=\"\(configuration.fqdn)\" MajorVersion=\"15\" MinorVersion=\"2\"/>\n"
            )
        case .activesync:
            ("text/html", "<html><body>Microsoft-Server-ActiveSync on \(configuration.fqdn)</body></html>\n")
        case .mapi:
            (
                "text/html",
                "<html><body><h2>Exchange MAPI/HTTP Connectivity Endpoint</h2><p>Version: 15.2.1544.4</p><p>Vdir Path: /mapi/</p></body></html>\n"
            )
        case .oab:
            ("text/html", "<html><body>Offline Address Book on \(configuration.fqdn)</body></html>\n")
        case .rpc:
            ("text/html", "<html><body>RPC over HTTP on \(configuration.fqdn)</body></html>\n")
        case .powershell:
            ("text/plain", "Windows PowerShell remoting endpoint on \(configuration.fqdn)\n")
        case .api:
            (
                "application/json; charset=utf-8",
                SimJSON.object([("server", SimJSON.string(configuration.fqdn)), ("api", SimJSON.string("v2.0"))])
            )
        case .owa, .ecp:
            (
                "text/html; charset=utf-8",
                "<!DOCTYPE html><html><head><title>\(service.virtualDirectory)</title></head><body>\(service.virtualDirectory) on \(configuration.fqdn)</body></html>\n"
            )
        }
    }
}
