"""Response compression through the real proxy (issue 8): zlib round trips, negotiation, long polls."""
import hashlib
import ssl
import time
import zlib

import pytest

from conftest import start_gatehouse, start_sim, CERTS
from gatehouse_client import HTTPSClient

ROUTES = """      - { path: /gz/, pool: mailbox, compression: { enabled: true, level: 6, min_size: 0, types: [application/octet-stream, text/*] } }
      - { path: /mapi/emsmdb/, pool: mailbox, compression: { enabled: true, types: [application/mapi-http] } }
"""


@pytest.fixture(scope="module")
def gz_gatehouse(tmp_path_factory):
    # Anonymous simulators: these tests are about bodies, not authentication.
    sims = [start_sim("mbx01"), start_sim("mbx02")]
    gh = start_gatehouse(sims, tmp_path_factory.mktemp("gz"), route_overrides=ROUTES)
    yield gh
    gh.process.stop()
    for sim in sims:
        sim.process.stop()


def expected_stream(n: int) -> bytes:
    block = bytes(i % 251 for i in range(251 * 64))
    reps, rest = divmod(n, len(block))
    return block * reps + block[:rest]


def client(gh):
    ctx = ssl.create_default_context(cafile=str(CERTS / "ca.pem"))
    ctx.set_alpn_protocols(["http/1.1"])
    return HTTPSClient("127.0.0.1", gh.port, "mail.contoso.lab", ctx)


@pytest.mark.parametrize("size", [0, 1, 1024, 10 * 1024 * 1024])
@pytest.mark.parametrize("coding,wbits", [("gzip", 31), ("deflate", 15)])
def test_round_trip_sizes(gz_gatehouse, size, coding, wbits):
    c = client(gz_gatehouse)
    status, headers, body = c.get(f"/gz/?sim-bytes={size}", headers={"Accept-Encoding": coding})
    assert status == 200
    if size == 0:
        # An empty body is never worth an encoding (it would only add zlib's header and trailer).
        assert body == b"" and "content-encoding" not in headers
        return
    assert headers.get("content-encoding") == coding
    assert "accept-encoding" in headers.get("vary", "").lower()
    assert "content-length" not in headers or int(headers["content-length"]) == len(body)
    plain = zlib.decompress(body, wbits)
    assert plain == expected_stream(size)
    if size >= 1024:
        assert len(body) < size  # the deterministic stream compresses well
    c.close()


@pytest.mark.parametrize("accept,expected", [
    ("gzip", "gzip"),
    ("deflate, gzip", "gzip"),          # gzip preferred at equal quality
    ("gzip;q=0, deflate", "deflate"),
    ("gzip;q=0", None),
    ("identity", None),
    ("*", "gzip"),
    ("*;q=0, identity", None),
    ("br", None),
    (None, None),
])
def test_negotiation(gz_gatehouse, accept, expected):
    c = client(gz_gatehouse)
    headers = {"Accept-Encoding": accept} if accept is not None else {}
    status, response_headers, body = c.get("/gz/?sim-bytes=4096", headers=headers)
    assert status == 200
    assert response_headers.get("content-encoding") == expected
    if expected is None:
        assert body == expected_stream(4096)
    c.close()


def test_not_compressed_where_policy_says_no(gz_gatehouse):
    c = client(gz_gatehouse)
    # OAB downloads (.lzx) are already compressed; the oab preset has compression off.
    status, headers, body = c.get("/OAB/00000000-0000-0000-0000-000000000001/full.lzx?sim-bytes=5000",
                                  headers={"Accept-Encoding": "gzip"})
    assert status == 200 and "content-encoding" not in headers and len(body) == 5000
    # HEAD: never compressed (and no body).
    r = c.request("HEAD", "/gz/?sim-bytes=5000", headers={"Accept-Encoding": "gzip"})
    r.read()
    assert r.getheader("content-encoding") is None
    # A range request is passed through untouched.
    status, headers, body = c.get("/gz/?sim-bytes=5000", headers={"Accept-Encoding": "gzip", "Range": "bytes=0-9"})
    assert "content-encoding" not in headers
    c.close()


def test_owa_page_compressed_and_decodes(gz_gatehouse):
    c = client(gz_gatehouse)
    plain_by_server = {}
    for _ in range(4):   # the page names its server; collect one from each backend
        status, headers, plain = c.get("/owa/")
        assert status == 200 and "content-encoding" not in headers
        plain_by_server[headers["x-beserver"]] = plain
    for _ in range(4):
        status, headers, body = c.get("/owa/", headers={"Accept-Encoding": "gzip"})
        assert headers.get("content-encoding") == "gzip"
        server = headers["x-beserver"]
        if server in plain_by_server:
            assert zlib.decompress(body, 31) == plain_by_server[server]
            assert len(body) * 4 < len(plain_by_server[server])
    c.close()


def test_compressed_long_poll_chunks_arrive_one_by_one(gz_gatehouse):
    """PENDING lines of a compressed MAPI NotificationWait reach the client as they are sent."""
    c = client(gz_gatehouse)
    r = c.request("POST", "/mapi/emsmdb/?MailboxId=a@contoso.lab&sim-interval=0.6&sim-duration=2.4",
                  body=b"", headers={"X-RequestType": "NotificationWait", "Accept-Encoding": "gzip",
                                     "Content-Type": "application/mapi-http"})
    assert r.status == 200
    assert r.getheader("content-encoding") == "gzip"
    d = zlib.decompressobj(31)
    arrivals = []
    text = b""
    start = time.monotonic()
    while True:
        chunk = r.read1(65536)
        if not chunk:
            break
        out = d.decompress(chunk)
        if out:
            text += out
            arrivals.append((time.monotonic() - start, text.count(b"PENDING")))
    text += d.flush()
    assert text.count(b"PENDING") == 4 and text.rstrip().endswith(b"DONE")
    # Each PENDING line was decodable when it arrived: the first long before the end.
    first = next(t for t, n in arrivals if n >= 1)
    last = arrivals[-1][0]
    assert first < 1.2 and last > 2.0, arrivals
    c.close()
