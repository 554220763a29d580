"""Issue #14 item 2: hitless reload. `wrk` keeps 16 HTTPS keep-alive connections busy for 30 s (and
`h2load` 4 HTTP/2 connections of 4 streams) while the configuration is reloaded 20 times, alternately through `gatehouse reload --config` (admin
endpoint) and `gatehouse reload --pid-file` (SIGHUP); each reload serves a newly issued certificate,
adds a route and removes or restores a backend server. No request may fail; after each reload the new
certificate is what a new connection gets, and the new route answers on a connection opened before
the reload. Then a broken edit is refused with file:line (CLI, admin answer and log) while the old
configuration keeps serving."""
import hashlib
import json
import re
import shutil
import signal
import ssl
import socket
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import BIN, CERTS, Process, free_port, require_binaries, start_sim, wait_for_port
from gatehouse_client import HTTPSClient, http11_context

LOAD_SECONDS = 30
RELOADS = 20
HOST = "mail.contoso.lab"


def issue_certificate(name, out_dir):
    subprocess.run([str(BIN / "gatehouse"), "cert", "issue", "--ca", str(CERTS), "--name", name, "--key", "p256",
                    "--dns", HOST, "--dns", "autodiscover.contoso.lab", "--out", str(out_dir)],
                   check=True, capture_output=True, timeout=60)
    return out_dir / f"{name}.pem", out_dir / f"{name}.key"


def fingerprint_of_file(pem_path):
    first = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", pem_path.read_text(), re.S)
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(first.group(0))).hexdigest()


