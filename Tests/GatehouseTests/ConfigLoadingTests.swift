import Foundation
import Testing

@testable import Gatehouse

/// A valid file becomes the runtime model: defaults applied, presets expanded, paths resolved.
@Suite struct ConfigLoadingTests {
    @Test func minimalConfigurationGetsSafeDefaults() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let (config, warnings) = try fixture.load(ConfigFixture.minimal)
        #expect(warnings.isEmpty)

        #expect(config.listeners.count == 1)
        let listener = try #require(config.listeners.first)
        #expect(listener.name == "https")
        #expect(listener.address == SocketEndpoint(host: "127.0.0.1", port: 0))
        let tls = try #require(listener.tls)
        #expect(tls.minVersion == .tls12)
        #expect(tls.alpn == ["h2", "http/1.1"])
        #expect(tls.groups.first == "X25519")
        #expect(tls.handshakeTimeout == .seconds(10))
        #expect(tls.sessionTickets)
        #expect(!tls.strictSNI)
        #expect(!tls.ciphers.contains("RC4") && tls.ciphers.contains("ECDHE"))
        // The default certificate is the first one when none is named.
        #expect(tls.defaultCertificate == fixture.path("certs/mail.pem"))

        #expect(config.limits == ClientLimits())
        #expect(config.limits.maxHeaderLine == 64 * 1024)
        #expect(config.limits.maxHeaderTotal == 256 * 1024)
        #expect(config.limits.maxConnections == 20_000)
        #expect(config.limits.maxRedirectConnections == 1024)
        #expect(config.limits.clientHeaderTimeout == .seconds(30))
        #expect(config.limits.clientIdleTimeout == .seconds(120))

        let pool = try #require(config.pools["mailbox"])
        #expect(pool.balance == .leastRequests)
        #expect(pool.maxIdlePerServer == 64)
        #expect(pool.idleTimeout == .seconds(60))
        #expect(pool.connectTimeout == .seconds(5))
        #expect(pool.health == HealthCheckConfiguration(interval: .seconds(2), timeout: .seconds(1), rise: 2, fall: 3))
        #expect(pool.trust.systemStore == false)
        #expect(pool.servers.first?.weight == 1)
        #expect(pool.servers.first?.tlsName == "mbx01.contoso.lab")

