/// The Gatehouse proxy: configuration, listeners, routing, proxying, backends, health, observability.
public enum GatehouseInfo {
    /// The product version, printed by `gatehouse version`.
    public static let version = "0.1.0"
}