def served_fingerprint(port):
    context = http11_context(str(CERTS / "ca.pem"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=HOST) as tls:
            return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def config_text(port, admin_port, cert, sims, extra_routes, broken=False, extra_port=None):
    servers = "\n".join(
        f"      - {{ name: {s.name}, address: 127.0.0.1:{s.port}, tls_name: {s.name}.contoso.lab }}" for s in sims)
    # Every trust certificate stays listed, so only the servers change between reloads.
    routes = "\n".join(f"      - {{ path: /extra{n}/, pool: mailbox }}" for n in extra_routes)
    idle = "forever" if broken else "30s"
    extra = "" if extra_port is None else f"""  - name: extra
    address: 127.0.0.1:{extra_port}
    tls:
      certificates:
        - {{ cert: {cert[0]}, key: {cert[1]} }}
"""
    return f"""listeners:
  - name: https
    address: 127.0.0.1:{port}
    tls:
      certificates:
        - {{ cert: {cert[0]}, key: {cert[1]} }}
{extra}limits:
  client_idle_timeout: {idle}
pools:
  mailbox:
    servers:
{servers}
    trust:
      certificates: [{CERTS}/mbx01.pem, {CERTS}/mbx02.pem]
services:
  - name: contoso
    hosts: [{HOST}, autodiscover.contoso.lab]
    routes:
      - {{ preset: owa, pool: mailbox }}
      - {{ preset: activesync, pool: mailbox }}
{routes}
admin:
  address: 127.0.0.1:{admin_port}
"""


def reload_count(gatehouse):
    return gatehouse.output().count("configuration reloaded")


@pytest.fixture
def setup(tmp_path):
    require_binaries()
    if not shutil.which("wrk"):
        pytest.fail("wrk is missing: run `make deps`")
    sims = [start_sim("mbx01"), start_sim("mbx02")]
    certs = [issue_certificate("reload-a", tmp_path), issue_certificate("reload-b", tmp_path)]
    port, admin_port = free_port(), free_port()
    config = tmp_path / "gatehouse.yaml"
    original = (CERTS / "mail-ecdsa.pem", CERTS / "mail-ecdsa.key")
    config.write_text(config_text(port, admin_port, original, sims, []))
    pid_file = tmp_path / "gatehouse.pid"
    gatehouse = Process([str(BIN / "gatehouse"), "run", "--config", str(config), "--pid-file", str(pid_file)],
                        "gatehouse")
    try:
        wait_for_port(port, gatehouse.proc, log=gatehouse.output)
        deadline = time.time() + 10
        while not pid_file.exists() and time.time() < deadline:
            time.sleep(0.05)
        yield dict(sims=sims, certs=certs, port=port, admin_port=admin_port, config=config, pid_file=pid_file,
                   gatehouse=gatehouse)
    finally:
        gatehouse.stop()
        for sim in sims:
            sim.process.stop()
    assert not pid_file.exists(), "the pid file is removed at exit"


def test_twenty_reloads_under_load_lose_no_request(setup):
    s = setup
    port, gatehouse, sims = s["port"], s["gatehouse"], s["sims"]
    assert int(s["pid_file"].read_text()) == gatehouse.pid
    early = HTTPSClient("127.0.0.1", port, HOST, http11_context(str(CERTS / "ca.pem")))
    assert early.get("/owa/healthcheck.htm")[0] == 200

    wrk = subprocess.Popen(
        ["wrk", "-t", "2", "-c", "16", "-d", f"{LOAD_SECONDS}s", "--timeout", "10s", "-H", f"Host: {HOST}",
         f"https://127.0.0.1:{port}/owa/healthcheck.htm"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # HTTP/2 alongside: 4 connections, 4 streams each, for the same time.
    h2load = subprocess.Popen(
        ["h2load", "-D", str(LOAD_SECONDS), "-c", "4", "-m", "4", "-H", f":authority: {HOST}",
         f"https://127.0.0.1:{port}/owa/healthcheck.htm"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started = time.time()
    took = []   # seconds from asking for each reload to its being applied (CLI process included)
    try:
        time.sleep(1.0)
        interval = (LOAD_SECONDS - 4) / RELOADS
        for n in range(1, RELOADS + 1):
            cert = s["certs"][n % 2]
            servers = sims if n % 2 == 0 else sims[:1]   # odd reloads remove mbx02, even ones restore it
            s["config"].write_text(config_text(port, s["admin_port"], cert, servers, range(1, n + 1)))
            before = reload_count(gatehouse)
            asked = time.monotonic()
            if n % 2 == 0:
                done = subprocess.run([str(BIN / "gatehouse"), "reload", "--config", str(s["config"])],
                                      capture_output=True, text=True, timeout=60)
                assert done.returncode == 0, done.stderr
                assert done.stdout.startswith("reloaded"), done.stdout
            else:
                done = subprocess.run([str(BIN / "gatehouse"), "reload", "--pid-file", str(s["pid_file"])],
                                      capture_output=True, text=True, timeout=60)
                assert done.returncode == 0, done.stderr
                deadline = time.time() + 15
                while reload_count(gatehouse) == before and time.time() < deadline:
                    time.sleep(0.05)
            assert reload_count(gatehouse) == before + 1, gatehouse.output()[-3000:]
            took.append(time.monotonic() - asked)
            # New connections get the new certificate; the connection opened before the first reload
            # reaches the route this reload added at its next request.
            assert served_fingerprint(port) == fingerprint_of_file(cert[0]), f"reload {n}"
            with urllib.request.urlopen(f"http://127.0.0.1:{s['admin_port']}/state", timeout=10) as answer:
                state = json.loads(answer.read())
            assert [x["name"] for x in state["pools"][0]["servers"]] == [x.name for x in servers]
            status, _, _ = early.get(f"/extra{n}/x?sim-bytes=10")
            assert status == 200, f"reload {n}: the added route /extra{n}/ answered {status}"
            time.sleep(max(0.0, started + 1.0 + n * interval - time.time()))
        output, _ = wrk.communicate(timeout=LOAD_SECONDS + 30)
        h2output, _ = h2load.communicate(timeout=LOAD_SECONDS + 30)
    finally:
        for tool in (wrk, h2load):
            if tool.poll() is None:
                tool.kill()
                tool.wait()
        early.close()

    total = re.search(r"(\d+) requests in", output)
    assert total, output
    requests = int(total.group(1))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    print(f"\nreload under load: {requests} requests, {RELOADS} reloads, "
          f"socket errors: {errors.groups() if errors else 'none'}, non-2xx: {non2xx.group(1) if non2xx else 0}; "
          f"reload applied after {sorted(took)[len(took) // 2]:.2f} s median, {max(took):.2f} s max")
    assert errors is None, output
    assert non2xx is None, output
    assert requests > 500, output   # the load really ran (a debug build on 2 shared cores)
    h2 = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, "
                   r"(\d+) timeout", h2output)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", h2output)
    assert h2 and codes, h2output
    print(f"h2load: {h2.group(0)}; {codes.group(0)}")
    total_h2, done_h2, succeeded_h2, failed_h2, errored_h2, timeout_h2 = map(int, h2.groups())
    assert failed_h2 == errored_h2 == timeout_h2 == 0, h2output
    assert int(codes.group(1)) == succeeded_h2 and succeeded_h2 > 300, h2output
    assert reload_count(gatehouse) == RELOADS
    # Every reload counted in the metrics, as applied.
    assert reloads_metric(s["admin_port"]) == {"success": RELOADS, "failure": 0}


def test_a_broken_edit_is_refused_with_file_line_and_the_old_configuration_serves(setup):
    s = setup
    port, gatehouse = s["port"], s["gatehouse"]
    old_fingerprint = served_fingerprint(port)
    counted = reloads_metric(s["admin_port"])
    s["config"].write_text(config_text(port, s["admin_port"], s["certs"][0], s["sims"], [1], broken=True))
    line = s["config"].read_text().splitlines().index("  client_idle_timeout: forever") + 1
    expected = f"{s['config']}:{line}:24: error: invalid duration 'forever' for 'client_idle_timeout' in 'limits'"

    # The CLI through the admin endpoint: errors exactly as `gatehouse check` prints them.
    check = subprocess.run([str(BIN / "gatehouse"), "check", "--quiet", "--config", str(s["config"])],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 1 and expected in check.stderr, check.stderr
    done = subprocess.run([str(BIN / "gatehouse"), "reload", "--config", str(s["config"])],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    check_lines = [l for l in check.stderr.splitlines() if ": error: " in l or l.endswith("was not loaded")]
    for check_line in check_lines:
        assert check_line in done.stderr.splitlines(), (check_line, done.stderr)
    assert "reload refused" in done.stderr

    # The admin endpoint itself: 422 with the errors.
    request = urllib.request.Request(f"http://127.0.0.1:{s['admin_port']}/reload", method="POST", data=b"")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 422
    answer = json.loads(refused.value.read())
    assert answer["applied"] is False and expected in answer["errors"][0]

    # SIGHUP: logged, same line.
    before = gatehouse.output().count(expected)
    gatehouse.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 15
    while gatehouse.output().count(expected) == before and time.time() < deadline:
        time.sleep(0.05)
    assert gatehouse.output().count(expected) == before + 1
    assert "reload refused; the running configuration is unchanged" in gatehouse.output()

    # A listener whose address is taken: the runtime cannot be built, so nothing changes either.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy_port = taken.getsockname()[1]
        s["config"].write_text(config_text(port, s["admin_port"], s["certs"][0], s["sims"], [1], extra_port=busy_port))
        done = subprocess.run([str(BIN / "gatehouse"), "reload", "--config", str(s["config"])],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "cannot bind a listener the new configuration adds" in done.stderr, done.stderr
    # Four refused reloads (CLI, admin endpoint, SIGHUP, taken port), each counted as a failure.
    assert reloads_metric(s["admin_port"]) == {"success": counted["success"], "failure": counted["failure"] + 4}

    # Still the old configuration: old certificate, no /extra1/ route, requests served.
    assert served_fingerprint(port) == old_fingerprint
    with HTTPSClient("127.0.0.1", port, HOST, http11_context(str(CERTS / "ca.pem"))) as client:
        assert client.get("/owa/healthcheck.htm")[0] == 200
        assert client.get("/extra1/x?sim-bytes=10")[0] == 404
    assert gatehouse.proc.poll() is None


def reloads_metric(admin_port):
    """gatehouse_config_reloads_total by outcome, from the admin endpoint's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    counts = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "gatehouse_config_reloads_total":
                counts[sample.labels["outcome"]] = int(sample.value)
    return counts


PING = "/Microsoft-Server-ActiveSync?Cmd=Ping&User=a&DeviceId={id}&DeviceType=T&sim-hold=3"


def admin(admin_port, path, method="GET"):
    request = urllib.request.Request(f"http://127.0.0.1:{admin_port}{path}", method=method,
                                     data=b"" if method == "POST" else None)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def test_listeners_are_bound_and_drained_pools_keep_state_and_long_polls_are_not_cut(setup):
    s = setup
    port, admin_port, sims, cert = s["port"], s["admin_port"], s["sims"], s["certs"][0]
    extra_port = free_port()
    context = http11_context(str(CERTS / "ca.pem"))
    outcomes = {}

    def ping(name, listener_port):
        try:
            with HTTPSClient("127.0.0.1", listener_port, HOST, context) as client:
                status, headers, _ = client.call("POST", PING.format(id=name), body=b"\x03\x01\x6a\x00")
                outcomes[name] = (status, headers.get("connection"))
        except Exception as error:   # noqa: BLE001 - asserted below
            outcomes[name] = ("error", repr(error))

    # Two Pings held 3 s, then a reload that removes the server holding them and adds a listener:
    # both Pings are answered, the new listener serves.
    pings = [threading.Thread(target=ping, args=(f"P{n}", port)) for n in range(2)]
    for thread in pings:
        thread.start()
    time.sleep(0.8)
    counts = [x["outstanding"] for x in admin(admin_port, "/state")["pools"][0]["servers"]]
    assert sum(counts) == 2, counts
    busy = 0 if counts[0] else 1
    s["config"].write_text(config_text(port, admin_port, cert, [sims[1 - busy]], [], extra_port=extra_port))
    answer = admin(admin_port, "/reload", method="POST")
    assert answer["applied"] and answer["listeners_bound"] == ["extra"], answer
    with HTTPSClient("127.0.0.1", extra_port, HOST, context) as client:
        assert client.get("/owa/healthcheck.htm")[0] == 200
    for thread in pings:
        thread.join(timeout=15)
    assert outcomes["P0"][0] == 200 and outcomes["P1"][0] == 200, outcomes

    # A Ping in flight and an idle keep-alive connection on the listener the next reload removes;
    # the remaining server drained through the admin endpoint before it.
    idle = HTTPSClient("127.0.0.1", extra_port, HOST, context)
    assert idle.get("/owa/healthcheck.htm")[0] == 200
    held = threading.Thread(target=ping, args=("ON-EXTRA", extra_port))
    held.start()
    time.sleep(0.8)
    kept = sims[1 - busy].name
    assert admin(admin_port, f"/pools/mailbox/servers/{kept}/drain", method="POST")["draining"] is True
    s["config"].write_text(config_text(port, admin_port, cert, sims, []))
    answer = admin(admin_port, "/reload", method="POST")
    assert answer["applied"] and answer["listeners_closed"] == ["extra"], answer
    time.sleep(0.3)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", extra_port), timeout=2).close()
    idle.sock.settimeout(3)
    assert idle.sock.recv(1) == b"", "the idle keep-alive connection of a removed listener is closed"
    idle.close()
    held.join(timeout=15)
    assert outcomes["ON-EXTRA"] == (200, "close"), outcomes
    # The kept server is unchanged, so its admin drain survived the reload; the other is back, fresh.
    servers = admin(admin_port, "/state")["pools"][0]["servers"]
    assert {x["name"]: x["draining"] for x in servers} == {kept: True, sims[busy].name: False}, servers
    with HTTPSClient("127.0.0.1", port, HOST, context) as client:
        status, _, body = client.get("/owa/healthcheck.htm")
        assert status == 200 and sims[busy].name.encode() in body, body   # the undrained one
    assert "listener drained" in s["gatehouse"].output()
