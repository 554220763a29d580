"""Issue #16 item 5: scale-out behind an L4 balancer, over real sockets.

Two Gatehouse instances (A and B, 127.0.0.1, ports of their own) behind HAProxy in `mode tcp` with
`send-proxy-v2` and health checks, sharing one session-ticket key file made by `gatehouse cert
ticket-key rotate`, in front of one RecordingBackend. Clients reach HAProxy on 127.0.0.3 from
127.0.0.4, so the address the backend sees can only have come from the PROXY header.

- A session made on one instance resumes on the other (`openssl s_client -sess_out` / `-sess_in`,
  "Reused"), TLS 1.2 and 1.3; each instance's JSON access log proves both served resumed sessions.
- The backend sees 127.0.0.4 in X-Forwarded-For through either instance.
- Killing A (SIGKILL) under `wrk` load loses only what was on A (its in-flight requests, and the
  connections its dying socket had just accepted); a second `wrk` run afterwards has no error.

HAProxy, wrk and every Gatehouse here are started by this module and stopped by their PIDs.
"""
import json
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import BIN, CERTS, Gatehouse, Process, free_port, require_binaries, start_haproxy, stop_popen, wait_for_port
from test_ticket_keys import resumed
from gatehouse_client import RawHTTPS, http11_context
from recording_backend import RecordingBackend, pool_yaml

HOST = "mail.contoso.lab"
FRONT_ADDRESS = "127.0.0.3"
CLIENT_ADDRESS = "127.0.0.4"
TIMEOUT = 10


def instance_config(port, http_port, admin_port, keys, access_log, backend):
    return f"""
listeners:
  - name: https
    address: 127.0.0.1:{port}
    proxy_protocol: {{ trusted_sources: [127.0.0.1/32], required: true, header_timeout: 2s }}
    tls:
      certificates:
        - {{ cert: {CERTS}/mail-ecdsa.pem, key: {CERTS}/mail-ecdsa.key }}
        - {{ cert: {CERTS}/mail-rsa.pem, key: {CERTS}/mail-rsa.key }}
      default_certificate: {CERTS}/mail-rsa.pem
      ticket_keys: {keys}
  - name: http
    address: 127.0.0.1:{http_port}
    redirect_to_https: 443
pools:
{pool_yaml("rb", backend)}
services:
  - name: contoso
    hosts: [{HOST}]
    routes:
      - {{ preset: owa, pool: rb }}
admin:
  address: 127.0.0.1:{admin_port}
access_log:
  format: json
  path: {access_log}
"""


def haproxy_config(front, instances):
    servers = "\n".join(
        f"    server {name} 127.0.0.1:{g.port} send-proxy-v2 check inter 200 fall 1 rise 2"
        for name, g in instances.items())
    return f"""
global
    log stderr format raw local0 warning
defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch 1
frontend balancer
    bind {FRONT_ADDRESS}:{front}
    default_backend gatehouses
backend gatehouses
    balance roundrobin
{servers}
"""


def start_instance(tmp, name, keys, backend):
    port, http_port, admin_port = free_port(), free_port(), free_port()
    access_log = tmp / f"access-{name}.log"
    config = tmp / f"gatehouse-{name}.yaml"
    config.write_text(instance_config(port, http_port, admin_port, keys, access_log, backend))
    process = Process([str(BIN / "gatehouse"), "run", "--config", str(config)], f"gatehouse-{name}")
    wait_for_port(port, process.proc, log=process.output)
    gatehouse = Gatehouse(process, port, http_port, admin_port, config)
    gatehouse.access_log = access_log
    return gatehouse


