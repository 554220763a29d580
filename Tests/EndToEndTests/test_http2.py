"""HTTP/2 towards clients, through the real proxy to mailbox-sim (issue 5)."""
import hashlib
import json
import os
import subprocess
import time

import pytest

from conftest import CERTS, free_port, gatehouse_config, Process, wait_for_port, BIN, start_sim
from h2_client import H2Client

PRESET_HEALTH = ["/owa/healthcheck.htm", "/ecp/healthcheck.htm", "/EWS/healthcheck.htm",
                 "/mapi/healthcheck.htm", "/OAB/healthcheck.htm", "/autodiscover/healthcheck.htm",
                 "/Microsoft-Server-ActiveSync/healthcheck.htm"]


h2_processes = {}


@pytest.fixture(scope="module")
def h2_gatehouse(tmp_path_factory):
    """Gatehouse with h2 in ALPN, anonymous sims, plus portal.contoso.lab (covered only by the wildcard)."""
    sims = [start_sim("mbx01"), start_sim("mbx02")]
    port, http_port, admin_port = free_port(), free_port(), free_port()
    text = gatehouse_config(port, http_port, admin_port, sims)
    text = text.replace("hosts: [mail.contoso.lab, autodiscover.contoso.lab]",
                        "hosts: [mail.contoso.lab, autodiscover.contoso.lab, portal.contoso.lab]")
    config = tmp_path_factory.mktemp("h2") / "gatehouse.yaml"
    config.write_text(text)
    process = Process([str(BIN / "gatehouse"), "run", "--config", str(config)], "gatehouse-h2")
    wait_for_port(port, process.proc)
    h2_processes["gatehouse"] = process
    h2_processes["sims"] = sims
    yield port
    process.stop()
    for sim in sims:
        sim.process.stop()


@pytest.fixture(scope="module")
def ntlm_gatehouse(tmp_path_factory):
    sims = [start_sim("mbx01", ["--require-ntlm"])]
    port, http_port, admin_port = free_port(), free_port(), free_port()
    config = tmp_path_factory.mktemp("h2ntlm") / "gatehouse.yaml"
    config.write_text(gatehouse_config(port, http_port, admin_port, sims))
    process = Process([str(BIN / "gatehouse"), "run", "--config", str(config)], "gatehouse-h2-ntlm")
    wait_for_port(port, process.proc)
    yield port
    process.stop()
    sims[0].process.stop()


