"""The plain-HTTP redirect listener against abuse: its own connection cap (`max_redirect_connections`,
so idle sockets on the redirect port never lock HTTPS clients out), the same header and idle timeouts
as the TLS listeners, and redirects only for hosts a virtual service lists (no open redirect)."""
import json
import socket
import time
import urllib.request

import pytest

from conftest import start_gatehouse, wait_for_port

pytestmark = pytest.mark.usefixtures("proxy_log_on_failure")

MAX_CONNECTIONS = 20
MAX_REDIRECT_CONNECTIONS = 5
HEADER_TIMEOUT = 1
IDLE_TIMEOUT = 4


@pytest.fixture(scope="module")
def capped(sims, tmp_path_factory):
    """Long timeouts: the held sockets stay open for as long as the test needs them."""
    gh = start_gatehouse(
        sims, tmp_path_factory.mktemp("capped"),
        limits_yaml=f"limits:\n  max_connections: {MAX_CONNECTIONS}\n"
                    f"  max_redirect_connections: {MAX_REDIRECT_CONNECTIONS}\n"
                    f"  client_header_timeout: 60s\n  client_idle_timeout: 60s")
    # start_gatehouse waits for the HTTPS port; the redirect listener binds just after it.
    wait_for_port(gh.http_port, gh.process.proc, log=gh.process.output)
    # wait_for_port's own probe took a redirect place; the proxy gives it back when it reads the
    # probe's close. Until then the cap admits one socket fewer (CI saw 26 of 30 refused, not 25).
    wait_for_redirect_places_free(gh)
    yield gh
    gh.process.stop()


def counted_connections(gh):
    """The admin state's connection caps: {"max_connections": {"open": n, "limit": l}, ...}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{gh.admin_port}/state", timeout=5) as response:
        return json.loads(response.read())["connections"]


def wait_for_redirect_places_free(gh, timeout=5):
    """Until the redirect cap counts no connection (closed sockets give their places back once the
    proxy reads their close)."""
    deadline = time.monotonic() + timeout
    while counted_connections(gh)["max_redirect_connections"]["open"] > 0:
        assert time.monotonic() < deadline, f"redirect places still taken: {counted_connections(gh)}"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def timed(sims, tmp_path_factory):
    """Short timeouts, told apart: the header timeout is a quarter of the idle timeout."""
    gh = start_gatehouse(
        sims, tmp_path_factory.mktemp("timed"),
        limits_yaml=f"limits:\n  client_header_timeout: {HEADER_TIMEOUT}s\n  client_idle_timeout: {IDLE_TIMEOUT}s")
    wait_for_port(gh.http_port, gh.process.proc, log=gh.process.output)
    yield gh
    gh.process.stop()


def plain(gatehouse, timeout=10):
    return socket.create_connection(("127.0.0.1", gatehouse.http_port), timeout=timeout)


def closed_by_peer(sock, seconds):
    """Seconds until the peer closed `sock` (EOF or reset), or None if it is still open after `seconds`."""
    started = time.monotonic()
    deadline = started + seconds
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, min(0.2, deadline - time.monotonic())))
        try:
            if not sock.recv(4096):
                return time.monotonic() - started
        except socket.timeout:
            continue
        except OSError:
            return time.monotonic() - started
    return None


def exchange(sock, request):
    """Sends `request` and reads one response head and its Content-Length body; (status, headers, body)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def test_idle_redirect_sockets_do_not_lock_https_clients_out(capped):
    held = []
    try:
        for _ in range(30):
            held.append(plain(capped))
        # A new HTTPS client is served: plain-HTTP sockets count against their own cap.
        with capped.client() as client:
            status, _, _ = client.get("/owa/healthcheck.htm")
        assert status == 200
        # The proxy keeps exactly its cap of redirect sockets and closes the rest at once.
        closed = [sock for sock in held if closed_by_peer(sock, 0.3) is not None]
        deadline = time.monotonic() + 5
        while len(closed) < 30 - MAX_REDIRECT_CONNECTIONS and time.monotonic() < deadline:
            closed = [sock for sock in held if sock in closed or closed_by_peer(sock, 0.1) is not None]
        assert len(closed) == 30 - MAX_REDIRECT_CONNECTIONS, f"{len(closed)} of 30 redirect sockets closed"
        # The admin state counts them against their own cap, and nothing of the TLS cap but the
        # one HTTPS client's connection (closed by now, or about to be).
        counted = counted_connections(capped)
        assert counted["max_redirect_connections"] == {"open": MAX_REDIRECT_CONNECTIONS, "limit": MAX_REDIRECT_CONNECTIONS}
        assert counted["max_connections"]["open"] <= 1 and counted["max_connections"]["limit"] == MAX_CONNECTIONS
        survivors = [sock for sock in held if sock not in closed]
        # The admitted ones still work.
        status, headers, _ = exchange(survivors[0], b"GET /owa/ HTTP/1.1\r\nHost: mail.contoso.lab\r\n\r\n")
        assert status == 301 and headers["location"] == f"https://mail.contoso.lab:{capped.port}/owa/"
        assert "max_redirect_connections" in capped.log(), "the refusal is not logged with its setting"
    finally:
        for sock in held:
            sock.close()
    # Places come back once sockets close.
    wait_for_redirect_places_free(capped)
    with plain(capped) as sock:
        status, _, _ = exchange(sock, b"GET / HTTP/1.1\r\nHost: mail.contoso.lab\r\nConnection: close\r\n\r\n")
    assert status == 301


