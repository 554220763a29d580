// compression-bench: measures GatehouseCompression throughput (filled in by the next commit).
print("compression-bench: not implemented yet")
