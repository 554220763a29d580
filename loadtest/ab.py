#!/usr/bin/env python3
"""Interleaved A/B of two Gatehouse builds: same mailbox-sim backend, same configuration, same load.

    python3 loadtest/ab.py BEFORE_GATEHOUSE AFTER_GATEHOUSE [--rounds 3] [--seconds 10]
    python3 loadtest/ab.py BEFORE_GATEHOUSE AFTER_GATEHOUSE --upload MIB [--rounds 5]

Each round runs BEFORE then AFTER: start it on free 127.0.0.1 ports in front of one mailbox-sim,
warm up for 2 s, then `wrk -t2 -c64` on GET /owa/healthcheck.htm over TLS, reading the proxy's
utime+stime from /proc before and after. Prints every round, the medians, and the ratio of CPU per
request AFTER/BEFORE. Use it whenever a change touches the data path (build the old commit in a
worktree with `make build-release-proxy`: the same flags as this one). Only processes it started are stopped.

With --upload MIB, each round instead POSTs MIB MiB of random bytes with curl (HTTP/1.1,
Content-Length) to /rpc/rpcproxy.dll, whose backend answers the body's SHA-256 (checked), and reports
the proxy's CPU for the upload (user and system time apart) per MiB.
"""
import argparse
import contextlib
import hashlib
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


@contextlib.contextmanager
def running_gatehouse(binary: str, sim, workdir: pathlib.Path, name: str):
    """`binary` serving the single-service configuration in front of `sim`; yields (port, pid)."""
    port, http_port, admin_port = conftest.free_port(), conftest.free_port(), conftest.free_port()
    config = workdir / f"ab-{name}.yaml"
    config.write_text(conftest.gatehouse_config(port, http_port, admin_port, [sim]))
    proc = subprocess.Popen([binary, "run", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conftest.wait_for_port(port, proc)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def measure(binary: str, sim, seconds: int, workdir: pathlib.Path, name: str):
    with running_gatehouse(binary, sim, workdir, name) as (port, pid):
        wrk(port, 2)  # warm-up: TLS sessions, backend pool
        before = cpu_seconds(pid)
        out = wrk(port, seconds)
        used = cpu_seconds(pid) - before
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    errors = (int(bad.group(1)) if bad else 0)
    return rps, used * 1e6 / requests, errors, socket_errors.group(1) if socket_errors else "none"


def upload(port: int, path: pathlib.Path, sha256: str) -> None:
    out = subprocess.run(
        ["curl", "-sS", "--http1.1", "--max-time", "300", "-k", "--resolve", f"mail.contoso.lab:{port}:127.0.0.1",
         "-X", "POST", "-T", str(path), "-H", "Expect:", "-H", "Content-Type: application/octet-stream",
         f"https://mail.contoso.lab:{port}/rpc/rpcproxy.dll"],
        capture_output=True, text=True, timeout=330)
    if out.returncode != 0 or sha256 not in out.stdout:
        raise SystemExit(f"upload through port {port} failed: {out.returncode} {out.stderr[-300:]} {out.stdout[-300:]}")


def cpu_split(pid: int):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def measure_upload(binary: str, sim, mib: int, workdir: pathlib.Path, name: str, body: pathlib.Path, sha256: str):
    with running_gatehouse(binary, sim, workdir, name) as (port, pid):
        upload(port, workdir / "ab-upload-1.bin", hashlib.sha256((workdir / "ab-upload-1.bin").read_bytes()).hexdigest())
        user0, system0 = cpu_split(pid)
        upload(port, body, sha256)
        user1, system1 = cpu_split(pid)
    return (user1 - user0) * 1000 / mib, (system1 - system0) * 1000 / mib


def main_upload(args, sim, workdir):
    body = workdir / f"ab-upload-{args.upload}.bin"
    for path, size in ((workdir / "ab-upload-1.bin", 1 << 20), (body, args.upload << 20)):
        if not path.exists() or path.stat().st_size != size:
            path.write_bytes(os.urandom(size))
    sha256 = hashlib.sha256(body.read_bytes()).hexdigest()
    results = {"before": [], "after": []}
    for index in range(args.rounds):
        for name, binary in (("before", args.before), ("after", args.after)):
            user, system = measure_upload(binary, sim, args.upload, workdir, name, body, sha256)
            results[name].append((user, system))
            print(f"round {index} {name}: {user + system:.2f} ms CPU per MiB uploaded "
                  f"(user {user:.2f}, system {system:.2f})", flush=True)
    medians = {}
    for name, rows in results.items():
        total = statistics.median(u + s for u, s in rows)
        medians[name] = total
        print(f"{name}: median {total:.2f} ms CPU per MiB (user {statistics.median(u for u, _ in rows):.2f}, "
              f"system {statistics.median(s for _, s in rows):.2f})")
    print(f"CPU per MiB uploaded after/before: {medians['after'] / medians['before']:.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--upload", type=int, metavar="MIB", help="measure CPU per MiB uploaded instead")
    args = parser.parse_args()
    release = ROOT / ".build" / "release"
    if (release / "mailbox-sim").exists() and (release / "gatehouse").exists():
        conftest.BIN = release   # a release simulator, so the backend is not the bottleneck
    conftest.require_binaries()
    workdir = ROOT / "loadtest" / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    sim = conftest.start_sim("mbx01")
    if args.upload:
        try:
            main_upload(args, sim, workdir)
        finally:
            sim.process.stop()
        return
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
