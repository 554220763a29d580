"""Backends that cannot be trusted, cannot be reached, or die mid-response."""
import http.client
import socket
import ssl
import time

import pytest

pytestmark = pytest.mark.usefixtures("proxy_log_on_failure")
HOST = "open.contoso.lab"
DOOMED = "doomed.contoso.lab"
MIB = 1 << 20


def test_untrusted_backend_certificate_is_502(gatehouse):
    # The impostor presents a self-signed CN=mbx01 / mbx01.contoso.lab that is not the pool's trusted one.
    with gatehouse.client(HOST) as client:
        status, headers, body = client.get("/impostor/owa/healthcheck.htm")
    assert status == 502, body
    assert len(body) < 512, body
    assert b"mbx01.contoso.lab" not in body, "the impostor's answer leaked through"
    assert "x-beserver" not in headers
    assert "TLS failed" in gatehouse.log() or "certificate" in gatehouse.log().lower()


def test_refused_backend_is_502(gatehouse):
    with gatehouse.client(HOST) as client:
        started = time.monotonic()
        status, _, body = client.get("/refused/owa/healthcheck.htm")
        elapsed = time.monotonic() - started
        # The client connection stays usable after a local 502.
        status2, _, body2 = client.get("/owa/healthcheck.htm")
    assert status == 502, body
    assert len(body) < 512, body
    assert elapsed < 5, f"refused connection took {elapsed:.1f}s to report"
    assert status2 == 200 and body2 == b"200 OK<br/>mbx03.contoso.lab"


def read_until_closed(response, limit):
    """Reads until the connection ends (EOF, reset or TLS error); returns the bytes received.
    A read timeout is not an end: it means the proxy left the client hanging."""
    received = 0
    try:
        while received < limit:
            data = response.read(MIB)
            if not data:
                break
            received += len(data)
    except socket.timeout:
        raise AssertionError(f"the proxy left the client hanging after {received} bytes")
    except (http.client.IncompleteRead, ConnectionError, ssl.SSLError, OSError):
        pass
    return received


@pytest.fixture
def doomed(gatehouse):
    sim = gatehouse.backends["doomed"]
    yield sim
    sim.restart()


def test_backend_killed_mid_download_closes_client_without_complete_body(gatehouse, doomed):
    size = 1 << 30
    with gatehouse.client(DOOMED, timeout=10) as client:
        response = client.request("GET", f"/owa/big.bin?sim-bytes={size}")
        assert response.status == 200
        # Content-Length framing: a connection that ends before `size` bytes is a visible truncation.
        assert response.getheader("content-length") == str(size)
        assert response.getheader("transfer-encoding") is None
        first = len(response.read(4 * MIB))
        doomed.process.kill()
        total = first + read_until_closed(response, size)
        assert response.isclosed()
    assert total < size


def test_backend_killed_mid_chunked_response_never_sends_last_chunk(gatehouse, doomed):
    # A chunked response (MAPI NotificationWait) cut by the backend: the proxy must not write the
    # terminating zero-length chunk, or the client takes the truncated body as complete.
    with gatehouse.raw(DOOMED, timeout=10) as raw:
        raw.send(b"POST /mapi/emsmdb/?MailboxId=a@contoso.lab&sim-interval=0.2&sim-duration=30 HTTP/1.1\r\n"
                 b"Host: doomed.contoso.lab\r\nX-RequestType: NotificationWait\r\nContent-Length: 0\r\n\r\n")
        version, status, _, headers = raw.read_head()
        assert status == 200
        assert dict((k.lower(), v) for k, v in headers).get("transfer-encoding", "").lower() == "chunked"
        # Two PENDING lines prove the stream is live, then the backend dies.
        seen = b""
        while seen.count(b"PENDING") < 2:
            raw._fill()
            seen += raw.buffer
            raw.buffer = b""
        doomed.process.kill()
        started = time.monotonic()
        rest = raw.read_to_close()
        assert time.monotonic() - started < 8, "the proxy left the client hanging"
    tail = seen + rest
    assert b"DONE" not in tail
    assert not tail.endswith(b"0\r\n\r\n"), f"the proxy ended the chunked body as if complete: {tail[-40:]!r}"
