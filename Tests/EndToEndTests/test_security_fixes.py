"""Security fixes checked at a recording backend (items 4-8, 10, 11): what Gatehouse sends to the
backend, on which backend connection, and when it closes it.

One Gatehouse for the module, every test on a route with a pool of its own (so backend connections
never cross tests); host mail.contoso.lab. Backends: `rb` (normal), `blackhole` (accepts TCP, never
answers the TLS ClientHello), `slow` (starts the TLS handshake after 3 s).
"""
import hashlib
import ssl
import time

import pytest

from conftest import CERTS
from gatehouse_client import RawHTTPS, http11_context
from h2_raw import HTTP_1_1_REQUIRED, H2Raw
from recording_backend import (RecordingBackend, check_proxy, event_loop_count, pool_counter, pool_yaml,
                               start_recording_gatehouse, wait_until)

HOST = "mail.contoso.lab"
TIMEOUT = 5
NTLM_NEGOTIATE_TOKEN = "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw=="
NEGOTIATE_TOKEN = "YIIBSgYGKwYBBQUCoIIBPjCCATqgMDAuBgkqhkiC9xIBAgIGCSqGSIb3EgECAgYKKwYBBAGCNwICHgYKKwYBBAGCNwICCg=="

# route prefix -> (pool, backend key, extra route options)
ROUTES = {
    "/t-ntlm/": ("ntlm", "rb", ""),
    "/t-pin0/": ("pin0", "rb", ""),
    "/t-pin1/": ("pin1", "rb", ""),
    "/t-pin2/": ("pin2", "rb", ""),
    "/t-pin3/": ("pin3", "rb", ""),
    "/t-h2pin/": ("h2pin", "rb", ""),
    "/t-up/": ("up", "rb", ""),
    "/t-close/": ("close", "rb", ""),
    "/t-head/": ("head", "rb", ""),
    "/t-slow/": ("slow", "slow", ""),
    "/t-big/": ("big", "rb", "max_body: 64MiB"),
    "/t-rpost/": ("rpost", "rb", ""),
    "/t-rpost0/": ("rpost0", "rb", ""),
    "/t-rget/": ("rget", "rb", ""),
    "/t-hdr/": ("hdr", "rb", "timeouts: { header: 1s, idle: 30s }"),
    "/t-conn/": ("conn", "blackhole", "timeouts: { connect: 1s }"),
}


@pytest.fixture(scope="module")
def sec(tmp_path_factory):
    backends = {"rb": RecordingBackend(), "blackhole": RecordingBackend(handshake="never"),
                "slow": RecordingBackend(handshake=3.0)}
    # Pools allow 10 s to connect: the route's own connect timeout (1 s on /t-conn/) must be what
    # applies, and the slow backend's 3 s handshake must fit.
    pools = "".join(pool_yaml(pool, backends[key], connect_timeout="10s") for pool, key, _ in ROUTES.values())
    routes = "".join(
        f"      - {{ path: {prefix}, pool: {pool}, compression: {{ enabled: false }}{', ' + extra if extra else ''} }}\n"
        for prefix, (pool, _, extra) in ROUTES.items())
    services = f"  - name: sec\n    hosts: [{HOST}]\n    routes:\n{routes}"
    gatehouse = None
    try:
        gatehouse = start_recording_gatehouse(tmp_path_factory.mktemp("sec"), pools, services)
        gatehouse.loops = event_loop_count(gatehouse)
        gatehouse.recorders = backends
        yield gatehouse
    finally:
        if gatehouse is not None:
            gatehouse.process.stop()
        for backend in backends.values():
            backend.stop()


@pytest.fixture(autouse=True)
def proxy_alive(sec, request):
    """Restarts a proxy an earlier test crashed; fails the test during which it exits (with its log)."""
    yield from check_proxy(sec, request)


def raw(gatehouse, timeout=TIMEOUT):
    return RawHTTPS(gatehouse.port, HOST, http11_context(str(CERTS / "ca.pem")), timeout=timeout)


