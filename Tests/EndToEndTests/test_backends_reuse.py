"""Issue 18: backend connections are reused when clients open one connection per request.

Mobile clients reconnect all day; a mailbox server behind Gatehouse must not pay a TLS handshake for
every client connection. Each test opens CLIENTS client TLS connections, CONCURRENCY at a time, one
request each, ending the connection the way real clients do (`Connection: close`; reading the
response and closing; closing with a TCP RST), and counts the backend's accepted connections (the
simulator's own counter, /_sim/state). Health probes are off, so every backend connection counted
was opened for a client request.

Concurrency needs at most one backend connection per request in flight per event loop; the bound
allows twice that. Closing or failing to pool the backend connection with each client connection
would open about one backend connection per client connection (CLIENTS).
"""
import json
import os
import socket
import ssl
import struct
import threading

import pytest

from conftest import CERTS, require_binaries, start_gatehouse, start_sim

CLIENTS = 200
CONCURRENCY = 8
# Gatehouse runs one event loop per core (GatehouseServer's default); each has its own pool.
EVENT_LOOPS = os.cpu_count() or 1
NO_HEALTH = "    health: { enabled: false }\n"


@pytest.fixture
def proxy(tmp_path):
    require_binaries()
    sim = start_sim("mbx01")
    gh = start_gatehouse([sim], tmp_path, pool_extra=NO_HEALTH)
    yield sim, gh
    gh.process.stop()
    sim.process.stop()


def sim_state(sim):
    """The simulator's counters (this query's own connection and request included)."""
    context = ssl.create_default_context(cafile=str(sim.cert))
    with socket.create_connection(("127.0.0.1", sim.port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=f"{sim.name}.contoso.lab") as tls:
            tls.sendall(b"GET /_sim/state HTTP/1.1\r\nHost: mbx01.contoso.lab\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    return json.loads(data.partition(b"\r\n\r\n")[2])


def accepted(sim):
    """The simulator's count of accepted connections (this query's own connection excluded)."""
    return sim_state(sim)["connectionsAccepted"] - 1


def response_complete(data):
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def one_request(port, context, ending):
    """One client connection, one GET, ended as `ending` says. Returns the status line."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=20)
    tls = context.wrap_socket(raw, server_hostname="mail.contoso.lab")
    try:
        close = "Connection: close\r\n" if ending == "connection-close" else ""
        tls.sendall(f"GET /owa/healthcheck.htm HTTP/1.1\r\nHost: mail.contoso.lab\r\n{close}\r\n".encode())
        if ending == "abort":
            # Gone before the answer: closed right after the request.
            return b"aborted"
        data = b""
        while not (ending != "connection-close" and response_complete(data)):
            chunk = tls.recv(65536)
            if not chunk:
                break
            data += chunk
        if ending == "rst":
            tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return data.split(b"\r\n", 1)[0]
    finally:
        tls.close()


def run_clients(port, ending):
    context = ssl.create_default_context(cafile=str(CERTS / "ca.pem"))
    context.set_alpn_protocols(["http/1.1"])
    lock = threading.Lock()
    left = [CLIENTS]
    statuses = []

    def worker():
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            try:
                status = one_request(port, context, ending)
            except OSError as error:
                status = f"error: {error}".encode()
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return statuses


@pytest.mark.parametrize("ending", ["connection-close", "client-closes", "rst"])
def test_one_request_per_client_connection_reuses_backend_connections(proxy, ending):
    sim, gh = proxy
    before = accepted(sim)
    statuses = run_clients(gh.port, ending)
    opened = accepted(sim) - before
    failed = [s for s in statuses if not s.startswith(b"HTTP/1.1 200")]
    assert len(statuses) == CLIENTS and not failed, (failed[:5], gh.log()[-2000:])
    bound = 2 * EVENT_LOOPS * CONCURRENCY
    assert opened <= bound, (
        f"{opened} backend connections opened for {CLIENTS} client connections ({ending}), "
        f"at most {bound} expected: backend connections are not reused across client connections")


def test_clients_gone_before_the_response_leave_backend_connections_pooled(proxy):
    """A client that resets its connection right after sending its request (a phone losing its
    network): the request was sent in full, so the backend's short answer is read and discarded and
    the connection is pooled (BackendDrain), not closed with the client."""
    sim, gh = proxy
    before = sim_state(sim)
    statuses = run_clients(gh.port, "abort")
    assert len(statuses) == CLIENTS and all(s == b"aborted" for s in statuses), statuses[:5]
    # Every request reaches the backend, then one more that must still find the pool intact.
    with gh.client() as client:
        status, _, _ = client.get("/owa/healthcheck.htm")
    assert status == 200
    after = sim_state(sim)
    opened = after["connectionsAccepted"] - before["connectionsAccepted"] - 1
    forwarded = after["requests"] - before["requests"] - 2
    # Most requests reach the backend before the proxy notices the client left (else this test
    # would measure nothing).
    assert forwarded >= CLIENTS // 4, f"only {forwarded} of {CLIENTS} abandoned requests reached the backend"
    bound = 2 * EVENT_LOOPS * CONCURRENCY
    assert opened <= bound, (
        f"{opened} backend connections opened for {CLIENTS} client connections ({forwarded} requests "
        f"forwarded) that left before "
        f"their response, at most {bound} expected: abandoned exchanges close their backend connection")
