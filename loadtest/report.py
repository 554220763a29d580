#!/usr/bin/env python3
"""Turns loadtest/run.sh's measurements into a Markdown report and a gnuplot chart.

usage: report.py RESULTS_TSV META_FILE OUT_BASENAME
  RESULTS_TSV   lines "scenario<TAB>proxy<TAB>run<TAB>metric<TAB>value" (run.sh's `record`)
  META_FILE     "key=value" lines about the machine, versions and parameters
  OUT_BASENAME  writes OUT_BASENAME.md, OUT_BASENAME.dat, OUT_BASENAME.gp and (via gnuplot) .png
"""
import os
import statistics
import subprocess
import sys
from collections import defaultdict

PROXIES = ["nginx", "haproxy", "gatehouse"]
TITLES = {"nginx": "nginx", "haproxy": "HAProxy", "gatehouse": "Gatehouse"}

# (scenario, metric, label, chart label, higher_is_better, format)
ROWS = [
    ("h1", "rps", "1. HTTP/1.1 keep-alive (wrk -t2 -c64): req/s", "h1 req/s", True, "{:.0f}"),
    ("h1", "p50_ms", "1. HTTP/1.1 keep-alive: p50 latency, ms", "h1 p50", False, "{:.2f}"),
    ("h1", "p99_ms", "1. HTTP/1.1 keep-alive: p99 latency, ms", "h1 p99", False, "{:.2f}"),
    ("h1", "cpu_us", "1. HTTP/1.1 keep-alive: proxy CPU µs/request", "h1 CPU/req", False, "{:.1f}"),
    ("h2", "rps", "2. HTTP/2 (h2load -c64 -m10): req/s", "h2 req/s", True, "{:.0f}"),
    ("h2", "cpu_us", "2. HTTP/2: proxy CPU µs/request", "h2 CPU/req", False, "{:.1f}"),
    ("tls_ecdsa", "rps", "3. new TLS 1.3 connection/request, ECDSA: conn/s", "ECDSA conn/s", True, "{:.0f}"),
    ("tls_ecdsa", "cpu_us", "3. full handshake ECDSA: proxy CPU µs/connection", "ECDSA CPU/conn", False, "{:.0f}"),
    ("tls_ecdsa", "backend_cpu_us", "3. full handshake ECDSA: backend CPU µs/client connection", "ECDSA backend CPU/conn", False, "{:.0f}"),
    ("tls_ecdsa", "backend_conns", "3. full handshake ECDSA: new backend connections/client connection", "ECDSA backend conns/conn", False, "{:.3f}"),
    ("tls_rsa", "rps", "3. new TLS 1.3 connection/request, RSA-2048: conn/s", "RSA conn/s", True, "{:.0f}"),
    ("tls_rsa", "cpu_us", "3. full handshake RSA-2048: proxy CPU µs/connection", "RSA CPU/conn", False, "{:.0f}"),
    ("tls_rsa", "backend_cpu_us", "3. full handshake RSA-2048: backend CPU µs/client connection", "RSA backend CPU/conn", False, "{:.0f}"),
    ("tls_rsa", "backend_conns", "3. full handshake RSA-2048: new backend connections/client connection", "RSA backend conns/conn", False, "{:.3f}"),
    ("tls_resumed", "rps", "3. resumed TLS 1.3 connection/request: conn/s", "resumed conn/s", True, "{:.0f}"),
    ("tls_resumed", "cpu_us", "3. resumed handshake: proxy CPU µs/connection", "resumed CPU/conn", False, "{:.0f}"),
    ("tls_resumed", "backend_cpu_us", "3. resumed handshake: backend CPU µs/client connection", "resumed backend CPU/conn", False, "{:.0f}"),
    ("tls_resumed", "backend_conns", "3. resumed handshake: new backend connections/client connection", "resumed backend conns/conn", False, "{:.3f}"),
    ("download", "mbps", "4. 100 MiB download, MB/s", "download MB/s", True, "{:.0f}"),
    ("download", "cpu_ms", "4. 100 MiB download: proxy CPU ms", "download CPU", False, "{:.0f}"),
    ("upload", "mbps", "4. 100 MiB upload, MB/s", "upload MB/s", True, "{:.0f}"),
    ("upload", "cpu_ms", "4. 100 MiB upload: proxy CPU ms", "upload CPU", False, "{:.0f}"),
    ("idle", "kib_per_conn", "5. idle keep-alive TLS connections: RSS KiB/connection", "idle RSS/conn", False, "{:.1f}"),
    ("idle", "cpu_us", "5. idle connections: proxy CPU µs to set one up", "idle CPU/conn", False, "{:.0f}"),
    ("longpoll", "rps", "6. keep-alive req/s beside held long polls", "long polls: req/s", True, "{:.0f}"),
    ("longpoll", "p99_ms", "6. p99 latency beside held long polls, ms", "long polls: p99", False, "{:.2f}"),
    ("longpoll", "cpu_us", "6. long polls + load: proxy CPU µs/request", "long polls: CPU/req", False, "{:.1f}"),
]
THROUGHPUT = {"rps", "mbps"}
SCENARIO_NAMES = {
    "h1": "1. HTTP/1.1 keep-alive", "h2": "2. HTTP/2", "tls_ecdsa": "3. full TLS handshakes, ECDSA",
    "tls_rsa": "3. full TLS handshakes, RSA", "tls_resumed": "3. resumed TLS handshakes",
    "download": "4. 100 MiB download", "upload": "4. 100 MiB upload", "idle": "5. idle TLS connections",
    "longpoll": "6. long polls + keep-alive load",
}