def get(target, *lines):
    extra = "".join(f"{line}\r\n" for line in lines)
    return f"GET {target} HTTP/1.1\r\nHost: {HOST}\r\n{extra}\r\n".encode()


def one_request(gatehouse, data, method="GET", timeout=TIMEOUT):
    """A fresh client connection, one request, its response (or the exception connecting or reading)."""
    try:
        with raw(gatehouse, timeout) as client:
            client.send(data)
            return client.read_response(method=method)
    except (OSError, ssl.SSLError, ValueError) as error:
        return error


def conn_of(response):
    value = response.header("X-RB-Conn") if not isinstance(response, Exception) else None
    return int(value) if value else None


# ---- item 4: pinned NTLM slots must not leak with pipelining


def test_pipelined_ntlm_requests_release_every_pinned_connection(sec):
    backend = sec.recorders["rb"]
    count = 4
    batch = b"".join(get(f"/t-ntlm/rb-ntlm401?i={i}", f"Authorization: NTLM {NTLM_NEGOTIATE_TOKEN}")
                     for i in range(count))
    with raw(sec) as client:
        client.send(batch)
        responses = [client.read_response() for _ in range(count)]
    for response in responses:
        assert response.status == 401 and (response.header("WWW-Authenticate") or "").startswith("NTLM "), (
            response.status, response.headers)
    used = {conn_of(r) for r in responses}
    # The client is gone: its pinned backend connection(s) must be closed and the slots freed.
    freed = wait_until(lambda: pool_counter(sec, "ntlm", "pinned") == 0, timeout=5)
    pinned = pool_counter(sec, "ntlm", "pinned")
    still_open = [c for c in used if not backend.record(c).peer_closed.is_set()]
    assert freed, (f"pinned NTLM connections leaked: /state still counts {pinned} pinned for pool ntlm 5 s after the "
                   f"client left (backend connections used: {sorted(used)}, still open: {still_open})")
    assert not still_open, f"backend connections {still_open} of the departed NTLM client are still open"


# ---- item 5: NTLM/Negotiate detection


H1_SHAPES = {
    "negotiate-tab": [f"Authorization: Negotiate\t{NEGOTIATE_TOKEN}"],
    "ntlm-lowercase": [f"authorization: ntlm {NTLM_NEGOTIATE_TOKEN}"],
    "negotiate-uppercase": [f"Authorization: NEGOTIATE {NEGOTIATE_TOKEN}"],
    "basic-then-ntlm": ["Authorization: Basic dXNlcjpwYXNzd29yZA==", f"Authorization: NTLM {NTLM_NEGOTIATE_TOKEN}"],
}


@pytest.mark.parametrize("shape", list(H1_SHAPES))
def test_connection_auth_shapes_pin_on_http11(sec, shape):
    backend = sec.recorders["rb"]
    prefix = f"/t-pin{list(H1_SHAPES).index(shape)}/"
    others = 2 * sec.loops      # consecutive connections cycle through the event loops: one shares A's
    with raw(sec) as a:
        a.send(get(f"{prefix}a1", *H1_SHAPES[shape]))
        first = a.read_response()
        assert first.status == 200, (first.status, first.body[:200])
        pinned = conn_of(first)
        during = [one_request(sec, get(f"{prefix}b-during-{i}")) for i in range(others)]
        a.send(get(f"{prefix}a2"))
        second = a.read_response()
    unanswered = [(f"b-during-{i}", r if isinstance(r, Exception) else r.status)
                  for i, r in enumerate(during) if isinstance(r, Exception) or r.status != 200]
    assert not unanswered, f"{shape}: client B's requests were not answered 200: {unanswered}"
    intruders = [(i, conn_of(r)) for i, r in enumerate(during) if conn_of(r) == pinned]
    assert not intruders, (f"{shape}: not pinned: client B's requests {intruders} arrived on client A's authenticated "
                           f"backend connection {pinned}\n{backend.describe({pinned})}")
    assert conn_of(second) == pinned, (f"{shape}: client A's second request went to backend connection "
                                       f"{conn_of(second)}, not its authenticated connection {pinned}")
    closed = backend.wait_for(lambda: backend.record(pinned).peer_closed.is_set(), timeout=5)
    after = [one_request(sec, get(f"{prefix}b-after-{i}")) for i in range(others)]
    reused = [(i, conn_of(r)) for i, r in enumerate(after) if conn_of(r) == pinned]
    assert closed, f"{shape}: client A left but its authenticated backend connection {pinned} was not closed in 5 s"
    unanswered = [(f"b-after-{i}", r if isinstance(r, Exception) else r.status)
                  for i, r in enumerate(after) if isinstance(r, Exception) or r.status != 200]
    assert not unanswered, f"{shape}: requests after A left were not answered 200: {unanswered}"
    assert not reused, f"{shape}: requests after A left {reused} reused A's backend connection {pinned}"
    on_pinned = [r.target for r in backend.record(pinned).requests]
    assert on_pinned == [f"{prefix}a1", f"{prefix}a2"], f"{shape}: backend connection {pinned} carried {on_pinned}"