        let service = try #require(config.services.first)
        #expect(service.denyRules == .all)
        #expect(service.adminNetworks.map(\.description) == ["127.0.0.0/8", "::1/128"])
        #expect(config.unknownHostStatus == .misdirected)
        #expect(config.admin == nil)
        #expect(config.sourcePath == fixture.path("conf/test.yaml"))
    }

    @Test func relativePathsResolveAgainstTheConfigurationFolder() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        // One relative path and one absolute path to the same kind of file.
        let yaml = ConfigFixture.minimal.replacingOccurrences(
            of: "certificates: [../certs/mbx01.pem]", with: "certificates: [../certs/mbx01.pem, \(fixture.path("certs/mbx02.pem"))]")
        let (config, _) = try fixture.load(yaml)
        let tls = try #require(config.listeners.first?.tls)
        #expect(tls.certificates == [CertificateKeyPair(certificate: fixture.path("certs/mail.pem"), key: fixture.path("certs/mail.key"))])
        #expect(config.pools["mailbox"]?.trust.certificates == [fixture.path("certs/mbx01.pem"), fixture.path("certs/mbx02.pem")])
        #expect(tls.certificates.allSatisfy { $0.certificate.hasPrefix("/") && !$0.certificate.contains("..") })
    }

    @Test func configurationPathWithDotSegmentsAnchorsRelativePaths() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        try fixture.write(ConfigFixture.minimal)
        // A relative configuration path: the certificate paths must still resolve against conf/.
        let (config, _) = try GatehouseConfiguration.parse(
            yaml: ConfigFixture.minimal, path: fixture.path("conf") + "/../conf/./test.yaml")
        #expect(config.listeners.first?.tls?.certificates.first?.certificate == fixture.path("certs/mail.pem"))
    }

    @Test func presetRoutesExpandToTheServiceDefaults() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let yaml = ConfigFixture.minimal.replacingOccurrences(
            of: "      - { preset: owa, pool: mailbox }",
            with: """
                      - { preset: owa, pool: mailbox }
                      - { preset: activesync, pool: mailbox }
                      - { preset: rpc, pool: mailbox }
                      - { preset: oab, pool: mailbox }
                      - { preset: ecp, pool: mailbox }
                      - { preset: powershell }
                      - { preset: ews, path: /ews-legacy/, pool: mailbox }
                """)
        let (config, _) = try fixture.load(yaml)
        let routes = try #require(config.services.first?.routes)
        #expect(routes.map(\.prefix) == ["/owa/", "/Microsoft-Server-ActiveSync", "/rpc/", "/OAB/", "/ecp/", "/powershell", "/ews-legacy/"])

        let activesync = routes[1]
        #expect(activesync.preset == .activesync)
        #expect(activesync.timeouts.idle == .seconds(3660))
        #expect(activesync.timeouts.header > .seconds(3540))
        #expect(activesync.maxBody == 100 * 1024 * 1024)
        #expect(activesync.compression.enabled)
        #expect(activesync.healthPath == "/Microsoft-Server-ActiveSync/healthcheck.htm")
        #expect(activesync.pool == "mailbox")

        let rpc = routes[2]
        #expect(rpc.maxBody == 2 * 1024 * 1024 * 1024)
        #expect(!rpc.compression.enabled)
        #expect(!routes[3].compression.enabled)  // OAB files are already compressed

        #expect(routes[4].adminOnly)
        #expect(!routes[0].adminOnly)

        let powershell = routes[5]
        #expect(powershell.blocked)
        #expect(powershell.pool == nil)
        #expect(powershell.healthPath == nil)

        // `preset` + `path`: the given path with the preset's defaults.
        let ews = routes[6]
        #expect(ews.preset == .ews)
        #expect(ews.timeouts == ExchangeService.ews.defaultTimeouts)
        #expect(ews.maxBody == ExchangeService.ews.defaultMaxBody)
        #expect(ews.healthPath == "/ews/healthcheck.htm")
    }

    @Test func routeOverridesReplacePresetDefaults() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let yaml = ConfigFixture.minimal.replacingOccurrences(
            of: "      - { preset: owa, pool: mailbox }",
            with: """
                      - preset: owa
                        pool: mailbox
                        timeouts: { connect: 250ms, header: 30s, idle: 5m, total: 1h }
                        max_body: 10MiB
                        compression: { enabled: false, level: 9, min_size: 2KiB, types: [text/html] }
                        affinity: anchor_mailbox
                        http2: false
                      - { path: /custom/, pool: mailbox }
                """)
        let (config, _) = try fixture.load(yaml)
        let routes = try #require(config.services.first?.routes)
        let owa = routes[0]
        #expect(
            owa.timeouts == RouteTimeouts(connect: .milliseconds(250), header: .seconds(30), idle: .seconds(300), total: .seconds(3600)))
        #expect(owa.maxBody == 10 * 1024 * 1024)
        #expect(owa.compression == CompressionSettings(enabled: false, level: 9, minSize: 2048, types: ["text/html"]))
        #expect(owa.affinity == .anchorMailbox)
        #expect(!owa.http2)
        #expect(owa.healthPath == "/owa/healthcheck.htm")

        // A plain path route gets the generic defaults and no health path.
        let custom = routes[1]
        #expect(custom.preset == nil)
        #expect(custom.timeouts == RouteTimeouts())
        #expect(custom.maxBody == 64 * 1024 * 1024)
        #expect(custom.healthPath == nil)
        #expect(custom.http2)
    }

    @Test func everySchemaKeyIsRead() throws {
        let fixture = try ConfigFixture()
        defer { fixture.remove() }
        let yaml = """
            listeners:
              - name: https
                address: "[::1]:8443"
                proxy_protocol: false
                tls:
                  certificates:
                    - { cert: ../certs/mail.pem, key: ../certs/mail.key }
                    - { cert: ../certs/rsa.pem, key: ../certs/rsa.key }
                  default_certificate: ../certs/rsa.pem
                  strict_sni: true
                  min_version: "1.3"
                  ciphers: "ECDHE+AESGCM"
                  cipher_suites: "TLS_AES_256_GCM_SHA384"
                  groups: [P-256]
                  alpn: [http/1.1]
                  handshake_timeout: 3s
                  session_tickets: false
              - name: http
                address: 127.0.0.1:8080
                redirect_to_https: 8443
            limits: { max_header_line: 16KiB, max_header_total: 32KiB, max_connections: 10, max_redirect_connections: 3, client_header_timeout: 5, client_idle_timeout: 1m, shutdown_grace: 7s }
            pools:
              mailbox:
                servers:
                  - { name: mbx01, address: mbx01.contoso.local:444, weight: 3 }
                trust: { certificates: [../certs/mbx01.pem], pin_sha256: ["AB:\(String(repeating: "cd", count: 31))"], system_store: true }
                balance: round_robin
                max_idle_per_server: 8
                idle_timeout: 30s
                connect_timeout: 2s
                health: { interval: 10s, timeout: 2s, rise: 1, fall: 5 }
            services:
              - name: contoso
                hosts: [Mail.Contoso.Lab, "[::1]", 127.0.0.1]
                redirect_root_to: /owa/
                admin_networks: [10.0.0.0/8]
                deny_rules: { ecp_admin_only: false, rps_cat: true }
                routes:
                  - { preset: owa, pool: mailbox }
            unknown_host: 404
            admin:
              address: 127.0.0.1:9090
            """
        let (config, _) = try fixture.load(yaml)
        let https = config.listeners[0]
        #expect(https.address == SocketEndpoint(host: "::1", port: 8443))
        #expect(https.address.description == "[::1]:8443")
        let tls = try #require(https.tls)
        #expect(tls.defaultCertificate == fixture.path("certs/rsa.pem"))
        #expect(tls.strictSNI && tls.minVersion == .tls13 && !tls.sessionTickets)
        #expect(tls.ciphers == "ECDHE+AESGCM" && tls.cipherSuites == "TLS_AES_256_GCM_SHA384")
        #expect(tls.groups == ["P-256"] && tls.alpn == ["http/1.1"] && tls.handshakeTimeout == .seconds(3))
        #expect(config.listeners[1].redirectToHTTPSPort == 8443)
        #expect(
            config.limits
                == ClientLimits(
                    maxHeaderLine: 16384, maxHeaderTotal: 32768, maxConnections: 10, clientHeaderTimeout: .seconds(5),
                    clientIdleTimeout: .seconds(60), maxRedirectConnections: 3, shutdownGrace: .seconds(7)))
        let pool = try #require(config.pools["mailbox"])
        #expect(
            pool.servers == [
                BackendServerConfiguration(
                    name: "mbx01", address: SocketEndpoint(host: "mbx01.contoso.local", port: 444), tlsName: "mbx01.contoso.local",
                    weight: 3)
            ])
        #expect(pool.trust.pinSHA256 == ["ab" + String(repeating: "cd", count: 31)])
        #expect(pool.trust.systemStore)
        #expect(pool.balance == .roundRobin && pool.maxIdlePerServer == 8)
        #expect(pool.idleTimeout == .seconds(30) && pool.connectTimeout == .seconds(2))
        #expect(pool.health == HealthCheckConfiguration(interval: .seconds(10), timeout: .seconds(2), rise: 1, fall: 5))
        let service = config.services[0]
        #expect(service.hosts == ["mail.contoso.lab", "[::1]", "127.0.0.1"])
        #expect(service.redirectRootTo == "/owa/")
        #expect(service.adminNetworks.map(\.description) == ["10.0.0.0/8"])
        #expect(!service.denyRules.contains(.ecpAdminOnly) && service.denyRules.contains(.rpsCAT))
        #expect(config.unknownHostStatus == .notFound)
        #expect(config.admin?.address == SocketEndpoint(host: "127.0.0.1", port: 9090))
    }

    @Test(arguments: [
        ("250ms", Duration.milliseconds(250)), ("10s", .seconds(10)), ("5m", .seconds(300)), ("1h", .seconds(3600)),
        ("42", .seconds(42))
    ])
    func durationsParse(text: String, expected: Duration) {
        #expect(ConfigDuration.parse(text) == expected)
    }

    @Test(arguments: ["", "10x", "1.5s", "-1s", "s", "10 s", "1h30m", "99999999999h"])
    func invalidDurationsAreRefused(text: String) {
        #expect(ConfigDuration.parse(text) == nil)
    }

    @Test func sizesParseInBinaryUnits() {
        #expect(ByteSize.parse("64KiB") == 65_536)
        #expect(ByteSize.parse("10MiB") == 10_485_760)
        #expect(ByteSize.parse("2GiB") == 2_147_483_648)
        #expect(ByteSize.parse("512B") == 512)
        #expect(ByteSize.parse("1024") == 1024)
        for bad in ["", "10MB", "1.5MiB", "KiB", "-1", "10 MiB", "99999999999999999999GiB"] {
            #expect(ByteSize.parse(bad) == nil, "\(bad)")
        }
        #expect(ByteSize.format(64 * 1024 * 1024) == "64MiB")
        #expect(ConfigDuration.format(.seconds(3660)) == "61m")
    }

    @Test func theShippedDemoConfigurationDecodes() throws {
        // Decoding and validation of conf/gatehouse.yaml against placeholder files laid out like certs-example/.
        let fixture = try ConfigFixture(files: [])
        defer { fixture.remove() }
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let demo = try String(contentsOf: repository.appendingPathComponent("conf/gatehouse.yaml"), encoding: .utf8)
        let certs = fixture.root.appendingPathComponent("certs-example")
        try FileManager.default.createDirectory(at: certs, withIntermediateDirectories: true)
        for name in ["mail-ecdsa", "mail-rsa", "wildcard", "mbx01", "mbx02"] {
            for ext in ["pem", "key"] { try Data("x".utf8).write(to: certs.appendingPathComponent("\(name).\(ext)")) }
        }
        // The demo loads the Microsoft mitigations pack from conf/screening/.
        let screening = fixture.root.appendingPathComponent("conf/screening")
        try FileManager.default.createDirectory(at: screening, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: repository.appendingPathComponent("conf/screening/exchange-mitigations.yaml"),
            to: screening.appendingPathComponent("exchange-mitigations.yaml"))
        let (config, warnings) = try GatehouseConfiguration.parse(yaml: demo, path: fixture.path("conf/gatehouse.yaml"))
        #expect(warnings.isEmpty)
        #expect(config.screening?.packs.map(\.name) == ["exchange-mitigations"])
        #expect(config.listeners.map(\.name) == ["https", "http", "passthrough"])
        #expect(config.listeners[2].passthrough?.routes.map(\.pool) == ["mailbox"])
        #expect(config.listeners[0].tls?.defaultCertificate == certs.appendingPathComponent("mail-rsa.pem").path)
        #expect(config.listeners[0].tls?.certificates.count == 3)
        #expect(config.listeners[1].redirectToHTTPSPort == 8443)
        #expect(config.pools["mailbox"]?.servers.map(\.tlsName) == ["mbx01.contoso.lab", "mbx02.contoso.lab"])
        let service = try #require(config.services.first)
        #expect(service.hosts == ["mail.contoso.lab", "autodiscover.contoso.lab"])
        let presets = Set(service.routes.compactMap(\.preset))
        #expect(presets == Set(ExchangeService.allCases))
        #expect(service.routes.first { $0.preset == .powershell }?.blocked == true)
        #expect(config.admin?.address.port == 9090)
        // Every service with a health check is probed on the mailbox pool; PowerShell and the API have none.
        let probes = config.healthPaths(forPool: "mailbox")
        #expect(probes.count == 8)
        #expect(probes.contains("/Microsoft-Server-ActiveSync/healthcheck.htm") && probes.contains("/owa/healthcheck.htm"))
        #expect(config.tlsListeners.map(\.name) == ["https"])
    }
}