def load(path):
    runs = defaultdict(list)       # (scenario, proxy, metric) -> [values]
    na = set()                     # (scenario, proxy) that were not available
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 5:
                continue
            scenario, proxy, _run, metric, value = parts
            if metric == "not_available":
                na.add((scenario, proxy))
                continue
            try:
                runs[(scenario, proxy, metric)].append(float(value))
            except ValueError:
                pass
    return runs, na


def collapses(runs):
    """Runs whose throughput is zero or below 30 % of the same proxy's median in that scenario."""
    found = []
    for (scenario, proxy, metric), values in sorted(runs.items()):
        if metric not in THROUGHPUT:
            continue
        mid = statistics.median(values)
        for index, value in enumerate(values, 1):
            if value <= 0 or (len(values) > 1 and value < 0.3 * mid):
                found.append(f"{SCENARIO_NAMES.get(scenario, scenario)} / {TITLES[proxy]} run {index}: "
                             f"{value:g} against a median of {mid:g}")
    return found


def crashed(meta):
    """True when the run's problem log mentions a crashed proxy."""
    path = meta.get("loud_log")
    if not path or not os.path.exists(path):
        return False
    with open(path) as f:
        return any("CRASHED" in line for line in f)


def main():
    tsv, meta_path, out = sys.argv[1:4]
    runs, na = load(tsv)
    meta = {}
    with open(meta_path) as f:
        for line in f:
            if "=" in line:
                key, value = line.rstrip("\n").split("=", 1)
                meta[key] = value

    table = []
    behind = []   # (factor, label, scenario): how many times worse Gatehouse is than the best other
    chart = []    # (label, [relative to best of three for each proxy])
    for scenario, metric, label, short, higher, fmt in ROWS:
        medians = {}
        for proxy in PROXIES:
            values = runs.get((scenario, proxy, metric))
            medians[proxy] = statistics.median(values) if values else None
        if all(v is None for v in medians.values()) and not any((scenario, p) in na for p in PROXIES):
            continue
        cells = []
        for proxy in PROXIES:
            if (scenario, proxy) in na:
                cells.append("not available")
            elif medians[proxy] is None:
                cells.append("–")
            else:
                cells.append(fmt.format(medians[proxy]))
        others = [medians[p] for p in ("nginx", "haproxy") if medians[p] is not None]
        gh = medians["gatehouse"]
        ratio = verdict = "–"
        if others and gh is not None:
            best = max(others) if higher else min(others)
            if best > 0 and gh > 0:
                ratio = f"{gh / best:.2f}"
                factor = best / gh if higher else gh / best
                verdict = "ahead" if factor < 0.97 else ("even" if factor <= 1.03 else f"behind ×{factor:.2f}")
                behind.append((factor, label, scenario))
        elif (scenario, "gatehouse") in na:
            ratio, verdict = "–", "not available"
        table.append(f"| {label} | " + " | ".join(cells) + f" | {ratio} | {verdict} |")
        present = [v for v in medians.values() if v is not None and v > 0]
        if present:
            best3 = max(present) if higher else min(present)
            rel = []
            for proxy in PROXIES:
                v = medians[proxy]
                rel.append(0.0 if not v else (v / best3 if higher else best3 / v))
            chart.append((short, rel))

    errors = []
    any_errors = False
    for scenario in SCENARIO_NAMES:
        cells = []
        seen = False
        for proxy in PROXIES:
            if (scenario, proxy) in na:
                cells.append("n/a")
                continue
            values = runs.get((scenario, proxy, "errors"))
            if values is None:
                cells.append("–")
                continue
            seen = True
            total = int(sum(values))
            any_errors |= total > 0
            cells.append(f"**{total}**" if total else "0")
        if seen:
            errors.append(f"| {SCENARIO_NAMES[scenario]} | " + " | ".join(cells) + " |")
    collapsed = collapses(runs)
    for collapse in collapsed:   # loudly on the console too, not only in the report
        print(f"*** THROUGHPUT COLLAPSE: {collapse}", file=sys.stderr)

    lines = []
    quick = meta.get("quick") == "1"
    lines.append(f"# Gatehouse vs nginx vs HAProxy — {meta.get('date', '')}{' (QUICK subset)' if quick else ''}")
    lines.append("")
    if any_errors or collapsed or crashed(meta):
        lines.append("> **WARNING: this run had errors or throughput collapses; see “Errors” below. "
                     "Numbers from a run with errors are not comparable.**")
    if crashed(meta):
        lines.append("")
        lines.append("> **A PROXY CRASHED during this run; see “Problems reported during the run”.**")
        lines.append("")
    lines.append(f"Made by `make bench{' QUICK=1' if quick else ''}` (loadtest/run.sh). Each cell is the median "
                 f"of {meta.get('reps', '?')} interleaved runs (nginx, HAProxy, Gatehouse, nginx, ...; "
                 f"{meta.get('reps_heavy', '?')} for scenarios 5 and 6), {meta.get('duration', '?')} s each. "
                 "Ratio = Gatehouse / best of nginx and HAProxy; the verdict says which way is better for the row.")
    lines.append("")
    lines.append("![chart](" + os.path.basename(out) + ".png)")
    lines.append("")
    lines.append("| scenario | nginx | HAProxy | Gatehouse | ratio | Gatehouse is |")
    lines.append("|---|---:|---:|---:|---:|---|")
    lines.extend(table)
    lines.append("")
    lines.append("## Errors (all runs summed; any timeout, failed request, wrong status or short body)")
    lines.append("")
    lines.append("| scenario | nginx | HAProxy | Gatehouse |")
    lines.append("|---|---:|---:|---:|")
    lines.extend(errors)
    lines.append("")
    if collapsed:
        lines.append("**Throughput collapses** (a run below 30 % of the same proxy's median, or zero):")
        lines.append("")
        lines.extend(f"- {c}" for c in collapsed)
        lines.append("")
    if behind:
        lines.append("## Where Gatehouse is furthest behind the best anchor (the three worst scenarios)")
        lines.append("")
        shown = set()
        for factor, label, scenario in sorted(behind, reverse=True):
            if scenario in shown or len(shown) == 3:
                continue
            shown.add(scenario)
            lines.append(f"- {label}: ×{factor:.2f} worse than the best of nginx/HAProxy")
        lines.append("")
    problems = []
    if meta.get("loud_log") and os.path.exists(meta["loud_log"]):
        with open(meta["loud_log"]) as f:
            problems = [line.rstrip("\n") for line in f if line.strip()]
    if problems:
        lines.append("## Problems reported during the run")
        lines.append("")
        lines.extend(f"- `{p[:400]}`" for p in problems[:40])
        lines.append("")
    lines.append("## Machine and versions")
    lines.append("")
    for key in ("machine", "cpu", "memory", "kernel", "load_before", "load_after", "nginx", "haproxy",
                "gatehouse", "openssl", "wrk", "h2load", "python", "commit"):
        if key in meta:
            lines.append(f"- {key.replace('_', ' ')}: `{meta[key]}`")
    lines.append("")
    lines.append("## Method")
    lines.append("")
    lines.append(meta.get("method", "").replace("\\n", "\n"))
    lines.append("")
    with open(out + ".md", "w") as f:
        f.write("\n".join(lines))

    # Chart: for each row, each proxy relative to the best of the three (1 = best; higher is better).
    with open(out + ".dat", "w") as f:
        f.write("# label nginx haproxy gatehouse\n")
        for label, rel in chart:
            short = label.replace('"', "'")
            f.write(f"\"{short}\" " + " ".join(f"{v:.3f}" for v in rel) + "\n")
    height = 560
    with open(out + ".gp", "w") as f:
        f.write(f"""set terminal pngcairo size {max(900, 70 * len(chart) + 150)},{height} font ",10"
set output "{out}.png"
set title "Gatehouse vs nginx vs HAProxy: each proxy relative to the best of the three (1.0 = best; longer is better)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0:1.1]
set grid y
set key outside top center horizontal samplen 2 spacing 1 width 2
set xtics rotate by -30 left font ",9"
set bmargin 8
set rmargin 8
set ylabel "relative to the best (1.0)"
plot "{out}.dat" using 2:xtic(1) title "nginx" lc rgb "#2e8b57", \\
     "" using 3 title "HAProxy" lc rgb "#4169e1", \\
     "" using 4 title "Gatehouse" lc rgb "#ff8c00"
""")
    result = subprocess.run(["gnuplot", out + ".gp"], capture_output=True, text=True)
    if result.returncode != 0:
        print("report.py: gnuplot failed: " + result.stderr, file=sys.stderr)
        return 1
    print(out + ".md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
