"""Item 1 (request smuggling) as a matrix, checked at a recording backend that parses what Gatehouse
sends with a strict HTTP/1.1 parser of its own.

Methods x framing {chunked, content-length, both, neither} x {HTTP/1.1, HTTP/2}. The body is a
complete request (`GET /ecp/smuggled?...`); a proxy that forwards a body without framing it hands
that request to the backend as a second one. Expected (after the fix):
- "both" on HTTP/1.1: 400, nothing reaches the backend; on HTTP/2 (content-length plus a
  transfer-encoding field, which nghttp2 refuses): a stream reset or 400, nothing forwarded;
- otherwise exactly one backend request per client request, with the intended framing:
  Content-Length -> exactly one `Content-Length: n` line and n body bytes; chunked (HTTP/2: DATA
  without content-length) -> `Transfer-Encoding: chunked` with the same decoded body; neither ->
  no Content-Length / Transfer-Encoding and no body; never a request for /ecp/smuggled; and fresh
  client connections sent right after get their own responses (X-RB-Target / X-RB-Seq match).
- TRACE (with and without body): 405 from the proxy on both protocols, nothing forwarded;
  CONNECT: 405 on HTTP/1.1 (the connection may close), 405 or a stream reset on HTTP/2; never
  forwarded, and another client's request right after is answered correctly (item 3);
- `Content-Length: 5, 5` and two `Content-Length: 5` lines: the backend sees one `Content-Length: 5`.

Each case has a virtual service (host `<tag>.contoso.lab`, under the wildcard certificate) and a
pool of its own, so one case's backend connections never serve another case; every backend
connection whose bytes mention the tag belongs to the case.
"""
import ssl

import pytest

from conftest import CERTS
from gatehouse_client import RawHTTPS, http11_context
from h2_raw import H2Raw
from recording_backend import RecordingBackend, check_proxy, event_loop_count, pool_yaml, start_recording_gatehouse

METHODS = ["GET", "HEAD", "OPTIONS", "DELETE", "PROPFIND", "POST", "PUT", "PATCH", "RPC_IN_DATA"]
FRAMINGS = ["chunked", "content-length", "both", "neither"]
PROTOCOLS = ["h1", "h2"]
MATRIX = [(protocol, method, framing) for protocol in PROTOCOLS for method in METHODS for framing in FRAMINGS]
EXTRA_CASES = ["trace-h1-nobody", "trace-h1-body", "trace-h2-nobody", "trace-h2-body",
               "connect-h1", "connect-h2", "cl-list", "cl-twice"]
TIMEOUT = 5


def tag_of(index):
    return f"mx{index:03d}q"


def host_of(tag):
    return f"{tag}.contoso.lab"


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    """A recording backend and a Gatehouse with one service + pool per case (see the docstring)."""
    backend = RecordingBackend()
    tags = [tag_of(i) for i in range(len(MATRIX) + len(EXTRA_CASES))]
    pools = "".join(pool_yaml(tag, backend) for tag in tags)
    services = "".join(
        f"  - name: {tag}\n"
        f"    hosts: [{host_of(tag)}]\n"
        f"    routes:\n"
        f"      - {{ path: /rb/, pool: {tag}, compression: {{ enabled: false }} }}\n"
        f"      - {{ preset: rpc, pool: {tag}, http2: true }}\n"
        for tag in tags)
    gatehouse = None
    try:
        gatehouse = start_recording_gatehouse(tmp_path_factory.mktemp("matrix"), pools, services)
        gatehouse.loops = event_loop_count(gatehouse)
        yield gatehouse, backend
    finally:
        if gatehouse is not None:
            gatehouse.process.stop()
        backend.stop()


@pytest.fixture(autouse=True)
def proxy_alive(matrix, request):
    """Restarts a proxy an earlier case crashed; fails the case during which it exits."""
    yield from check_proxy(matrix[0], request)


def smuggled_request(tag):
    return (f"GET /ecp/smuggled?{tag} HTTP/1.1\r\nHost: {host_of(tag)}\r\n"
            f"X-Forwarded-For: 6.6.6.6\r\n\r\n").encode()


def chunked(body):
    """`body` in two chunks, the first with a chunk extension, then the last chunk."""
    half = len(body) // 2
    return (b"%x;ext=1\r\n" % half + body[:half] + b"\r\n" + b"%x\r\n" % (len(body) - half) + body[half:]
            + b"\r\n0\r\n\r\n")


def target_of(method, tag):
    return f"/rpc/rpcproxy.dll?{tag}-main" if method == "RPC_IN_DATA" else f"/rb/{tag}-main"


def raw_client(gatehouse, host):
    return RawHTTPS(gatehouse.port, host, http11_context(str(CERTS / "ca.pem")), timeout=TIMEOUT)


