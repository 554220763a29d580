"""Issue #14 item 3: graceful stop. At SIGTERM Gatehouse stops accepting, lets the requests in flight
finish (HTTP/1.1 answers carry `Connection: close`, HTTP/2 clients get GOAWAY and their open streams
complete), closes idle keep-alive connections at once, and cuts what still runs when
`limits.shutdown_grace` (3 s here) is over. Short requests are ActiveSync Pings the simulator holds 2 s."""
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import CERTS, start_gatehouse, start_sim

GRACE = 3
PING = "/Microsoft-Server-ActiveSync?Cmd=Ping&User=a&DeviceId={id}&DeviceType=T&sim-hold={hold}"
BODY = b"\x03\x01\x6a\x00"


@pytest.fixture
def stopping(tmp_path):
    sims = [start_sim("mbx01"), start_sim("mbx02")]
    gh = start_gatehouse(sims, tmp_path,
                         limits_yaml=f"limits:\n  shutdown_grace: {GRACE}s\n  client_idle_timeout: 60s")
    yield gh
    gh.process.stop()
    for sim in sims:
        sim.process.stop()


def test_sigterm_finishes_requests_in_flight_and_cuts_what_outlives_the_grace(stopping):
    gh = stopping
    outcomes = {}

    def short_request(n):
        try:
            with gh.client(timeout=30) as client:
                status, headers, _ = client.call("POST", PING.format(id=f"SHORT{n}", hold=2), body=BODY)
                outcomes[n] = (status, headers.get("connection"))
        except Exception as error:   # noqa: BLE001 - recorded and asserted below
            outcomes[n] = ("error", repr(error))

    def long_request():
        try:
            with gh.client(timeout=30) as client:
                outcomes["long"] = client.call("POST", PING.format(id="LONG", hold=30), body=BODY)[0]
        except Exception as error:   # noqa: BLE001
            outcomes["long"] = ("cut", repr(error))

    def http2_requests():
        urls = [f"https://127.0.0.1:{gh.port}{PING.format(id=f'H2-{n}', hold=2)}" for n in range(2)]
        outcomes["h2"] = subprocess.run(
            ["nghttp", "-nv", "-d", str(body_file), "-H", ":authority: mail.contoso.lab", *urls],
            capture_output=True, text=True, timeout=30)

    body_file = gh.config_path.parent / "ping.wbxml"
    body_file.write_bytes(BODY)
    idle = gh.client()
    assert idle.get("/owa/healthcheck.htm")[0] == 200   # now an idle keep-alive connection
    threads = [threading.Thread(target=short_request, args=(n,)) for n in range(6)]
    threads += [threading.Thread(target=long_request), threading.Thread(target=http2_requests)]
    for thread in threads:
        thread.start()
    time.sleep(0.8)   # every request is held at a backend now

    started = time.monotonic()
    gh.process.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    # No new connections.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", gh.port), timeout=2).close()
    # The idle keep-alive connection is closed at once, long before the grace is over.
    idle.sock.settimeout(2)
    assert idle.sock.recv(1) == b""
    idle.close()

    code = gh.process.proc.wait(timeout=GRACE + 10)
    took = time.monotonic() - started
    for thread in threads:
        thread.join(timeout=10)
    log = gh.process.output()
    assert code == 0, log[-2000:]

    # Every short request in flight at SIGTERM completed, told that the connection closes.
    for n in range(6):
        assert outcomes.get(n) == (200, "close"), (n, outcomes.get(n), log[-2000:])
    # HTTP/2: GOAWAY, and both streams opened before it answered 200.
    h2 = outcomes["h2"]
    assert h2.returncode == 0, h2.stdout[-3000:] + h2.stderr
    assert "recv GOAWAY frame" in h2.stdout and "error_code=NO_ERROR" in h2.stdout, h2.stdout[-3000:]
    assert h2.stdout.count(":status: 200") == 2, h2.stdout[-3000:]
    # The 30 s Ping outlived the grace: cut at about GRACE seconds, then the process exited.
    assert outcomes["long"][0] == "cut", outcomes["long"]
    assert GRACE - 0.5 <= took <= GRACE + 5, f"exit after {took:.1f}s"
    assert "shutdown_grace is over; closing the connections still open" in log
