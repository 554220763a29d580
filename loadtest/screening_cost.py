#!/usr/bin/env python3
"""What a screening pack costs per proxied request (issue #21).

    python3 loadtest/screening_cost.py [--bin .build/release] [--requests 20000] [--rounds 3]
    python3 loadtest/screening_cost.py --callgrind [--small 200] [--large 1200]

Gatehouse in front of one mailbox-sim, once without `screening:` and once with
conf/screening/exchange-mitigations.yaml; keep-alive requests on one connection, HTTP/1.1 and HTTP/2.
The request is an OWA service call with Exchange's usual cookies, no '%' in the target.

Default: the proxy's CPU time per request (all its threads' on-CPU nanoseconds from
/proc/<pid>/task/*/schedstat, over `--requests` after a warm-up), rounds interleaved, the best round
of each. `--callgrind`: instructions under `valgrind --tool=callgrind`,
(Ir(large) - Ir(small)) / (large - small), so start-up and shutdown cancel out (deterministic; with
loadtest/callgrind.sh's vgsigsuspend shim, without which valgrind 3.19 dies on Swift binaries).
Needs the demo PKI (make certs) and a release build.
"""
import argparse
import os
import pathlib
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
CERTS = ROOT / "certs-example"
sys.path.insert(0, str(ROOT / "Tests" / "EndToEndTests"))
from h2_client import H2Client  # noqa: E402

HOST = "mail.contoso.lab"
TARGET = "/owa/service.svc?action=GetItem&EP=1&ID=-42&AC=1"
HEADERS = [
    ("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"),
    ("Accept", "*/*"),
    ("Cookie", "X-BackEndCookie=S-1-5-21-1=u56Lnp2ejJqBy5rJnZrNnpvSz8rMx9LLncnH0sbJys7SnczMnZvOm8nMnprGgYHNz83N0s7P0s3Hq8/G; "
               "X-OWA-CANARY=Jq8cYbJ7k0uKZ3o6w8F1d2Q; ClientId=7A0D2F3C4B5E6F708192A3B4C5D6E7F8; "
               "X-BEResource=mbx01~1942062522"),
    ("X-OWA-CANARY", "Jq8cYbJ7k0uKZ3o6w8F1d2Q"),
    ("Action", "GetItem"),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"port {port} never opened")


def config(port, sim_port, packs):
    screening = f"screening:\n  packs: [{ROOT / 'conf/screening/exchange-mitigations.yaml'}]\n" if packs else ""
    return f"""
listeners:
  - name: https
    address: 127.0.0.1:{port}
    tls:
      certificates:
        - {{ cert: {CERTS}/mail-ecdsa.pem, key: {CERTS}/mail-ecdsa.key }}
      default_certificate: {CERTS}/mail-ecdsa.pem
pools:
  mailbox:
    servers:
      - {{ name: mbx01, address: 127.0.0.1:{sim_port}, tls_name: mbx01.contoso.lab }}
    trust:
      certificates: [{CERTS}/mbx01.pem]
    health: {{ enabled: false }}
services:
  - name: contoso
    hosts: [{HOST}]
    routes:
      - {{ preset: owa, pool: mailbox, compression: {{ enabled: false }} }}
{screening}"""


def h1_requests(port, count):
    ctx = ssl.create_default_context(cafile=str(CERTS / "ca.pem"))
    ctx.set_alpn_protocols(["http/1.1"])
    sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 120), server_hostname=HOST)
    head = f"GET {TARGET} HTTP/1.1\r\nHost: {HOST}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in HEADERS) + "\r\n"
    buffer = b""
    for _ in range(count):
        sock.sendall(head.encode())
        while b"\r\n\r\n" not in buffer:
            buffer += sock.recv(65536)
        header, buffer = buffer.split(b"\r\n\r\n", 1)
        assert header.startswith(b"HTTP/1.1 200"), header[:100]
        length = int(re.search(rb"(?i)content-length: *(\d+)", header).group(1))
        while len(buffer) < length:
            buffer += sock.recv(65536)
        buffer = buffer[length:]
    sock.close()


def h2_requests(port, count):
    client = H2Client(port, HOST, str(CERTS / "ca.pem"), timeout=120)
    try:
        for _ in range(count):
            sid = client.request("GET", TARGET, HOST, headers=[(k.lower(), v) for k, v in HEADERS])
            client.wait_all([sid])
            assert client.responses[sid]["headers"].get(":status") == "200", client.responses[sid]
            del client.responses[sid]
    finally:
        client.close()


def cpu_ns(pid):
    """On-CPU nanoseconds of every thread of `pid` so far."""
    total = 0
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError):
            pass   # a thread that just ended
    return total