def h2_client(gatehouse, host):
    return H2Raw(gatehouse.port, host, str(CERTS / "ca.pem"), timeout=TIMEOUT)


def case_connections(backend, tag):
    """Backend connections whose received bytes mention the case's tag (its host or targets)."""
    needle = tag.encode()
    return [record for record in backend.all_connections() if needle in bytes(record.raw)]


def backend_story(backend, tag):
    records = case_connections(backend, tag)
    return backend.describe({record.id for record in records}) or "(no backend connection mentions the case)"


def nothing_forwarded(backend, tag):
    records = case_connections(backend, tag)
    return not records, backend_story(backend, tag)


def followups(gatehouse, tag):
    """Fresh client connections (one per event loop, so one shares the first client's loop and hence
    its pool of backend connections), each with one GET: each must get its own response."""
    problems, targets = [], []
    for index in range(gatehouse.loops):
        target = f"/rb/{tag}-after-{index}"
        targets.append(target)
        try:
            with raw_client(gatehouse, host_of(tag)) as raw:
                raw.send(f"GET {target} HTTP/1.1\r\nHost: {host_of(tag)}\r\n\r\n".encode())
                response = raw.read_response()
        except (OSError, ssl.SSLError, ValueError) as error:
            problems.append(f"follow-up {target}: no response ({error!r})")
            continue
        if response.status != 200 or response.header("X-RB-Target") != target:
            problems.append(f"follow-up {target} got someone else's response: status {response.status}, "
                            f"X-RB-Target {response.header('X-RB-Target')}, X-RB-Conn {response.header('X-RB-Conn')}, "
                            f"X-RB-Seq {response.header('X-RB-Seq')}, body {response.body[:120]!r}")
    return problems, targets


def check_backend(backend, tag, method, main_target, framing, body, followup_targets):
    """Problems with what the case's backend connections received (empty when all is right)."""
    problems = []
    records = case_connections(backend, tag)
    requests = [request for record in records for request in record.requests]
    for record in records:
        for error in record.errors:
            problems.append(f"backend connection {record.id}: strict parser refused the bytes: {error}")
    # Anywhere at the backend (not only on this case's connections), but this case's smuggled request.
    smuggled = [r for r in backend.snapshot() if r.target.startswith("/ecp/smuggled") and tag in r.target]
    if smuggled:
        problems.append(f"SMUGGLED: the backend parsed {len(smuggled)} request(s) for /ecp/smuggled: "
                        + "; ".join(f"conn {r.conn_id} #{r.seq} {r.method} {r.target}" for r in smuggled))
    mains = [r for r in requests if r.target == main_target]
    if len(mains) != 1:
        problems.append(f"the backend parsed {len(mains)} requests for {main_target} (expected exactly one)")
    for target in followup_targets:
        count = sum(1 for r in requests if r.target == target)
        if count != 1:
            problems.append(f"the backend parsed {count} requests for the follow-up {target} (expected one)")
    unexpected = [r for r in requests if r.target != main_target and r.target not in followup_targets]
    if unexpected:
        problems.append("the backend parsed requests nobody sent: "
                        + "; ".join(f"conn {r.conn_id} #{r.seq} {r.method} {r.target}" for r in unexpected))
    if len(mains) == 1:
        main = mains[0]
        if main.method != method:
            problems.append(f"method {main.method!r} at the backend, expected {method!r}")
        lengths, codings = main.values("content-length"), main.values("transfer-encoding")
        if framing == "content-length":
            if lengths != [str(len(body))] or codings:
                problems.append(f"expected exactly one 'Content-Length: {len(body)}' line and no Transfer-Encoding, "
                                f"got Content-Length {lengths}, Transfer-Encoding {codings}")
        elif framing == "chunked":
            if codings != ["chunked"] or lengths:
                problems.append(f"expected 'Transfer-Encoding: chunked' and no Content-Length, "
                                f"got Transfer-Encoding {codings}, Content-Length {lengths}")
        elif framing == "none":
            if lengths or codings:
                problems.append(f"a request without body reached the backend with Content-Length {lengths}, "
                                f"Transfer-Encoding {codings}")
        if main.body != body:
            problems.append(f"decoded body at the backend {main.body[:120]!r} ({len(main.body)} bytes) differs from "
                            f"what the client sent {body[:120]!r} ({len(body)} bytes)")
    return problems


