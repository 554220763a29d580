import Testing

@testable import Gatehouse

/// The built-in catalogue of Exchange services holds the facts of shared/design/EXCHANGE.md.
@Suite struct ExchangeCatalogueTests {
    @Test func everyServiceHasItsPathPrefix() {
        let prefixes: [ExchangeService: String] = [
            .autodiscover: "/autodiscover/", .ews: "/EWS/", .activesync: "/Microsoft-Server-ActiveSync", .owa: "/owa/",
            .ecp: "/ecp/", .mapi: "/mapi/", .oab: "/OAB/", .rpc: "/rpc/", .powershell: "/powershell", .api: "/API/"
        ]
        #expect(prefixes.count == ExchangeService.allCases.count)
        for service in ExchangeService.allCases {
            #expect(service.pathPrefix == prefixes[service], "\(service)")
        }
        #expect(ExchangeService(rawValue: "activesync") == .activesync)
    }

    @Test func healthChecksUseTheVirtualDirectoryAndNeverTheRoot() {
        #expect(ExchangeService.owa.healthCheckPath == "/owa/healthcheck.htm")
        #expect(ExchangeService.ecp.healthCheckPath == "/ecp/healthcheck.htm")
        #expect(ExchangeService.rpc.healthCheckPath == "/rpc/healthcheck.htm")
        #expect(ExchangeService.mapi.healthCheckPath == "/mapi/healthcheck.htm")
        #expect(ExchangeService.ews.healthCheckPath == "/ews/healthcheck.htm")
        #expect(ExchangeService.oab.healthCheckPath == "/oab/healthcheck.htm")
        #expect(ExchangeService.autodiscover.healthCheckPath == "/autodiscover/healthcheck.htm")
        #expect(ExchangeService.activesync.healthCheckPath == "/Microsoft-Server-ActiveSync/healthcheck.htm")
        #expect(ExchangeService.powershell.healthCheckPath == nil)
        #expect(ExchangeService.api.healthCheckPath == nil)
        // Each health path lies under its own service's prefix, so a probe tests that service.
        for service in ExchangeService.allCases {
            if let path = service.healthCheckPath {
                #expect(ExchangeService.matching(path: path) == service, "\(service)")
            }
        }
    }

    @Test func longPollServicesOutlastTheirHolds() {
        // ActiveSync Ping: up to 3540 s without a byte.
        #expect(ExchangeService.activesync.defaultTimeouts.idle == .seconds(3660))
        #expect(ExchangeService.activesync.defaultTimeouts.header > .seconds(3540))
        #expect(ExchangeService.mapi.defaultTimeouts.idle >= .seconds(600))
        #expect(ExchangeService.ews.defaultTimeouts.idle >= .seconds(600))
        for service in [ExchangeService.owa, .ecp, .autodiscover, .oab, .api] {
            #expect(service.defaultTimeouts.idle == .seconds(120), "\(service)")
        }
        #expect(ExchangeService.allCases.allSatisfy { $0.defaultTimeouts.total == nil })
    }

    @Test func bodyLimitsFitEachProtocol() {
        #expect(ExchangeService.rpc.defaultMaxBody == 2 * 1024 * 1024 * 1024)
        #expect(ExchangeService.activesync.defaultMaxBody == 100 * 1024 * 1024)
        #expect(ExchangeService.ews.defaultMaxBody == 100 * 1024 * 1024)
        for service in [ExchangeService.owa, .ecp, .mapi, .oab, .autodiscover, .api] {
            #expect(service.defaultMaxBody == 64 * 1024 * 1024, "\(service)")
        }
    }

    @Test func compressionIsOffForBinaryAndStreamedServices() {
        for service in [ExchangeService.owa, .ews, .autodiscover, .ecp, .activesync] {
            #expect(service.compressesByDefault, "\(service)")
            #expect(service.defaultCompression.enabled)
        }
        for service in [ExchangeService.oab, .rpc, .mapi] {
            #expect(!service.compressesByDefault, "\(service)")
        }
        #expect(ExchangeService.activesync.defaultCompression.types.contains("application/vnd.ms-sync.wbxml"))
    }

    @Test func edgePoliciesBlockPowerShellAndGuardTheAdminCentre() {
        #expect(ExchangeService.allCases.filter(\.blockedByDefault) == [.powershell])
        #expect(ExchangeService.allCases.filter(\.isAdminOnly) == [.ecp])
        #expect(!ExchangeService.rpc.allowsHTTP2ByDefault)
        #expect(ExchangeService.owa.allowsHTTP2ByDefault)
    }

    @Test func affinityHeadersPassThrough() {
        #expect(ExchangeService.affinityHeaders == ["X-AnchorMailbox", "X-PreferServerAffinity", "X-BackEndOverrideCookie"])
        #expect(ExchangeService.ews.affinityHeaders.contains("X-AnchorMailbox"))
    }

    @Test func pathsMatchCaseInsensitivelyOnSegmentBoundaries() {
        #expect(ExchangeService.matching(path: "/ews/Exchange.asmx") == .ews)
        #expect(ExchangeService.matching(path: "/EWS") == .ews)
        #expect(ExchangeService.matching(path: "/microsoft-server-activesync?Cmd=Ping") == nil)  // query is not part of a path
        #expect(ExchangeService.matching(path: "/Microsoft-Server-ActiveSync") == .activesync)
        #expect(ExchangeService.matching(path: "/microsoft-server-activesync/default.eas") == .activesync)
        #expect(ExchangeService.matching(path: "/Microsoft-Server-ActiveSyncX") == nil)
        #expect(ExchangeService.matching(path: "/PowerShell/") == .powershell)
        #expect(ExchangeService.matching(path: "/oab/guid/oab.xml") == .oab)
        #expect(ExchangeService.matching(path: "/owax/") == nil)
        #expect(ExchangeService.matching(path: "/") == nil)
    }

    @Test func presetRoutesCarryTheCatalogueValues() {
        for service in ExchangeService.allCases {
            let route = RouteConfiguration(preset: service, pool: "p")
            #expect(route.prefix == service.pathPrefix)
            #expect(route.timeouts == service.defaultTimeouts)
            #expect(route.maxBody == service.defaultMaxBody)
            #expect(route.compression.enabled == service.compressesByDefault)
            #expect(route.blocked == service.blockedByDefault)
            #expect(route.adminOnly == service.isAdminOnly)
            #expect(route.healthPath == service.healthCheckPath)
        }
    }
}
