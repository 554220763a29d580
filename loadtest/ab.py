#!/usr/bin/env python3
"""Interleaved A/B of two Gatehouse builds: same mailbox-sim backend, same configuration, same load.

    python3 loadtest/ab.py BEFORE_GATEHOUSE AFTER_GATEHOUSE [--rounds 3] [--seconds 10]

Each round runs BEFORE then AFTER: start it on free 127.0.0.1 ports in front of one mailbox-sim,
warm up for 2 s, then `wrk -t2 -c64` on GET /owa/healthcheck.htm over TLS, reading the proxy's
utime+stime from /proc before and after. Prints every round, the medians, and the ratio of CPU per
request AFTER/BEFORE. Use it whenever a change touches the data path (build the old commit in a
worktree with `swift build -c release --product gatehouse`). Only processes it started are stopped.
"""
import argparse
import os
import pathlib
import re
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Tests" / "EndToEndTests"))
import conftest  # noqa: E402  (the end-to-end harness: free ports, simulator, configuration)


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(port: int, seconds: int) -> str:
    return subprocess.run(
        ["wrk", "-t2", "-c64", f"-d{seconds}s", "-H", "Host: mail.contoso.lab",
         f"https://127.0.0.1:{port}/owa/healthcheck.htm"],
        capture_output=True, text=True, timeout=seconds + 30).stdout


def measure(binary: str, sim, seconds: int, workdir: pathlib.Path, name: str):
    port, http_port, admin_port = conftest.free_port(), conftest.free_port(), conftest.free_port()
    config = workdir / f"ab-{name}.yaml"
    config.write_text(conftest.gatehouse_config(port, http_port, admin_port, [sim]))
    proc = subprocess.Popen([binary, "run", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conftest.wait_for_port(port, proc)
        wrk(port, 2)  # warm-up: TLS sessions, backend pool
        before = cpu_seconds(proc.pid)
        out = wrk(port, seconds)
        used = cpu_seconds(proc.pid) - before
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    errors = (int(bad.group(1)) if bad else 0)
    return rps, used * 1e6 / requests, errors, socket_errors.group(1) if socket_errors else "none"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    release = ROOT / ".build" / "release"
    if (release / "mailbox-sim").exists() and (release / "gatehouse").exists():
        conftest.BIN = release   # a release simulator, so the backend is not the bottleneck
    conftest.require_binaries()
    workdir = ROOT / "loadtest" / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    sim = conftest.start_sim("mbx01")
    results = {"before": [], "after": []}
    try:
        for index in range(args.rounds):
            for name, binary in (("before", args.before), ("after", args.after)):
                rps, micros, errors, socket_errors = measure(binary, sim, args.seconds, workdir, name)
                results[name].append((rps, micros))
                print(f"round {index} {name}: {rps:.0f} req/s, {micros:.1f} µs CPU/request, "
                      f"non-2xx {errors}, socket errors {socket_errors}", flush=True)
    finally:
        sim.process.stop()
    medians = {name: (statistics.median(r for r, _ in rows), statistics.median(u for _, u in rows))
               for name, rows in results.items()}
    for name, (rps, micros) in medians.items():
        print(f"{name}: median {rps:.0f} req/s, {micros:.1f} µs CPU/request")
    print(f"CPU per request after/before: {medians['after'][1] / medians['before'][1]:.2f}")


if __name__ == "__main__":
    main()