def cpu_per_request(bin_dir, packs, protocols, count, rounds, work):
    """{protocol: [ns per request, one per round]} for one proxy."""
    sim_port, port = free_port(), free_port()
    sim = subprocess.Popen([str(bin_dir / "mailbox-sim"), "--name", "mbx01", "--fqdn", "mbx01.contoso.lab",
                            "--listen", f"127.0.0.1:{sim_port}", "--cert", str(CERTS / "mbx01.pem"),
                            "--key", str(CERTS / "mbx01.key")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conf = work / f"gatehouse-{packs}.yaml"
    conf.write_text(config(port, sim_port, packs))
    proxy = subprocess.Popen([str(bin_dir / "gatehouse"), "run", "--config", str(conf)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = {protocol: [] for protocol in protocols}
    try:
        wait_port(sim_port, sim)
        wait_port(port, proxy)
        for protocol in protocols:
            run = h1_requests if protocol == "h1" else h2_requests
            run(port, 500)   # warm-up: pools, caches, TLS sessions
            for _ in range(rounds):
                before = cpu_ns(proxy.pid)
                run(port, count)
                results[protocol].append((cpu_ns(proxy.pid) - before) / count)
    finally:
        proxy.send_signal(signal.SIGINT)
        proxy.wait(60)
        sim.terminate()
        sim.wait(30)
    return results


def instructions(bin_dir, packs, protocol, count, work):
    sim_port, port = free_port(), free_port()
    sim = subprocess.Popen([str(bin_dir / "mailbox-sim"), "--name", "mbx01", "--fqdn", "mbx01.contoso.lab",
                            "--listen", f"127.0.0.1:{sim_port}", "--cert", str(CERTS / "mbx01.pem"),
                            "--key", str(CERTS / "mbx01.key")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conf = work / f"gatehouse-{packs}-{protocol}-{count}.yaml"
    conf.write_text(config(port, sim_port, packs))
    out = work / f"callgrind-{packs}-{protocol}-{count}.out"
    environment = dict(os.environ)
    if (work / "vgsigsuspend.so").exists():
        environment["LD_PRELOAD"] = str(work / "vgsigsuspend.so")
    proxy = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                              str(work / "gatehouse"), "run", "--config", str(conf)], env=environment,
                             stdout=subprocess.DEVNULL, stderr=open(work / f"valgrind-{packs}-{protocol}-{count}.log", "w"))
    try:
        wait_port(sim_port, sim)
        wait_port(port, proxy)
        (h1_requests if protocol == "h1" else h2_requests)(port, count)
    finally:
        proxy.send_signal(signal.SIGINT)
        try:
            proxy.wait(300)
        except subprocess.TimeoutExpired:
            proxy.kill()
            proxy.wait()
        sim.terminate()
        sim.wait(30)
    total = 0
    for line in out.read_text().splitlines():
        if line.startswith("summary:") or line.startswith("totals:"):
            total = max(total, int(line.split()[1]))
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=str(ROOT / ".build" / "release"))
    parser.add_argument("--protocols", default="h1,h2")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=1200)
    parser.add_argument("--shim", help="vgsigsuspend.c (default: loadtest/shim/vgsigsuspend.c)")
    args = parser.parse_args()
    bin_dir = pathlib.Path(args.bin)
    protocols = args.protocols.split(",")
    with tempfile.TemporaryDirectory(prefix="gatehouse-screening-cost-") as folder:
        work = pathlib.Path(folder)
        if not args.callgrind:
            best = {False: {p: float("inf") for p in protocols}, True: {p: float("inf") for p in protocols}}
            for _ in range(2):   # two proxies of each kind, alternating
                for packs in (False, True):
                    for protocol, values in cpu_per_request(bin_dir, packs, protocols, args.requests,
                                                             args.rounds, work).items():
                        best[packs][protocol] = min(best[packs][protocol], *values)
            for protocol in protocols:
                base, screened = best[False][protocol], best[True][protocol]
                print(f"{protocol}: proxy CPU without packs {base / 1000:.2f} us/request; with exchange-mitigations "
                      f"{screened / 1000:.2f} us/request ({(screened - base) / base * 100:+.2f} %)", flush=True)
            return
        # Valgrind 3.19 cannot read the DWARF 5 the Swift toolchain writes: measure a copy without
        # debug information (symbols stay; instruction counts are the same).
        subprocess.run(["objcopy", "--strip-debug", str(bin_dir / "gatehouse"), str(work / "gatehouse")], check=True)
        # And without loadtest/shim/vgsigsuspend.c (loadtest/callgrind.sh's shim, see that file)
        # valgrind 3.19 dies in libdispatch's sigsuspend.
        shim = pathlib.Path(args.shim) if args.shim else ROOT / "loadtest" / "shim" / "vgsigsuspend.c"
        if shim.exists():
            subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(work / "vgsigsuspend.so"), str(shim)], check=True)
        for protocol in protocols:
            per_request = {}
            for packs in (False, True):
                small = instructions(bin_dir, packs, protocol, args.small, work)
                large = instructions(bin_dir, packs, protocol, args.large, work)
                per_request[packs] = (large - small) / (args.large - args.small)
            base, screened = per_request[False], per_request[True]
            print(f"{protocol}: no pack {base:,.0f} instructions/request; exchange-mitigations pack "
                  f"{screened:,.0f} ({(screened - base) / base * 100:+.2f} %)", flush=True)


if __name__ == "__main__":
    main()