def test_redirect_sockets_leave_the_tls_cap_whole(capped):
    """With the redirect cap full, all `max_connections` HTTPS connections can still be open at once."""
    wait_for_redirect_places_free(capped)
    held = [plain(capped) for _ in range(MAX_REDIRECT_CONNECTIONS)]
    clients = []
    try:
        for _ in range(MAX_CONNECTIONS):
            client = capped.client(timeout=10)
            clients.append(client)
            assert client.get("/owa/healthcheck.htm")[0] == 200
    finally:
        for client in clients:
            client.close()
        for sock in held:
            sock.close()


def test_idle_redirect_socket_is_closed_after_idle_timeout(timed):
    with plain(timed) as sock:
        took = closed_by_peer(sock, IDLE_TIMEOUT + 5)
    assert took is not None, f"an idle redirect socket is still open after {IDLE_TIMEOUT + 5}s"
    assert IDLE_TIMEOUT - 0.5 <= took <= IDLE_TIMEOUT + 3, f"closed after {took:.1f}s"


def test_redirect_socket_idle_after_a_redirect_is_closed_after_idle_timeout(timed):
    with plain(timed) as sock:
        status, _, _ = exchange(sock, b"GET /owa/ HTTP/1.1\r\nHost: mail.contoso.lab\r\n\r\n")
        assert status == 301
        took = closed_by_peer(sock, IDLE_TIMEOUT + 5)
    assert took is not None and IDLE_TIMEOUT - 0.5 <= took <= IDLE_TIMEOUT + 3, f"closed after {took}"


def test_half_a_header_on_the_redirect_port_is_cut_after_header_timeout(timed):
    with plain(timed) as sock:
        sock.sendall(b"GET /owa/ HTTP/1.1\r\nHost: mail.con")
        took = closed_by_peer(sock, IDLE_TIMEOUT + 5)
    assert took is not None, "half a request head was never cut"
    # Well before the idle timeout: it is the header clock that ran out.
    assert took <= HEADER_TIMEOUT + 2, f"closed after {took:.1f}s (header timeout {HEADER_TIMEOUT}s)"


def test_trickled_header_on_the_redirect_port_is_cut_after_header_timeout(timed):
    with plain(timed) as sock:
        sock.sendall(b"GET /owa/ HTTP/1.1\r\nHost: mail.contoso.lab\r\n")
        started = time.monotonic()
        took = None
        while time.monotonic() - started < IDLE_TIMEOUT + 2:
            try:
                sock.sendall(b"X")
            except OSError:
                took = time.monotonic() - started
                break
            if closed_by_peer(sock, 0.25) is not None:
                took = time.monotonic() - started
                break
    assert took is not None and took <= HEADER_TIMEOUT + 2, f"cut after {took}"


@pytest.mark.parametrize("request_line,host", [
    ("GET /owa/ HTTP/1.1", "evil.example"),
    ("GET /owa/ HTTP/1.1", "evil.example:80"),
    ("GET http://evil.example/ HTTP/1.1", "mail.contoso.lab"),
    ("GET http://evil.example:80/owa/?x=1 HTTP/1.1", "evil.example"),
])
def test_redirect_listener_refuses_hosts_no_service_lists(gatehouse, request_line, host):
    with plain(gatehouse) as sock:
        status, headers, body = exchange(
            sock, f"{request_line}\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    assert status == 421, body
    assert "location" not in headers
    assert b"evil" not in body


@pytest.mark.parametrize("request_line,host,location", [
    ("GET /owa/ HTTP/1.1", "mail.contoso.lab", "https://mail.contoso.lab:{port}/owa/"),
    ("GET /owa/ HTTP/1.1", "MAIL.Contoso.Lab.:80", "https://mail.contoso.lab:{port}/owa/"),
    ("GET http://mail.contoso.lab/owa/ HTTP/1.1", "evil.example", "https://mail.contoso.lab:{port}/owa/"),
])
def test_redirect_listener_redirects_listed_hosts_to_https(gatehouse, request_line, host, location):
    with plain(gatehouse) as sock:
        status, headers, _ = exchange(sock, f"{request_line}\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    assert status == 301
    assert headers["location"] == location.format(port=gatehouse.port)