def send_h1(gatehouse, method, tag, framing):
    """Sends the case's request on HTTP/1.1; returns (response or None, what followed, error)."""
    host, target = host_of(tag), target_of(method, tag)
    smuggled = smuggled_request(tag)
    head = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n".encode()
    if framing == "chunked":
        data = head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(smuggled)
    elif framing == "content-length":
        data = head + b"Content-Length: %d\r\n\r\n" % len(smuggled) + smuggled
    elif framing == "both":
        encoded = chunked(smuggled)
        data = head + b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % len(encoded) + encoded
    else:
        data = head + b"\r\n"
    with raw_client(gatehouse, host) as raw:
        raw.send(data)
        try:
            response = raw.read_response(method=method)
        except (OSError, ssl.SSLError, ValueError) as error:
            return None, b"", error
        rest = raw.read_to_close() if framing == "both" else b""
    return response, rest, None


def send_h2(gatehouse, method, tag, framing):
    """Sends the case's request on HTTP/2; returns the stream's StreamState."""
    host, target = host_of(tag), target_of(method, tag)
    smuggled = smuggled_request(tag)
    fields = [(":method", method), (":path", target), (":scheme", "https"), (":authority", host)]
    with h2_client(gatehouse, host) as client:
        if framing == "neither":
            sid = client.headers(fields, end_stream=True)
        else:
            if framing in ("content-length", "both"):
                fields.append(("content-length", str(len(smuggled))))
            if framing == "both":
                fields.append(("transfer-encoding", "chunked"))
            sid = client.headers(fields, end_stream=False)
            half = len(smuggled) // 2
            if client.data(sid, smuggled[:half], end_stream=False):
                client.data(sid, smuggled[half:], end_stream=True)
        return client.wait_stream(sid)


@pytest.mark.parametrize("protocol,method,framing", MATRIX, ids=[f"{p}-{m}-{f}" for p, m, f in MATRIX])
def test_smuggling_matrix(matrix, protocol, method, framing):
    gatehouse, backend = matrix
    tag = tag_of(MATRIX.index((protocol, method, framing)))
    main_target = target_of(method, tag)
    smuggled = smuggled_request(tag)

    if framing == "both":
        if protocol == "h1":
            response, rest, error = send_h1(gatehouse, method, tag, framing)
            assert error is None, f"no response to Content-Length + Transfer-Encoding: {error!r}"
            assert response.status == 400, (f"Content-Length + Transfer-Encoding must be 400, got {response.status} "
                                            f"{response.body[:200]!r}")
            assert b"HTTP/1.1" not in rest, f"a second response followed the 400: {rest[:300]!r}"
        else:
            stream = send_h2(gatehouse, method, tag, framing)
            assert stream.reset is not None or stream.status == 400, (
                f"content-length + transfer-encoding on HTTP/2 must be reset or 400, got {stream!r}")
        empty, story = nothing_forwarded(backend, tag)
        assert empty, f"a request with both framings reached the backend:\n{story}"
        return

    if protocol == "h1":
        response, _, error = send_h1(gatehouse, method, tag, framing)
        assert error is None, f"no response from the proxy: {error!r}\n{backend_story(backend, tag)}"
        status, got_target = response.status, response.header("X-RB-Target")
        detail = f"{response.headers} {response.body[:200]!r}"
    else:
        stream = send_h2(gatehouse, method, tag, framing)
        status, got_target = stream.status, stream.header("x-rb-target")
        detail = repr(stream)
    assert status == 200 and got_target == main_target, (
        f"the client did not get the backend's answer to its own request: status {status}, X-RB-Target "
        f"{got_target} (expected {main_target}); {detail}\n{backend_story(backend, tag)}")

    problems, followup_targets = followups(gatehouse, tag)
    backend.wait_for(lambda: all(backend.requests_with(t) for t in followup_targets), timeout=2)
    intended = {"chunked": "chunked", "content-length": "content-length", "neither": "none"}[framing]
    body = b"" if framing == "neither" else smuggled
    problems = check_backend(backend, tag, method, main_target, intended, body, followup_targets) + problems
    assert not problems, "\n".join(problems) + "\n--- backend connections of this case:\n" + backend_story(backend, tag)


def extra_tag(name):
    return tag_of(len(MATRIX) + EXTRA_CASES.index(name))


@pytest.mark.parametrize("with_body", [False, True], ids=["nobody", "body"])
def test_trace_is_405_on_http11_and_never_forwarded(matrix, with_body):
    gatehouse, backend = matrix
    tag = extra_tag(f"trace-h1-{'body' if with_body else 'nobody'}")
    host = host_of(tag)
    smuggled = smuggled_request(tag)
    head = f"TRACE /rb/{tag}-trace HTTP/1.1\r\nHost: {host}\r\n".encode()
    data = head + (b"Content-Length: %d\r\n\r\n" % len(smuggled) + smuggled if with_body else b"\r\n")
    with raw_client(gatehouse, host) as raw:
        raw.send(data)
        try:
            response = raw.read_response()
        except (OSError, ssl.SSLError, ValueError) as error:
            pytest.fail(f"no answer to TRACE: {error!r}\n{backend_story(backend, tag)}")
    empty, story = nothing_forwarded(backend, tag)
    assert response.status == 405, (f"TRACE must be answered 405 by the proxy, got {response.status} "
                                    f"(X-RB-Conn {response.header('X-RB-Conn')}: forwarded)\n{story}")
    assert empty, f"TRACE reached the backend:\n{story}"


