"""What clients send cannot forge access-log lines or reach a backend altered: an HTTP/2 `:path` with
line separators, NEL and quotes gives exactly one escaped, printable access-log line; an HTTP/1.1
header value that is not UTF-8 is refused with 400 before any backend sees it."""
import json
import pathlib
import time
import uuid

import pytest

from conftest import CERTS, start_gatehouse, start_sim
from h2_client import H2Client

HOST = "mail.contoso.lab"


@pytest.fixture(scope="module")
def backend():
    """A sim of this module's own (no NTLM), so its request counter sees only this module's requests."""
    sim = start_sim("mbx01")
    yield sim
    sim.process.stop()


@pytest.fixture(scope="module")
def proxy(backend, tmp_path_factory):
    # No active health probes: they would count as backend requests.
    gh = start_gatehouse([backend], tmp_path_factory.mktemp("hygiene"), pool_extra="    health: { enabled: false }")
    yield gh
    gh.process.stop()


def proxy_output(gh):
    """The proxy's whole output (access log on stdout, logger on stderr) as bytes, exactly as written."""
    gh.process.log.flush()
    return pathlib.Path(gh.process.log.name).read_bytes()


def access_lines_with(gh, marker, timeout=5):
    """The output lines (split on LF only, as a log reader would) that contain `marker`, once there are any."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in proxy_output(gh).split(b"\n") if marker in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def h2_request(gh, path):
    """Sends GET `path` (bytes, as is) over HTTP/2; returns the response's :status (None if reset)."""
    client = H2Client(gh.port, HOST, str(CERTS / "ca.pem"), timeout=15)
    try:
        # The path is hostile on purpose: do not let the client library refuse to send it.
        client.conn.config.validate_outbound_headers = False
        client.conn.config.normalize_outbound_headers = False
        sid = client.request("GET", path, HOST)
        client.wait_all([sid])
        return client.responses[sid]["headers"].get(":status")
    finally:
        client.close()


def test_http2_path_with_line_separators_gives_one_escaped_log_line(proxy):
    marker = f"logtest-{uuid.uuid4().hex[:12]}"
    # U+2028 LINE SEPARATOR, U+2029 PARAGRAPH SEPARATOR, U+0085 NEL (line breaks to many log
    # readers; nghttp2 lets them through, unlike CR and LF), a quote, a backslash.
    path = f"/owa/{marker}/a\u2028b\u0085c\"d\\e\u2029f".encode()
    status = h2_request(proxy, path)
    assert status is not None
    lines = access_lines_with(proxy, marker.encode())
    assert len(lines) == 1, lines
    line = lines[0]
    assert all(0x20 <= byte <= 0x7E for byte in line), line
    assert f"/owa/{marker}/a\\xe2\\x80\\xa8b\\xc2\\x85c\\x22d\\x5ce\\xe2\\x80\\xa9f ".encode() in line, line
    # The format's own quotes only: around the request (and the reason, when there is one).
    assert line.count(b'"') in (2, 4), line
    # None of the raw separators made it into the proxy's output.
    output = proxy_output(proxy)
    for raw in ("\u2028", "\u2029", "\u0085"):
        assert raw.encode() not in output


def test_http2_path_with_a_raw_nel_byte_never_breaks_the_log(proxy):
    """0x85 alone (NEL in Latin-1, not UTF-8) passes nghttp2's :path check. Whether the proxy answers
    such a request or resets the stream, the output holds one line for an answer (none for a reset),
    in printable ASCII, and never the raw byte."""
    marker = f"logtest-{uuid.uuid4().hex[:12]}"
    status = h2_request(proxy, f"/owa/{marker}/a".encode() + b"\x85" + b"b\"c")
    lines = access_lines_with(proxy, marker.encode(), timeout=5 if status is not None else 1)
    assert len(lines) == (1 if status is not None else 0), (status, lines)
    for line in lines:
        assert all(0x20 <= byte <= 0x7E for byte in line), line
        assert b"\\x22c" in line, line
    assert b"\x85" not in proxy_output(proxy)


def backend_requests(sim):
    with sim.client() as client:
        status, _, body = client.get("/_sim/state")
    assert status == 200
    return json.loads(body)["requests"]


def test_http11_header_value_with_0xff_is_400_and_never_reaches_the_backend(proxy, backend):
    before = backend_requests(backend)
    with proxy.raw(HOST, timeout=10) as raw:
        raw.send(b"GET /owa/never?sim-echo HTTP/1.1\r\nHost: " + HOST.encode()
                 + b"\r\nX-Name: J\xffrgen\r\n\r\n")
        response = raw.read_response()
        assert response.status == 400
        assert raw.wait_closed(5), "the connection stays open after a malformed request"
    # Only the state request itself reached the backend since `before`.
    assert backend_requests(backend) == before + 1


def test_http11_header_value_in_utf8_reaches_the_backend_unchanged(proxy, backend):
    with proxy.raw(HOST, timeout=10) as raw:
        raw.send(b"GET /owa/utf8?sim-echo HTTP/1.1\r\nHost: " + HOST.encode()
                 + "\r\nX-Name: Jürgen Müller \u2014 日本\r\nConnection: close\r\n\r\n".encode())
        response = raw.read_response()
    assert response.status == 200, response.body
    headers = {name.lower(): value for name, value in json.loads(response.body)["headers"]}
    assert headers["x-name"] == "Jürgen Müller \u2014 日本"


def test_http2_header_value_with_0xff_is_refused_and_never_reaches_the_backend(proxy, backend):
    """HTTP/2 carries header bytes that are not UTF-8 as they are (nghttp2 allows obs-text); the proxy
    refuses the stream (PROTOCOL_ERROR) rather than turn them into U+FFFD on the way to the backend."""
    from h2_raw import H2Raw
    before = backend_requests(backend)
    with H2Raw(proxy.port, HOST, str(CERTS / "ca.pem"), timeout=10) as client:
        sid = client.request("GET", "/owa/never-h2?sim-echo", HOST, headers=[(b"x-name", b"J\xffrgen")])
        stream = client.wait_stream(sid)
        ok = client.request("GET", "/owa/after-h2?sim-echo", HOST, headers=[("x-name", "Jürgen")])
        after = client.wait_stream(ok)
    assert stream.reset == 1, f"expected RST_STREAM PROTOCOL_ERROR, got {stream!r}"
    assert after.status == 200, after
    # The valid request and the state request reached the backend; the refused one never did.
    assert backend_requests(backend) == before + 2
