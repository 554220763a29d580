"""Issue 15 item 3: Extended Protection at run time.

Both sims require Extended Protection. The pool trusts the shared front certificate (so `gatehouse
check` compares it with the front and passes, and `run` starts) and also a self-signed certificate
for the same name, which mbx02 actually presents. Only the health checker's handshakes can see
that: `/state` and `/metrics` show mbx01 matching and mbx02 not; under `bridged` mbx02 leaves the
NTLM routes' rotation (EWS logons all land on mbx01, OWA still reaches mbx02); under `warn` it
stays, and NTLM logons that land on it fail with the sim's 401.
"""
import json
import re
import subprocess
import time
import types
import urllib.request

import pytest
import requests

from conftest import BIN, Process, free_port, require_binaries, wait_for_port
from test_extended_protection import SHARED_CERT, SHARED_KEY, ep_config, ntlm_session, start_ep_sim
from test_status_page import rendered_dom, server_row_html

pytest.importorskip("requests_ntlm")


def fingerprint(pem_path):
    out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", str(pem_path)],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return out.strip().split("=", 1)[1].replace(":", "")


def config_text(port, admin_port, sims, trust, mode):
    """Both servers under the front's name; quick probes so the verdicts come within seconds."""
    return ep_config(port, admin_port, [(name, sim_port, "mail.contoso.lab") for name, sim_port in sims],
                     [(SHARED_CERT, SHARED_KEY)], trust, mode, presets=("ews", "owa"), hosts=("mail.contoso.lab",),
                     pool_extra="    health: { interval: 300ms, timeout: 1s, rise: 1, fall: 3 }\n")


@pytest.fixture
def runtime(tmp_path):
    """runtime(mode) -> (gatehouse port, admin port, gatehouse process, impostor certificate)."""
    require_binaries()
    started = []
    impostor_dir = tmp_path / "impostor"
    impostor_dir.mkdir()
    # Self-signed, covering mail.contoso.lab: verifies as the pool's TLS name once trusted.
    subprocess.run([str(BIN / "gatehouse"), "cert", "new-self-signed", "--name", "mbx02", "--fqdn",
                    "mbx02.contoso.lab", "--dns", "mail.contoso.lab", "--out", str(impostor_dir)],
                   check=True, capture_output=True, timeout=60)
    impostor = impostor_dir / "mbx02.pem"

    def make(mode):
        first, first_port = start_ep_sim("mbx01", SHARED_CERT, SHARED_KEY)
        second, second_port = start_ep_sim("mbx02", impostor, impostor_dir / "mbx02.key")
        started.extend([first, second])
        port, admin_port = free_port(), free_port()
        config = tmp_path / f"gatehouse-{mode}.yaml"
        config.write_text(config_text(port, admin_port, [("mbx01", first_port), ("mbx02", second_port)],
                                      [SHARED_CERT, impostor], mode))
        check = subprocess.run([str(BIN / "gatehouse"), "check", "--config", str(config)],
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stderr  # the trusted certificate matches the front
        proxy = Process([str(BIN / "gatehouse"), "run", "--config", str(config)], "gatehouse")
        started.append(proxy)
        wait_for_port(port, proxy.proc, log=proxy.output)
        wait_for_port(admin_port, proxy.proc, log=proxy.output)
        return port, admin_port, proxy, impostor

    yield make
    for process in reversed(started):
        process.stop()


def admin_get(admin_port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}{path}", timeout=10) as response:
        return response.read().decode()


def wait_for_verdicts(admin_port, timeout=15.0):
    """Until the health checker handshook with both servers; returns their /state entries by name."""
    deadline = time.time() + timeout
    while True:
        state = json.loads(admin_get(admin_port, "/state"))
        servers = {server["name"]: server for server in state["pools"][0]["servers"]}
        if all(server["presented_sha256"] for server in servers.values()):
            return servers
        assert time.time() < deadline, servers
        time.sleep(0.2)


def check_state_and_metrics(admin_port, impostor, mode):
    servers = wait_for_verdicts(admin_port)
    front = fingerprint(SHARED_CERT)
    assert servers["mbx01"]["presented_sha256"] == front
    assert servers["mbx02"]["presented_sha256"] == fingerprint(impostor)
    for name, verdict in (("mbx01", "match"), ("mbx02", "mismatch")):
        entries = servers[name]["extended_protection"]
        assert [(e["service"], e["host"], e["key_type"], e["front_sha256"], e["match"]) for e in entries] == [
            ("contoso", "mail.contoso.lab", "RSA", front, verdict)], entries
        assert entries[0]["excluded_from_ntlm"] == (mode == "bridged" and verdict == "mismatch")
    metrics = admin_get(admin_port, "/metrics")
    values = {}
    for line in metrics.splitlines():
        if line.startswith("gatehouse_extended_protection_match{"):
            labels, value = line.rsplit(" ", 1)
            assert 'service="contoso"' in labels and 'pool="mailbox"' in labels, line
            values[labels.split('server="', 1)[1].split('"', 1)[0]] = float(value)
    assert values == {"mbx01": 1.0, "mbx02": 0.0}, metrics


def ntlm_ews(port, count):
    """`count` fresh NTLM logons to EWS: (status, server) each."""
    results = []
    for n in range(count):
        with ntlm_session(f"user{n}") as session:
            response = session.get(f"https://127.0.0.1:{port}/EWS/Exchange.asmx", timeout=30)
            results.append((response.status_code, response.headers.get("X-BEServer")))
    return results


def owa_servers(port, count):
    with ntlm_session("owa") as session:
        session.auth = None
        return {session.get(f"https://127.0.0.1:{port}/owa/healthcheck.htm", timeout=10).headers.get("X-BEServer")
                for _ in range(count)}


def test_bridged_takes_the_mismatching_server_out_of_the_ntlm_rotation_only(runtime):
    port, admin_port, proxy, impostor = runtime("bridged")
    check_state_and_metrics(admin_port, impostor, "bridged")
    results = ntlm_ews(port, 20)
    assert results == [(200, "mbx01")] * 20, results
    assert "mbx02" in owa_servers(port, 20)
    warnings = [line for line in proxy.output().splitlines() if "Extended Protection mismatch" in line]
    assert len(warnings) == 1, proxy.output()[-3000:]
    assert "mbx02" in warnings[0] and fingerprint(SHARED_CERT) in warnings[0] and fingerprint(impostor) in warnings[0]
    assert "out of the NTLM/Negotiate rotation" in warnings[0]
    # The status page (headless Chromium runs its script) shows the verdict per server.
    dom = rendered_dom(types.SimpleNamespace(admin_port=admin_port))
    for server, verdict in (("mbx01", "match"), ("mbx02", "mismatch")):
        assert re.findall(r'data-ep-match="([a-z]+)"', server_row_html(dom, server)) == [verdict], dom[-3000:]
    assert "contoso mail.contoso.lab RSA: mismatch, out of NTLM" in server_row_html(dom, "mbx02")


def test_warn_only_reports_and_logons_on_the_mismatching_server_fail(runtime):
    port, admin_port, proxy, impostor = runtime("warn")
    check_state_and_metrics(admin_port, impostor, "warn")
    results = ntlm_ews(port, 20)
    assert (401, "mbx02") in results or any(status == 401 for status, _ in results), results
    assert (200, "mbx01") in results, results
    assert all(status == 200 for status, server in results if server == "mbx01"), results
    warnings = [line for line in proxy.output().splitlines() if "Extended Protection mismatch" in line]
    assert len(warnings) == 1 and "mbx02" in warnings[0], proxy.output()[-3000:]
