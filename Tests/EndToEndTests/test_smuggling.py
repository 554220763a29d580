"""Request-smuggling shapes through the real proxy: each ambiguous framing is refused with 400 (or
505 for a version we do not speak) and the connection closed, so a request hidden behind it never
reaches a backend."""
import pytest

pytestmark = pytest.mark.usefixtures("proxy_log_on_failure")
HOST = "open.contoso.lab"
SMUGGLED = b"GET /owa/smuggled?sim-echo HTTP/1.1\r\nHost: open.contoso.lab\r\n\r\n"

SHAPES = [
    pytest.param(b"POST /API/a HTTP/1.1\r\nHost: open.contoso.lab\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
                 id="two-content-lengths"),
    pytest.param(b"POST /API/a HTTP/1.1\r\nHost: open.contoso.lab\r\nContent-Length: +5\r\n\r\nhello", id="signed-length"),
    pytest.param(b"POST /API/a HTTP/1.1\r\nHost: open.contoso.lab\r\nContent-Length: 0x5\r\n\r\nhello", id="hex-length"),
    pytest.param(b"POST /API/a HTTP/1.1\r\nHost: open.contoso.lab\r\nTransfer-Encoding: chunked, identity\r\n\r\n"
                 b"0\r\n\r\n", id="te-list"),
    pytest.param(b"POST /API/a HTTP/1.1\r\nHost: open.contoso.lab\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
                 id="te-unknown"),
    pytest.param(b"POST /API/a HTTP/1.1\r\nHost: open.contoso.lab\r\nTransfer-Encoding: chunked\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", id="te-twice"),
    pytest.param(b"POST /API/a HTTP/1.1\r\nHost: open.contoso.lab\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
                 id="space-before-colon"),
    pytest.param(b"POST /API/a HTTP/1.1\r\nHost: open.contoso.lab\r\nX-Folded: a\r\n Transfer-Encoding: chunked\r\n"
                 b"Content-Length: 3\r\n\r\nabc", id="obs-fold"),
    pytest.param(b"POST /API/a HTTP/1.1\r\nHost: open.contoso.lab\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"fffffffffffffffffff\r\n", id="chunk-size-overflow"),
    pytest.param(b"POST /API/a HTTP/1.1\r\nHost: open.contoso.lab\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"5\r\nhelloXX0\r\n\r\n", id="chunk-data-without-crlf"),
    pytest.param(b"GET /owa/ HTTP/1.1\r\nHost: open.contoso.lab\r\nX-Nul: a\x00b\r\n\r\n", id="nul-in-value"),
    pytest.param(b"GET /owa/  HTTP/1.1\r\nHost: open.contoso.lab\r\n\r\n", id="double-space-request-line"),
    pytest.param(b"GET /owa/ HTTP/1.1\nHost: open.contoso.lab\n\n", id="bare-lf"),
]


@pytest.mark.parametrize("request_bytes", SHAPES)
def test_ambiguous_framing_refused_and_nothing_smuggled(gatehouse, request_bytes):
    with gatehouse.raw(HOST, timeout=10) as raw:
        raw.send(request_bytes + SMUGGLED)
        first = raw.read_response()
        rest = raw.read_to_close()   # the connection must end; anything after the 400 is a leak
    assert first.status == 400, (first.status, first.body[:200])
    assert b"smuggled" not in rest and b"X-BEServer" not in rest, rest[:300]


def test_unsupported_http_version_is_refused(gatehouse):
    with gatehouse.raw(HOST, timeout=10) as raw:
        raw.send(b"GET /owa/ HTTP/2.0\r\nHost: open.contoso.lab\r\n\r\n")
        first = raw.read_response()
    assert first.status in (400, 505)


def test_chunked_body_with_extensions_and_trailers_forwarded_intact(gatehouse):
    # Legitimate chunked framing with a chunk extension and a trailer section still works.
    body = b"0123456789" * 10
    with gatehouse.raw(HOST, timeout=10) as raw:
        raw.send(b"POST /API/chunks HTTP/1.1\r\nHost: open.contoso.lab\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"32;name=value\r\n" + body[:50] + b"\r\n32\r\n" + body[50:] + b"\r\n0\r\nX-Checksum: 1\r\n\r\n")
        response = raw.read_response(method="POST")
    assert response.status == 200
    assert b'"bytes":100' in response.body
