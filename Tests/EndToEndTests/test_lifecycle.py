"""Connection limits and process lifecycle, on a Gatehouse of this module's own with tight limits:
max_connections 4, client_header_timeout 1 s (idle 10 s, so the two are told apart), TLS handshake
timeout 2 s; and a throw-away Gatehouse stopped with SIGTERM."""
import signal
import socket
import ssl
import threading
import time

import pytest

from conftest import start_gatehouse

MAX_CONNECTIONS = 4
HEADER_TIMEOUT = 1
IDLE_TIMEOUT = 10
HANDSHAKE_TIMEOUT = 2


@pytest.fixture(scope="module")
def limited(sims, tmp_path_factory):
    gh = start_gatehouse(
        sims, tmp_path_factory.mktemp("limited"),
        limits_yaml=f"limits:\n  client_idle_timeout: {IDLE_TIMEOUT}s\n  max_connections: {MAX_CONNECTIONS}\n"
                    f"  client_header_timeout: {HEADER_TIMEOUT}s",
        tls_extra=f"      handshake_timeout: {HANDSHAKE_TIMEOUT}s")
    yield gh
    gh.process.stop()


def closed_within(sock, seconds):
    """Waits for the peer to close `sock`; returns the seconds it took, or None."""
    started = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - started < seconds:
        try:
            if not sock.recv(4096):
                return time.monotonic() - started
        except socket.timeout:
            continue
        except (ConnectionError, ssl.SSLError, OSError):
            return time.monotonic() - started
    return None


def test_tls_handshake_never_started_is_closed_after_handshake_timeout(limited):
    with socket.create_connection(("127.0.0.1", limited.port), timeout=10) as sock:
        took = closed_within(sock, HANDSHAKE_TIMEOUT + 5)
    assert took is not None, f"a silent TCP connection is still open after {HANDSHAKE_TIMEOUT + 5}s"
    assert took <= HANDSHAKE_TIMEOUT + 2, f"closed after {took:.1f}s"


def test_request_head_trickled_slowly_is_cut_after_header_timeout(limited):
    with limited.raw(timeout=15) as raw:
        raw.send(b"GET /owa/healthcheck.htm HTTP/1.1\r\nHost: mail.contoso.lab\r\n")
        started = time.monotonic()
        closed_at = None
        # Slowloris: one header byte every 0.3 s, never finishing the head.
        while time.monotonic() - started < HEADER_TIMEOUT + 4:
            try:
                raw.send(b"X")
            except (ConnectionError, ssl.SSLError, OSError):
                closed_at = time.monotonic() - started
                break
            if closed_within(raw.sock, 0.3) is not None:
                closed_at = time.monotonic() - started
                break
    assert closed_at is not None, f"a head trickled for {HEADER_TIMEOUT + 4}s was never cut"
    assert closed_at <= HEADER_TIMEOUT + 2


def test_max_connections_enforced(limited):
    extra = 3
    clients = []
    served = 0
    try:
        for _ in range(MAX_CONNECTIONS + extra):
            client = limited.client(timeout=5)
            clients.append(client)
            try:
                status, _, _ = client.get("/owa/healthcheck.htm")
                served += status == 200
            except (ConnectionError, ssl.SSLError, OSError, Exception):
                pass
    finally:
        for client in clients:
            client.close()
    assert served <= MAX_CONNECTIONS, f"{served} simultaneous connections served with max_connections {MAX_CONNECTIONS}"
    assert served >= 1
    assert "refus" in limited.log(), "refused connections are not logged"
    # Capacity comes back once connections close.
    time.sleep(0.5)
    with limited.client() as client:
        assert client.get("/owa/healthcheck.htm")[0] == 200


def test_sigterm_stops_promptly_with_open_client_connections(sims, tmp_path):
    # A request held past limits.shutdown_grace (2 s here) is cut; test_graceful_stop.py covers the rest.
    gh = start_gatehouse(sims, tmp_path, limits_yaml="limits:\n  shutdown_grace: 2s")
    outcome = {}

    def held_ping():
        try:
            with gh.client(timeout=30) as busy:
                outcome["status"] = busy.call(
                    "POST", "/Microsoft-Server-ActiveSync?Cmd=Ping&User=a&DeviceId=SIGTERM1&DeviceType=T&sim-hold=60",
                    body=b"\x03\x01\x6a\x00")[0]
        except Exception as error:   # the connection is cut by the shutdown
            outcome["error"] = error

    try:
        idle = gh.client()
        assert idle.get("/owa/healthcheck.htm")[0] == 200   # an idle keep-alive connection stays open
        ping = threading.Thread(target=held_ping, daemon=True)
        ping.start()
        time.sleep(0.5)   # the Ping is held at the backend now
        started = time.monotonic()
        gh.process.proc.send_signal(signal.SIGTERM)
        code = gh.process.proc.wait(timeout=20)
        took = time.monotonic() - started
        ping.join(timeout=10)
        idle.close()
        assert code == 0, gh.process.output()[-2000:]
        assert took < 10, f"exit took {took:.1f}s"
        assert outcome.get("status") != 200, "a Ping held 60 s was answered 200 within the shutdown"
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", gh.port), timeout=2).close()
    finally:
        gh.process.stop()


PING = "/Microsoft-Server-ActiveSync?Cmd=Ping&User=a&DeviceId=HEADTO{n}&DeviceType=T&sim-hold={hold}"


def test_header_timeout_does_not_cut_slow_responses_or_pipelined_requests(limited):
    # The head timer runs only while a head is being received: a response held 3 s (> 1 s) with a
    # second request pipelined behind it must both be answered.
    first = PING.format(n=1, hold=3)
    with limited.raw(timeout=15) as raw:
        raw.send(f"POST {first} HTTP/1.1\r\nHost: mail.contoso.lab\r\nContent-Length: 4\r\n\r\n\x03\x01\x6a\x00".encode())
        time.sleep(0.3)
        raw.send(b"GET /owa/healthcheck.htm HTTP/1.1\r\nHost: mail.contoso.lab\r\n\r\n")
        held = raw.read_response(method="POST")
        after = raw.read_response()
    assert held.status == 200
    assert after.status == 200 and after.body.startswith(b"200 OK<br/>")


def test_header_timeout_does_not_cut_slow_bodies_or_idle_keep_alive(limited):
    with limited.raw(timeout=15) as raw:
        raw.send(b"POST /owa/slow-body HTTP/1.1\r\nHost: mail.contoso.lab\r\nContent-Length: 30\r\n\r\n")
        for _ in range(6):            # the body trickles for 3 s after a complete head
            time.sleep(0.5)
            raw.send(b"12345")
        upload = raw.read_response(method="POST")
        time.sleep(3)                 # idle between requests: the idle timeout (10 s) applies, not 1 s
        raw.send(b"GET /owa/healthcheck.htm HTTP/1.1\r\nHost: mail.contoso.lab\r\n\r\n")
        after = raw.read_response()
    assert upload.status == 200 and b'"bytes":30' in upload.body
    assert after.status == 200