def curl(port, path, *extra, host="mail.contoso.lab"):
    out = subprocess.run(
        ["curl", "-sS", "--max-time", "30", "--cacert", str(CERTS / "ca.pem"), "--resolve", f"{host}:{port}:127.0.0.1",
         "-o", "/dev/stdout", "-w", "\n%{http_version} %{http_code}", *extra, f"https://{host}:{port}{path}"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    body, _, status_line = out.stdout.rpartition("\n")
    version, code = status_line.split()
    return version, int(code), body


@pytest.mark.parametrize("path", PRESET_HEALTH)
def test_curl_http2_reaches_every_preset(h2_gatehouse, path):
    version, code, body = curl(h2_gatehouse, path, "--http2")
    assert version == "2" and code == 200
    assert body.startswith("200 OK<br/>mbx0")


def test_nghttp_through_gatehouse(h2_gatehouse):
    out = subprocess.run(["nghttp", "-nv", f"https://127.0.0.1:{h2_gatehouse}/owa/healthcheck.htm",
                          "-H", ":authority: mail.contoso.lab"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    assert ":status: 200" in out.stdout
    assert "END_STREAM" in out.stdout


def expected_stream(n):
    block = bytes(i % 251 for i in range(251 * 64))
    reps, rest = divmod(n, len(block))
    return block * reps + block[:rest]


@pytest.mark.sanitizer_sensitive("100 concurrent transfers against the ASan sims exceed the backend timeout (504) under ASan's slowdown")
def test_hundred_concurrent_streams_mixed_uploads_and_downloads(h2_gatehouse):
    client = H2Client(h2_gatehouse, "mail.contoso.lab", str(CERTS / "ca.pem"))
    rng = __import__("random").Random(7)
    expectations = {}
    sids = []
    for i in range(100):
        size = rng.choice([0, 1, 1000, 65_536, 300_000, 1_048_576])
        if i % 2 == 0:
            sid = client.request("GET", f"/owa/?sim-bytes={size}", "mail.contoso.lab")
            expectations[sid] = ("download", hashlib.sha256(expected_stream(size)).hexdigest())
        else:
            body = os.urandom(size)
            sid = client.request("POST", "/EWS/exchange.asmx", "mail.contoso.lab", body=body,
                                 headers=[("content-type", "text/xml")])
            expectations[sid] = ("upload", hashlib.sha256(body).hexdigest(), size)
        sids.append(sid)
    client.wait_all(sids)
    for sid in sids:
        response = client.responses[sid]
        assert response["reset"] is None, f"stream {sid} reset with {response['reset']}"
        assert response["headers"].get(":status") == "200", response["headers"]
        kind = expectations[sid]
        if kind[0] == "download":
            assert hashlib.sha256(bytes(response["data"])).hexdigest() == kind[1]
        else:
            reported = json.loads(bytes(response["data"]))
            assert reported["bytes"] == kind[2] and reported["sha256"] == kind[1]
    client.close()


def test_stalled_reader_on_one_stream_does_not_stall_others(h2_gatehouse):
    """A stream whose client never reads (window exhausted) leaves the other streams working."""
    client = H2Client(h2_gatehouse, "mail.contoso.lab", str(CERTS / "ca.pem"))
    # Do not acknowledge data on the big stream: its window fills and stays full.
    big = client.request("GET", f"/owa/?sim-bytes={64 * 1024 * 1024}", "mail.contoso.lab")
    original = client.conn.acknowledge_received_data

    def selective(length, stream_id):
        if stream_id != big:
            original(length, stream_id)
        else:
            # Credit the connection window only: the big stream's own window stays exhausted.
            client.conn.increment_flow_control_window(length)
    client.conn.acknowledge_received_data = selective
    small = [client.request("GET", "/owa/healthcheck.htm", "mail.contoso.lab") for _ in range(20)]
    client.wait_all(small)
    for sid in small:
        assert client.responses[sid]["headers"][":status"] == "200"
    assert not client.responses[big]["ended"]
    client.close()


def test_ntlm_on_http2_falls_back_to_http11(ntlm_gatehouse):
    """curl offers h2; Gatehouse resets the NTLM request with HTTP_1_1_REQUIRED; curl retries on 1.1."""
    version, code, _ = curl(ntlm_gatehouse, "/EWS/exchange.asmx?sim-echo=1", "--ntlm", "-u", "CONTOSO\\alice:x",
                            "-D", "/dev/stderr")
    assert code == 200 and version == "1.1"


def test_ntlm_request_on_h2_gets_http_1_1_required(ntlm_gatehouse):
    client = H2Client(ntlm_gatehouse, "mail.contoso.lab", str(CERTS / "ca.pem"))
    sid = client.request("GET", "/EWS/exchange.asmx", "mail.contoso.lab",
                         headers=[("authorization", "NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==")])
    client.wait_all([sid])
    assert client.responses[sid]["reset"] == 0xD
    client.close()


def test_misdirected_authority_gets_421(h2_gatehouse):
    # The connection presents the mail certificate (SNI mail.contoso.lab), which does not cover
    # portal.contoso.lab: coalescing that request onto it is refused with 421.
    client = H2Client(h2_gatehouse, "mail.contoso.lab", str(CERTS / "ca.pem"))
    bad = client.request("GET", "/owa/healthcheck.htm", "portal.contoso.lab")
    good = client.request("GET", "/owa/healthcheck.htm", "autodiscover.contoso.lab")
    client.wait_all([bad, good])
    assert client.responses[bad]["headers"][":status"] == "421"
    assert client.responses[good]["headers"][":status"] == "200"
    client.close()
    # With SNI portal.contoso.lab the wildcard certificate is served and the request is fine.
    client = H2Client(h2_gatehouse, "portal.contoso.lab", str(CERTS / "ca.pem"))
    sid = client.request("GET", "/owa/healthcheck.htm", "portal.contoso.lab")
    client.wait_all([sid])
    assert client.responses[sid]["headers"][":status"] == "200"
    client.close()


def backend_connections_accepted():
    total = 0
    for sim in h2_processes["sims"]:
        client = sim.client()
        status, _, body = client.get("/_sim/state")
        assert status == 200
        total += json.loads(body)["connectionsAccepted"]
        client.close()
    return total


def test_rapid_reset_flood_is_contained(h2_gatehouse):
    """CVE-2023-44487: open and reset streams as fast as possible; Gatehouse stays healthy and does
    not pass the flood on to the backends as a flood of new connections."""
    before = backend_connections_accepted()
    client = H2Client(h2_gatehouse, "mail.contoso.lab", str(CERTS / "ca.pem"))
    try:
        for _ in range(3000):
            sid = client.conn.get_next_available_stream_id()
            client.conn.send_headers(sid, [(":method", "GET"), (":path", "/owa/?sim-bytes=1000000"),
                                           (":scheme", "https"), (":authority", "mail.contoso.lab")])
            client.conn.reset_stream(sid)
            client.flush()
    except (BrokenPipeError, ConnectionResetError, OSError):
        pass  # being cut off is an acceptable answer
    client.sock.close()
    time.sleep(1.0)
    gatehouse = h2_processes["gatehouse"]
    assert gatehouse.proc.poll() is None, "Gatehouse died during the flood:\n" + gatehouse.output()[-3000:]
    # At most 32 connects in flight per server and event loop (2 loops, 2 servers), plus the odd
    # health probe: far below one connection per reset stream (up to nghttp2's burst of 1000).
    opened = backend_connections_accepted() - before
    print("backend connections opened during the flood:", opened)
    assert opened <= 2 * 2 * 32 + 40, f"{opened} backend connections for one flood"
    version, code, body = curl(h2_gatehouse, "/owa/healthcheck.htm", "--http2")
    assert code == 200 and version == "2"


def test_http2_limits_from_the_file_are_advertised(tmp_path):
    """limits.http2 and max_header_total reach the SETTINGS a client receives."""
    from conftest import start_gatehouse
    from h2_raw import H2Raw
    import h2.settings
    sims = [start_sim("mbx01")]
    limits = ("limits:\n  max_header_total: 128KiB\n"
              "  http2: { max_concurrent_streams: 7, initial_window_size: 256KiB, connection_window_size: 4MiB }\n")
    proxy = start_gatehouse(sims, tmp_path, limits_yaml=limits)
    try:
        with H2Raw(proxy.port, "mail.contoso.lab", str(CERTS / "ca.pem")) as client:
            assert client.wait_settings()
            settings = client.conn.remote_settings
            assert settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] == 7
            assert settings[h2.settings.SettingCodes.INITIAL_WINDOW_SIZE] == 256 * 1024
            assert settings[h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE] == 128 * 1024
            # The connection window: the protocol's 65,535 plus the WINDOW_UPDATE sent after the preface.
            assert client.wait(lambda: client.conn.outbound_flow_control_window == 4 * 1024 * 1024)
            sid = client.request("GET", "/owa/healthcheck.htm", "mail.contoso.lab")
            assert client.wait_stream(sid).status == 200
    finally:
        proxy.process.stop()
        sims[0].process.stop()