H2_SHAPES = {
    "negotiate-tab": [("authorization", f"Negotiate\t{NEGOTIATE_TOKEN}")],
    "ntlm-lowercase": [("authorization", f"ntlm {NTLM_NEGOTIATE_TOKEN}")],
    "negotiate-uppercase": [("authorization", f"NEGOTIATE {NEGOTIATE_TOKEN}")],
    "basic-then-ntlm": [("authorization", "Basic dXNlcjpwYXNzd29yZA=="),
                        ("authorization", f"NTLM {NTLM_NEGOTIATE_TOKEN}")],
}


@pytest.mark.parametrize("shape", list(H2_SHAPES))
def test_connection_auth_shapes_get_http_1_1_required_on_http2(sec, shape):
    backend = sec.recorders["rb"]
    target = f"/t-h2pin/{shape}"
    with H2Raw(sec.port, HOST, str(CERTS / "ca.pem"), timeout=TIMEOUT) as client:
        sid = client.request("GET", target, HOST, headers=H2_SHAPES[shape])
        stream = client.wait_stream(sid)
    forwarded = backend.requests_with(target)
    assert stream.reset == HTTP_1_1_REQUIRED, (f"{shape}: expected RST_STREAM HTTP_1_1_REQUIRED (0xd), got {stream!r}; "
                                               f"forwarded: {[r.describe() for r in forwarded]}")
    assert not forwarded, f"{shape}: the request reached the backend: {[r.describe() for r in forwarded]}"


# ---- item 6: a 101 from the backend


def test_backend_101_gives_502_and_the_backend_connection_is_closed(sec):
    backend = sec.recorders["rb"]
    with raw(sec) as client:
        client.send(get("/t-up/rb-101"))
        started = time.monotonic()
        try:
            response = client.read_response()
        except (OSError, ssl.SSLError, ValueError) as error:
            response = error
        waited = time.monotonic() - started
    [upgraded] = backend.requests_with("/t-up/rb-101")
    closed = backend.wait_for(lambda: backend.record(upgraded.conn_id).peer_closed.is_set(), timeout=5)
    after = one_request(sec, get("/t-up/after"))
    exited = wait_until(lambda: sec.process.proc.poll() is not None, timeout=0.3)
    assert not exited, (f"the proxy crashed (status {sec.process.proc.poll()}) after the backend's 101; "
                        f"the client's answer had been {response!r}")
    assert not isinstance(response, Exception), (
        f"no answer {waited:.1f} s after the backend's 101 (expected 502): {response!r}")
    assert response.status == 502, (response.status, response.headers, response.body[:200])
    assert closed, f"the proxy kept backend connection {upgraded.conn_id} open after its 101"
    assert not isinstance(after, Exception) and after.status == 200, after
    assert conn_of(after) != upgraded.conn_id, "the next request reused the switched backend connection"


