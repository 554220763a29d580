import NIOHTTP1

extension RoutingTable {
    /// The deny rule of service `serviceIndex` that refuses this request, or nil: the service's
    /// switched-on rules evaluated with its admin networks (see `DenyRuleSet.firstViolation`).
    /// The proxy answers 403 and logs the rule's name.
    public func denial(
        serviceIndex: Int, method: HTTPMethod, target: CanonicalTarget, headers: HTTPHeaders, client: IPAddress
    ) -> DenyRule? {
        let service = services[serviceIndex]
        return service.denyRules.firstViolation(
            method: method, target: target, headers: headers, client: client, adminNetworks: service.adminNetworks)
    }
}
