"""Self-checks of the recording backend (no proxy involved): its strict parser and its answers, so a
failure in the security suites points at Gatehouse, not at the tool that watches it."""
import socket
import ssl

import pytest

from gatehouse_client import RawHTTPS
from recording_backend import BACKEND_CERT, BACKEND_TLS_NAME, RecordingBackend, RequestParser, StrictParseError


def parse(data, step):
    parser = RequestParser(1)
    requests = []
    for index in range(0, len(data), step):
        requests += parser.feed(data[index:index + step])
    return requests, parser


STREAM = (b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
          b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
          b"PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
          b"3;name=value\r\nxyz\r\n2\r\nqq\r\n0\r\nX-Trailer: 1\r\n\r\n"
          b"HEAD /d HTTP/1.1\r\nHost: x\r\n\r\n")


@pytest.mark.parametrize("step", [1, 7, len(STREAM)])
def test_parser_splits_a_stream_into_requests_whatever_the_reads(step):
    requests, parser = parse(STREAM, step)
    assert [(r.seq, r.method, r.target, r.framing, r.body) for r in requests] == [
        (1, "GET", "/a", "none", b""), (2, "POST", "/b", "content-length", b"abc"),
        (3, "PUT", "/c", "chunked", b"xyzqq"), (4, "HEAD", "/d", "none", b"")]
    assert requests[2].chunk_extensions == [";name=value", "", ""]
    assert requests[2].trailers == [("X-Trailer", "1")]
    assert not parser.started()


@pytest.mark.parametrize("data", [
    b"GET / HTTP/1.1\nHost: x\n\n",
    b"GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
    b"GET / HTTP/1.1\r\nBad Name: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n",
    b"GET /  HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    b"4a\r\nGET /smuggled HTTP/1.1\r\n\r\n",
], ids=["bare-lf", "bare-cr", "cl-list", "cl-twice", "cl-signed", "cl-and-te", "te-list", "te-twice",
        "chunk-no-crlf", "chunk-size-not-hex", "obs-fold", "space-in-name", "nul", "double-space", "http10",
        "chunk-line-as-request"])
@pytest.mark.parametrize("step", [1, 4096])
def test_parser_refuses_ambiguous_or_malformed_bytes(data, step):
    with pytest.raises(StrictParseError):
        parse(data, step)


@pytest.fixture
def backend():
    started = RecordingBackend()
    yield started
    started.stop()


def client(backend):
    ctx = ssl.create_default_context(cafile=str(BACKEND_CERT))
    return RawHTTPS(backend.port, BACKEND_TLS_NAME, ctx, timeout=5)


def test_backend_answers_and_records_per_connection(backend):
    with client(backend) as c:
        c.send(b"GET /x/one HTTP/1.1\r\nHost: h\r\n\r\nPOST /x/two HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"
               b"GET /x/healthcheck.htm HTTP/1.1\r\nHost: h\r\n\r\n")
        first, second, health = c.read_response(), c.read_response(), c.read_response()
    assert (first.status, first.header("X-RB-Conn"), first.header("X-RB-Seq"), first.header("X-RB-Target")) == (
        200, "1", "1", "/x/one")
    assert (second.header("X-RB-Seq"), second.header("X-RB-Method")) == ("2", "POST")
    assert b"body-bytes=2" in second.body
    assert health.status == 200
    assert [r.target for r in backend.snapshot()] == ["/x/one", "/x/two"]
    assert backend.wait_for(lambda: backend.record(1).peer_closed.is_set(), timeout=5)


def test_backend_close_on_first_request_then_answers(backend):
    request = b"GET /rb-close-on-post HTTP/1.1\r\nHost: h\r\n\r\n"
    with client(backend) as c:
        c.send(request)
        assert c.read_to_close() == b""
    with client(backend) as c:
        c.send(request)
        assert c.read_response().status == 200
    assert [r.conn_id for r in backend.requests_with("/rb-close-on-post")] == [1, 2]
    assert backend.record(1).closed_by_backend


def test_backend_special_answers(backend):
    with client(backend) as c:
        c.send(b"HEAD /rb-head-nocl HTTP/1.1\r\nHost: h\r\n\r\nGET /rb-ntlm401 HTTP/1.1\r\nHost: h\r\n\r\n")
        _, status, _, headers = c.read_head()
        names = {name.lower() for name, _ in headers}
        assert status == 200 and "content-length" not in names and "transfer-encoding" not in names
        unauthorized = c.read_response()
        assert unauthorized.status == 401 and unauthorized.header("WWW-Authenticate").startswith("NTLM TlRMTVNTUAAC")
        c.send(b"GET /rb-101 HTTP/1.1\r\nHost: h\r\n\r\n")
        assert c.read_head()[1] == 101
    with client(backend) as c:
        c.send(b"GET /rb-silent HTTP/1.1\r\nHost: h\r\n\r\n")
        c.sock.settimeout(0.3)
        with pytest.raises(socket.timeout):
            c.read_head()


def test_backend_without_tls_never_answers_the_client_hello():
    blackhole = RecordingBackend(handshake="never")
    try:
        sock = socket.create_connection(("127.0.0.1", blackhole.port), timeout=0.5)
        ctx = ssl.create_default_context(cafile=str(BACKEND_CERT))
        with pytest.raises(socket.timeout):
            ctx.wrap_socket(sock, server_hostname=BACKEND_TLS_NAME)
        sock.close()
        assert blackhole.wait_for(lambda: blackhole.all_connections(), timeout=2)
        assert not blackhole.all_connections()[0].tls_done
    finally:
        blackhole.stop()