@pytest.mark.parametrize("with_body", [False, True], ids=["nobody", "body"])
def test_trace_is_405_on_http2_and_never_forwarded(matrix, with_body):
    gatehouse, backend = matrix
    tag = extra_tag(f"trace-h2-{'body' if with_body else 'nobody'}")
    host = host_of(tag)
    with h2_client(gatehouse, host) as client:
        sid = client.request("TRACE", f"/rb/{tag}-trace", host, body=smuggled_request(tag) if with_body else None)
        stream = client.wait_stream(sid)
    empty, story = nothing_forwarded(backend, tag)
    assert stream.status == 405, f"TRACE over HTTP/2 must be answered 405 by the proxy, got {stream!r}\n{story}"
    assert empty, f"TRACE reached the backend:\n{story}"


def test_connect_is_405_on_http11_never_forwarded_and_next_client_is_served(matrix):
    gatehouse, backend = matrix
    tag = extra_tag("connect-h1")
    host = host_of(tag)
    with raw_client(gatehouse, host) as raw:
        # Nothing after the head: bytes after a refused CONNECT are a legitimate next request.
        raw.send(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
        try:
            response = raw.read_response()
        except (OSError, ssl.SSLError, ValueError) as error:
            pytest.fail(f"no answer to CONNECT: {error!r}\n{backend_story(backend, tag)}")
    problems, _ = followups(gatehouse, tag)
    forwarded = [r for r in backend.snapshot() if tag in r.target and not r.target.startswith(f"/rb/{tag}-after-")]
    forwarded += [r for r in backend.snapshot() if r.method == "CONNECT" and r not in forwarded]
    assert response.status == 405, f"CONNECT must be answered 405, got {response.status} {response.body[:200]!r}"
    assert not forwarded, f"CONNECT (or what followed it) reached the backend: {forwarded}"
    assert not problems, "\n".join(problems)


def test_connect_on_http2_is_refused_never_forwarded_and_next_client_is_served(matrix):
    gatehouse, backend = matrix
    tag = extra_tag("connect-h2")
    host = host_of(tag)
    with h2_client(gatehouse, host) as client:
        sid = client.headers([(":method", "CONNECT"), (":authority", f"{host}:443")], end_stream=False)
        client.data(sid, smuggled_request(tag), end_stream=False)
        stream = client.wait_stream(sid)
    problems, _ = followups(gatehouse, tag)
    forwarded = [r for r in backend.snapshot() if tag in r.target and not r.target.startswith(f"/rb/{tag}-after-")]
    forwarded += [r for r in backend.snapshot() if r.method == "CONNECT" and r not in forwarded]
    assert stream.reset is not None or stream.status == 405, f"CONNECT over HTTP/2 must be reset or 405: {stream!r}"
    assert not forwarded, f"CONNECT (or its DATA) reached the backend: {forwarded}"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("lines", [["Content-Length: 5, 5"], ["Content-Length: 5", "Content-Length: 5"]],
                         ids=["list-5-5", "two-lines"])
def test_repeated_identical_content_length_reaches_backend_as_one_line(matrix, lines):
    gatehouse, backend = matrix
    tag = extra_tag("cl-list" if len(lines) == 1 else "cl-twice")
    host = host_of(tag)
    target = f"/rb/{tag}-cl"
    with raw_client(gatehouse, host) as raw:
        framing = "".join(f"{line}\r\n" for line in lines)
        raw.send(f"POST {target} HTTP/1.1\r\nHost: {host}\r\n{framing}\r\nhello".encode())
        try:
            response = raw.read_response()
        except (OSError, ssl.SSLError, ValueError) as error:
            pytest.fail(f"no answer: {error!r}\n{backend_story(backend, tag)}")
    story = backend_story(backend, tag)
    errors = [error for record in case_connections(backend, tag) for error in record.errors]
    assert not errors, f"the backend's strict parser refused the forwarded framing: {errors}\n{story}"
    assert response.status == 200, f"{response.status} {response.body[:200]!r}\n{story}"
    [forwarded] = backend.requests_with(target)
    assert forwarded.values("content-length") == ["5"] and forwarded.body == b"hello", forwarded.describe()
