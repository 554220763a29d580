import Gatehouse
print("gatehouse \(GatehouseInfo.version)")