# ---- item 7: Connection: close with a pipelined request behind it


def warm_idle_connections(gatehouse, prefix, per_loop=2):
    """Leaves at least `per_loop` idle backend connections in the route's pool on every event loop:
    2 x loops client connections (consecutive connections cycle through the loops) whose requests
    overlap at the backend (each answer is held 300 ms), so each loop opens two or more."""
    clients = [raw(gatehouse) for _ in range(per_loop * gatehouse.loops)]
    try:
        for index, client in enumerate(clients):
            client.send(get(f"{prefix}warm/rb-delay-300?{index}"))
        for client in clients:
            assert client.read_response().status == 200
    finally:
        for client in clients:
            client.close()


def test_connection_close_then_pipelined_request_is_never_forwarded(sec):
    backend = sec.recorders["rb"]
    # With idle backend connections at hand, a request let through after `Connection: close` is
    # forwarded at once (before the client connection is closed), not just started.
    warm_idle_connections(sec, "/t-close/")
    idle = pool_counter(sec, "close", "idle")
    assert idle >= 2 * sec.loops, f"precondition: {idle} idle backend connections, wanted {2 * sec.loops}"
    with raw(sec) as client:
        client.send(get("/t-close/a", "Connection: close") + get("/t-close/b"))
        first = client.read_response()
        rest = client.read_to_close()
    assert first.status == 200 and first.header("X-RB-Target") == "/t-close/a", (first.status, first.headers)
    assert b"HTTP/1.1" not in rest, f"a second response followed a Connection: close response: {rest[:300]!r}"
    leaked = backend.wait_for(lambda: backend.requests_with("/t-close/b"), timeout=0.5)
    assert not leaked, f"the request after Connection: close reached the backend: {[r.describe() for r in leaked]}"


# ---- item 8: HEAD answered without Content-Length