@pytest.fixture
def farm(tmp_path):
    require_binaries()
    for tool in ("wrk", "openssl"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: run `make deps-test`")
    keys = tmp_path / "ticket.keys"
    for _ in range(2):
        done = subprocess.run([str(BIN / "gatehouse"), "cert", "ticket-key", "rotate", str(keys)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
    backend = RecordingBackend()
    instances = {}
    haproxy = None
    try:
        for name in ("a", "b"):
            instances[name] = start_instance(tmp_path, name, keys, backend)
        front = free_port()
        cfg = tmp_path / "haproxy.cfg"
        cfg.write_text(haproxy_config(front, instances))
        haproxy = start_haproxy(cfg, FRONT_ADDRESS, front)
        yield {"front": front, "instances": instances, "backend": backend, "haproxy": haproxy}
    finally:
        if haproxy is not None:
            stop_popen(haproxy)
        for gatehouse in instances.values():
            gatehouse.process.stop()
        backend.stop()


def s_client(front, version, marker, sess_out=None, sess_in=None):
    """One TLS connection through HAProxy with one request; s_client's output."""
    request = f"GET /owa/?m={marker} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"
    args = ["openssl", "s_client", "-connect", f"{FRONT_ADDRESS}:{front}", "-servername", HOST,
            f"-{version}", "-ign_eof", "-CAfile", str(CERTS / "ca.pem")]
    if sess_out:
        args += ["-sess_out", str(sess_out)]
    if sess_in:
        args += ["-sess_in", str(sess_in)]
    done = subprocess.run(args, input=request, capture_output=True, text=True, timeout=30)
    assert "HTTP/1.1 200" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def served_by(farm, marker):
    """The instances whose access log has a line for `marker` (access lines come in batches)."""
    deadline = time.monotonic() + 5
    while True:
        names = [name for name, g in farm["instances"].items()
                 if g.access_log.exists() and f"m={marker}" in g.access_log.read_text()]
        if names or time.monotonic() > deadline:
            return names
        time.sleep(0.05)


@pytest.mark.parametrize("version", ["tls1_2", "tls1_3"])
def test_a_session_from_one_instance_resumes_on_the_other(farm, tmp_path, version):
    session = tmp_path / f"{version}.pem"
    first = s_client(farm["front"], version, f"{version}-new", sess_out=session)
    assert not resumed(first)
    origin = served_by(farm, f"{version}-new")
    assert len(origin) == 1, origin
    # Round robin sends the next connections to alternate instances: each must resume the ticket.
    resumed_on = set()
    for index in range(4):
        marker = f"{version}-again-{index}"
        assert resumed(s_client(farm["front"], version, marker, sess_in=session)), f"connection {index} did not resume"
        where = served_by(farm, marker)
        assert len(where) == 1, where
        resumed_on.update(where)
    assert resumed_on == {"a", "b"}, f"resumed only on {resumed_on}; the ticket came from {origin}"


def test_the_backend_sees_the_real_client_address_through_either_instance(farm):
    context = http11_context(str(CERTS / "ca.pem"))
    for index in range(4):
        sock = socket.create_connection((FRONT_ADDRESS, farm["front"]), TIMEOUT, source_address=(CLIENT_ADDRESS, 0))
        raw = RawHTTPS.__new__(RawHTTPS)
        raw.sock = context.wrap_socket(sock, server_hostname=HOST)
        raw.buffer, raw.eof = b"", False
        with raw as client:
            client.send(f"GET /owa/?m=xff-{index} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
            assert client.read_response().status == 200
    backend = farm["backend"]
    seen = set()
    for index in range(4):
        requests = backend.wait_for(lambda: backend.requests_with(f"m=xff-{index}"), TIMEOUT)
        assert len(requests) == 1, backend.describe()
        assert requests[0].header("X-Forwarded-For") == CLIENT_ADDRESS
        seen.update(served_by(farm, f"xff-{index}"))
    assert seen == {"a", "b"}


WRK_CONNECTIONS = 16


def run_wrk(front, seconds):
    """wrk through HAProxy (no SNI: the default certificate; the Host header routes)."""
    return subprocess.Popen(
        ["wrk", "-t2", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", "--timeout", "2s", "-H", f"Host: {HOST}",
         f"https://{FRONT_ADDRESS}:{front}/owa/healthcheck.htm"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wrk_figures(output):
    """(requests, errors by kind): wrk's socket errors (connect counts failed TLS handshakes too)
    and its non-2xx/3xx responses."""
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 0}
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        for kind, value in zip(("connect", "read", "write", "timeout"), socket_errors.groups()):
            errors[kind] = int(value)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        errors["status"] = int(non_2xx.group(1))
    return requests, errors


def open_connections(gatehouse):
    """Client connections open on an instance, from its /metrics."""
    text = subprocess.run(["curl", "-s", f"http://127.0.0.1:{gatehouse.admin_port}/metrics"],
                          capture_output=True, text=True, timeout=10).stdout
    return sum(float(v) for v in re.findall(r'^gatehouse_client_connections_open\{[^}]*listener="https"[^}]*\} (\S+)',
                                           text, re.M))


@pytest.mark.sanitizer_sensitive("timing: 5 wrk timeouts against the ASan build in a full ASan run; the test allows none, no ASan report")
def test_killing_one_instance_under_load_loses_only_its_connections(farm):
    """What is lost is what was on A: the requests in flight on its established connections (wrk:
    read/write errors, at most one per connection open on A) and connections that reached A's
    accept queue in the instant it died (wrk: connect errors, as their TLS handshake never ends;
    HAProxy retries a refused connect elsewhere, but not one the dying kernel socket accepted).
    Nothing fails with a status, nothing times out, and a run after the failover has no error."""
    a = farm["instances"]["a"]
    load = run_wrk(farm["front"], 6)
    try:
        time.sleep(2.5)
        on_a = open_connections(a)
        assert on_a >= 1, "round robin put no wrk connection on A"
        a.process.proc.send_signal(signal.SIGKILL)
        output, _ = load.communicate(timeout=30)
    finally:
        stop_popen(load)
    requests, errors = wrk_figures(output)
    print(f"failover: {requests} requests, errors {errors}, {on_a:.0f} of {WRK_CONNECTIONS} connections on A when killed")
    assert requests > 100, output
    assert errors["read"] + errors["write"] <= on_a, f"more requests lost than connections on A ({on_a:.0f}):\n{output}"
    assert errors["connect"] <= 2, f"new connections failed after the kill:\n{output}"
    assert errors["status"] == 0 and errors["timeout"] == 0, output
    # Afterwards every connection goes to B: a second run has no error at all.
    after = run_wrk(farm["front"], 2)
    try:
        output, _ = after.communicate(timeout=30)
    finally:
        stop_popen(after)
    requests, errors = wrk_figures(output)
    print(f"after failover: {requests} requests, errors {errors}")
    assert requests > 50 and sum(errors.values()) == 0, output
