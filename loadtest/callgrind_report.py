#!/usr/bin/env python3
"""The table, the comparison with the baseline and the baseline file for loadtest/callgrind.sh.

Reads the measurements callgrind.sh wrote (TSV: proxy, protocol, metric, value) and its settings
from the environment. MODE measure: prints the figures and the change against the baseline.
MODE check: the same for Gatehouse, and exits 1 when a figure grew by more than THRESHOLD percent.
MODE baseline: writes the figures to BASELINE (loadtest/baseline/callgrind.json).
"""
import datetime
import json
import os
import sys
import time

METRICS = [
    # (key in the TSV and JSON, label, the protocols or handshake kinds it is measured for)
    ("ir_per_request", "instructions/request", ("h1", "h2")),
    ("allocs_per_request", "allocations/request", ("h1", "h2")),
    ("ir_per_handshake", "instructions/connection", ("ecdsa", "rsa", "resumed")),
    ("allocs_per_handshake", "allocations/connection", ("ecdsa", "rsa", "resumed")),
]
CHECKED = {"ir_per_request", "allocs_per_request", "ir_per_handshake", "allocs_per_handshake"}


def load_results(path):
    figures = {}
    with open(path) as f:
        for line in f:
            proxy, proto, metric, value = line.rstrip("\n").split("\t")
            figures.setdefault(proxy, {}).setdefault(metric, {})[proto] = float(value)
    return figures


def fmt(value):
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 1000 else f"{value:,.1f}"


def main():
    env = os.environ
    mode = env["MODE"]
    threshold = float(env["THRESHOLD"])
    figures = load_results(env["RESULTS"])
    baseline = None
    if os.path.exists(env["BASELINE"]):
        with open(env["BASELINE"]) as f:
            baseline = json.load(f)
    elapsed = int(time.time()) - int(env["RUN_START"])

    def base(proxy, metric, proto):
        if not baseline:
            return None
        return baseline.get("figures", {}).get(proxy, {}).get(metric, {}).get(proto)

    def nginx_figure(metric, proto):
        value = figures.get("nginx", {}).get(metric, {}).get(proto)
        return value if value is not None else base("nginx", metric, proto)

    print()
    print(f"Per proxied request, steady state (N={env['N']} and {2 * int(env['N'])} under callgrind, "
          f"{env['ALLOC_N']} and {2 * int(env['ALLOC_N'])} for allocations), and per new TLS connection "
          f"with one request (N={env['HS_N']} and {2 * int(env['HS_N'])} under callgrind, five times as "
          f"many for allocations), commit {env['COMMIT']}:")
    if baseline:
        print(f"baseline: commit {baseline.get('commit')}, {baseline.get('date')}")
    header = f"{'':44} {'baseline':>12} {'now':>12} {'change':>8} {'nginx':>10} {'x nginx':>8}"
    print(header)
    print("-" * len(header))
    failures = []
    improvements = []
    for proxy in ("gatehouse", "nginx", "floor"):
        if proxy not in figures:
            continue
        for metric, label, protos in METRICS:
            for proto in protos:
                now = figures[proxy].get(metric, {}).get(proto)
                if now is None:
                    continue
                before = base(proxy, metric, proto)
                change = f"{(now / before - 1) * 100:+.1f} %" if before else "-"
                reference = nginx_figure(metric, proto) if proxy != "nginx" else None
                ratio = f"{now / reference:.2f}x" if reference else "-"
                name = f"{proxy} {label} {proto}"
                print(f"{name:44} {fmt(before):>12} {fmt(now):>12} {change:>8} {fmt(reference):>10} {ratio:>8}")
                if (proxy == "gatehouse" and metric in CHECKED and before
                        and now > before * (1 + threshold / 100)):
                    failures.append(f"{name}: {fmt(now)} against the baseline's {fmt(before)} "
                                    f"({(now / before - 1) * 100:+.1f} %, more than +{threshold:g} %)")
                if (proxy == "gatehouse" and metric in CHECKED and before
                        and now < before * (1 - threshold / 100)):
                    improvements.append(name)
    for proxy in ("gatehouse", "nginx"):
        ir = figures.get(proxy, {}).get("ir_per_connection", {})
        allocs = figures.get(proxy, {}).get("allocs_per_connection", {})
        if ir or allocs:
            print(f"({proxy}, per connection outside its requests (TLS handshake, set-up, tear-down; "
                  f"not checked): instructions h1 {fmt(ir.get('h1'))}, h2 {fmt(ir.get('h2'))}; "
                  f"allocations h1 {fmt(allocs.get('h1'))}, h2 {fmt(allocs.get('h2'))})")
    floor = figures.get("floor", {})
    if floor:
        # What SwiftNIO and OpenSSLHandler cost with no proxy logic at all (callgrind.sh, "NIO floor").
        parts = []
        for metric, what, proto in (("ir_per_request", "request", "h1"), ("ir_per_handshake", "connection", "ecdsa")):
            gatehouse = figures.get("gatehouse", {}).get(metric, {}).get(proto)
            least = floor.get(metric, {}).get(proto)
            if gatehouse and least:
                parts.append(f"{proto} {fmt(gatehouse - least)} instructions per {what} above it "
                             f"({gatehouse / least:.2f}x the floor)")
        if parts:
            print(f"(Gatehouse against the NIO floor: {'; '.join(parts)})")
    print(f"took {elapsed} s")

    result = {
        "commit": env["COMMIT"],
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "requests_callgrind": int(env["N"]),
        "requests_allocations": int(env["ALLOC_N"]),
        "connections_callgrind": int(env["HS_N"]),
        "valgrind": env.get("VALGRIND_VERSION", ""),
        "nginx": env.get("NGINX_VERSION", ""),
        "openssl": env.get("OPENSSL_VERSION", ""),
        "gatehouse": env.get("GATEHOUSE_VERSION", ""),
        "seconds": elapsed,
        "figures": {proxy: {metric: {proto: (round(v) if metric.startswith("ir") else v)
                                     for proto, v in by_proto.items()}
                            for metric, by_proto in by_metric.items()}
                    for proxy, by_metric in figures.items()},
    }
    with open(os.path.join(os.path.dirname(env["RESULTS"]), "result.json"), "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
        f.write("\n")

    if mode == "baseline":
        result["note"] = ("Written by `make bench-baseline` (loadtest/callgrind.sh baseline). "
                          "`make bench-check` fails when Gatehouse's instructions or allocations per "
                          "request exceed these by more than 10 %. See loadtest/README.md.")
        with open(env["BASELINE"], "w") as f:
            json.dump(result, f, indent=2, sort_keys=True)
            f.write("\n")
        print(f"baseline written: {env['BASELINE']}")
        return 0
    if mode == "check":
        if not baseline:
            print(f"FAIL: no baseline at {env['BASELINE']}: run make bench-baseline first", file=sys.stderr)
            return 1
        if failures:
            print(file=sys.stderr)
            print("FAIL: Gatehouse costs more per request than the committed baseline:", file=sys.stderr)
            for failure in failures:
                print(f"  - {failure}", file=sys.stderr)
            print("If the growth is intended, refresh the baseline (make bench-baseline) in the same "
                  "commit and say why.", file=sys.stderr)
            return 1
        print(f"OK: no figure grew by more than {threshold:g} % over the baseline")
    if improvements and mode != "baseline":
        print(f"note: {', '.join(improvements)} fell by more than {threshold:g} %: refresh the baseline "
              "(make bench-baseline) with this change, so that the next regression is measured from here")
    return 0


if __name__ == "__main__":
    sys.exit(main())