def test_head_response_without_length_has_no_body_and_next_response_parses(sec):
    with raw(sec) as client:
        client.send(f"HEAD /t-head/rb-head-nocl HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode() + get("/t-head/next"))
        _, status, _, headers = client.read_head()
        try:
            after = client.read_response()
        except (OSError, ssl.SSLError, ValueError) as error:
            after = error
        leftover = client.buffer
    chunked = [v for k, v in headers if k.lower() == "transfer-encoding"]
    assert status == 200, (status, headers)
    assert not chunked, f"HEAD response carries Transfer-Encoding {chunked}: {headers}"
    assert not isinstance(after, Exception), (f"the response after the HEAD response does not parse ({after!r}): "
                                              f"body bytes followed the HEAD response head; buffer {leftover[:200]!r}")
    assert after.status == 200 and after.header("X-RB-Target") == "/t-head/next", (after.status, after.headers)


# ---- item 10: HTTP/2 request bodies are bounded while the backend is not ready


def test_http2_upload_to_a_backend_still_connecting_is_held_to_64_kib(sec):
    with H2Raw(sec.port, HOST, str(CERTS / "ca.pem"), timeout=TIMEOUT) as client:
        assert client.wait_settings(), "no SETTINGS from the proxy"
        sid = client.headers([(":method", "POST"), (":path", "/t-slow/upload"), (":scheme", "https"),
                              (":authority", HOST)], end_stream=False)
        state = client.streams[sid]
        started = time.monotonic()
        block = b"u" * 16384
        for _ in range(100_000):
            if time.monotonic() - started >= 1.5 or state.reset is not None or client.closed:
                break
            window = min(client.conn.local_flow_control_window(sid), client.conn.max_outbound_frame_size, len(block))
            if window > 0:
                client.conn.send_data(sid, block[:window])
                state.sent += window
                client.flush()
            else:
                client.pump(0.02)
        sent = state.sent
    assert sent <= 65536, (f"the proxy let an HTTP/2 client send {sent} bytes on one stream while the backend was "
                           f"still connecting (at most 65536 expected)")


def test_http2_upload_of_20_mib_without_content_length_arrives_whole(sec):
    backend = sec.recorders["rb"]
    size = 20 << 20
    body = hashlib.sha256(b"gatehouse").digest() * (size // 32)
    with H2Raw(sec.port, HOST, str(CERTS / "ca.pem"), timeout=10) as client:
        sid = client.request("POST", "/t-big/upload", HOST, body=body, content_length=False)
        stream = client.wait_stream(sid, timeout=30)
    [received] = backend.requests_with("/t-big/upload")
    assert stream.status == 200, stream
    assert received.framing == "chunked", received.describe()
    assert len(received.body) == size and hashlib.sha256(received.body).digest() == hashlib.sha256(body).digest(), (
        f"the backend got {len(received.body)} bytes of {size}")


# ---- item 11: resend rule and route timeouts


@pytest.mark.parametrize("prefix,body", [("/t-rpost/", "payload"), ("/t-rpost0/", "")], ids=["with-body", "no-body"])
def test_post_whose_reused_backend_connection_closes_is_502_and_never_resent(sec, prefix, body):
    # Not even a POST without a body: the backend may have acted on it before the connection failed.
    backend = sec.recorders["rb"]
    target = f"{prefix}rb-close-on-post"
    with raw(sec) as client:
        client.send(get(f"{prefix}warm"))
        warm = client.read_response()
        assert warm.status == 200
        client.send(f"POST {target} HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode())
        try:
            response = client.read_response()
        except (OSError, ssl.SSLError, ValueError) as error:
            response = error
    backend.wait_for(lambda: len(backend.requests_with(target)) >= 2, timeout=0.5)
    seen = backend.requests_with(target)
    assert seen and seen[0].conn_id == conn_of(warm), (
        f"precondition: the POST should reuse the warmed backend connection {conn_of(warm)}: {seen}")
    assert len(seen) == 1, f"the POST was sent to the backend {len(seen)} times: {[r.describe() for r in seen]}"
    assert not isinstance(response, Exception) and response.status == 502, response


def test_get_whose_reused_backend_connection_closes_is_resent_once(sec):
    backend = sec.recorders["rb"]
    target = "/t-rget/rb-close-on-post"
    with raw(sec) as client:
        client.send(get("/t-rget/warm"))
        warm = client.read_response()
        assert warm.status == 200
        client.send(get(target))
        try:
            response = client.read_response()
        except (OSError, ssl.SSLError, ValueError) as error:
            response = error
    seen = backend.requests_with(target)
    assert seen and seen[0].conn_id == conn_of(warm), (
        f"precondition: the GET should reuse the warmed backend connection {conn_of(warm)}: {seen}")
    assert not isinstance(response, Exception) and response.status == 200, response
    assert len(seen) == 2, f"expected the first attempt (closed) and one resend, saw {len(seen)}"


def timed(gatehouse, data, limit):
    started = time.monotonic()
    response = one_request(gatehouse, data, timeout=limit)
    return response, time.monotonic() - started


def test_route_header_timeout_gives_504(sec):
    response, elapsed = timed(sec, get("/t-hdr/rb-silent"), limit=6)
    assert not isinstance(response, Exception), (
        f"no answer within {elapsed:.1f} s from a route with timeouts {{ header: 1s, idle: 30s }}: {response!r}")
    assert response.status == 504 and 1.0 <= elapsed <= 4.0, (response.status, f"{elapsed:.2f} s")


def test_route_connect_timeout_covers_the_tls_handshake(sec):
    blackhole = sec.recorders["blackhole"]
    response, elapsed = timed(sec, get("/t-conn/x"), limit=6)
    assert blackhole.all_connections(), "precondition: the proxy never connected to the blackhole backend"
    assert not isinstance(response, Exception), (
        f"no answer within {elapsed:.1f} s from a route with timeouts {{ connect: 1s }} whose backend never "
        f"completes TLS: {response!r}")
    assert response.status == 504 and 1.0 <= elapsed <= 4.0, (response.status, f"{elapsed:.2f} s")
