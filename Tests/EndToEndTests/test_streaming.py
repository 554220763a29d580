"""Large bodies stream through Gatehouse both ways with backpressure: the bytes arrive intact
(SHA-256) and the proxy's memory stays bounded (VmRSS sampled during the transfer).

All on the `open` service (mbx03, no NTLM) so these tests are about streaming only.
"""
import hashlib
import json
import time

import pytest

from conftest import RSSMonitor
from gatehouse_client import pattern_sha256, upload_chunks, upload_sha256

GIB = 1 << 30
MIB = 1 << 20
RSS_BOUND_MIB = 64
HOST = "open.contoso.lab"

pytestmark = pytest.mark.usefixtures("proxy_log_on_failure")



def assert_bounded(rss):
    print("\n" + rss.describe())
    assert rss.samples >= 5, "too few RSS samples to judge: " + rss.describe()
    assert rss.growth_mib() < RSS_BOUND_MIB, rss.describe()


def read_all(response, digest, piece=MIB):
    """Reads a response body to its end in pieces; returns the byte count."""
    total = 0
    while True:
        data = response.read(piece)
        if not data:
            return total
        digest.update(data)
        total += len(data)


def test_1gib_download_intact_with_bounded_memory(gatehouse):
    size = GIB
    digest = hashlib.sha256()
    with gatehouse.client(HOST, timeout=60) as client, RSSMonitor(gatehouse.process) as rss:
        response = client.request("GET", f"/owa/big.bin?sim-bytes={size}")
        assert response.status == 200
        assert response.getheader("content-length") == str(size)
        received = read_all(response, digest)
    assert received == size
    assert digest.hexdigest() == pattern_sha256(size)
    assert_bounded(rss)


def test_1gib_chunked_post_upload_intact_with_bounded_memory(gatehouse):
    size = GIB
    with gatehouse.client(HOST, timeout=60) as client, RSSMonitor(gatehouse.process) as rss:
        # No Content-Length: the client streams Transfer-Encoding: chunked from a generator.
        status, _, body = client.call("POST", "/API/upload", body=upload_chunks(size),
                                      headers={"Content-Type": "application/octet-stream"})
    assert status == 200, body
    answer = json.loads(body)
    assert answer["bytes"] == size
    assert answer["sha256"] == upload_sha256(size)
    assert_bounded(rss)


def test_rpc_in_data_1gib_content_length_streams_to_backend(gatehouse):
    # Outlook Anywhere's RPC_IN_DATA declares ~1 GB and trickles RPC PDUs into it for the life of
    # the channel: the proxy must stream, never wait for the whole body.
    size = GIB
    with gatehouse.client(HOST, timeout=60) as client, RSSMonitor(gatehouse.process) as rss:
        status, _, body = client.call(
            "RPC_IN_DATA", "/rpc/rpcproxy.dll?mbx03.contoso.lab:6001", body=upload_chunks(size),
            headers={"Content-Length": str(size), "Content-Type": "application/rpc"})
    assert status == 200, body
    answer = json.loads(body)
    assert answer["bytes"] == size
    assert answer["sha256"] == upload_sha256(size)
    assert_bounded(rss)


def test_rpc_in_data_reaches_backend_before_body_ends(gatehouse):
    # The backend must see the head (and answer 100-continue-free channels) while the client is
    # still sending: send half the body, pause, check the sim counted the request, then finish.
    size = 8 * MIB
    with gatehouse.backends["mbx03"].client() as admin:
        baseline = json.loads(admin.get("/_sim/state")[2])["requests"]
    with gatehouse.client(HOST, timeout=30) as client:
        conn = client.conn
        conn.putrequest("RPC_IN_DATA", "/rpc/rpcproxy.dll?mbx03.contoso.lab:6001", skip_host=True,
                        skip_accept_encoding=True)
        conn.putheader("Host", HOST)
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        pieces = list(upload_chunks(size))
        for piece in pieces[: len(pieces) // 2]:
            conn.send(piece)
        sim = gatehouse.backends["mbx03"]
        seen = False
        polls = 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not seen:
            with sim.client() as admin:
                _, _, state = admin.get("/_sim/state")
            polls += 1
            # Every request the sim starts counts, the state polls included: one more than the
            # polls since the baseline means the RPC_IN_DATA head reached the backend.
            seen = json.loads(state)["requests"] > baseline + polls
            if not seen:
                time.sleep(0.1)
        for piece in pieces[len(pieces) // 2:]:
            conn.send(piece)
        response = conn.getresponse()
        body = response.read()
    assert seen, "the backend had no open connection for the RPC_IN_DATA while its body was half sent"
    assert response.status == 200
    assert json.loads(body) == {"bytes": size, "sha256": upload_sha256(size)}


def test_rpc_out_data_streams_out(gatehouse):
    size = 256 * MIB
    digest = hashlib.sha256()
    with gatehouse.client(HOST, timeout=60) as client, RSSMonitor(gatehouse.process) as rss:
        started = time.monotonic()
        response = client.request("RPC_OUT_DATA", f"/rpc/rpcproxy.dll?mbx03.contoso.lab:6001&sim-bytes={size}",
                                  body=b"\x05\x00\x14\x03" + bytes(72))
        assert response.status == 200
        assert response.getheader("content-type") == "application/rpc"
        first = response.read(MIB)
        first_at = time.monotonic() - started
        digest.update(first)
        received = len(first) + read_all(response, digest)
        total = time.monotonic() - started
    assert received == size
    assert digest.hexdigest() == pattern_sha256(size)
    # Streaming: the first MiB came long before the last (a buffering proxy sends all at the end).
    assert first_at < total / 4, f"first MiB after {first_at:.2f}s of {total:.2f}s"
    assert_bounded(rss)


def test_slow_client_download_is_held_back_not_buffered(gatehouse):
    size = 512 * MIB
    digest = hashlib.sha256()
    with gatehouse.client(HOST, timeout=60) as client, RSSMonitor(gatehouse.process) as rss:
        response = client.request("GET", f"/owa/slow.bin?sim-bytes={size}")
        assert response.status == 200
        first = response.read(8 * MIB)
        digest.update(first)
        # Stop reading: the backend keeps trying to send; the proxy must stop reading from it.
        time.sleep(3)
        paused_growth = rss.growth_mib()
        received = len(first) + read_all(response, digest)
    assert paused_growth < RSS_BOUND_MIB, "while the client was not reading: " + rss.describe()
    assert received == size
    assert digest.hexdigest() == pattern_sha256(size)
    assert_bounded(rss)


UPLOAD_HELD_BOUND_MIB = 48


def test_slow_backend_upload_is_held_back_not_buffered(tmp_path):
    """A backend that stops reading an upload: the proxy stops reading from the client, so the
    client's send blocks (what it got out stays within socket buffers and the proxy's small
    per-request allowance, far below the body) and the proxy's memory does not grow; once the
    backend reads again, the whole body arrives intact."""
    import socket
    import ssl
    import threading

    from conftest import CERTS, start_gatehouse
    from stalling_backend import StallingBackend

    backend = StallingBackend()
    proxy = start_gatehouse([backend], tmp_path, pool_extra="    health: { enabled: false }",
                            route_overrides="      - { path: /upload/, pool: mailbox, max_body: 1GiB }\n")
    size = 128 * MIB
    sent = [0]
    errors = []
    context = ssl.create_default_context(cafile=str(CERTS / "ca.pem"))
    context.set_alpn_protocols(["http/1.1"])
    sock = context.wrap_socket(socket.create_connection(("127.0.0.1", proxy.port), timeout=60),
                               server_hostname="mail.contoso.lab")

    def upload():
        try:
            sock.sendall(b"POST /upload/held.bin HTTP/1.1\r\nHost: mail.contoso.lab\r\n"
                         + f"Content-Length: {size}\r\n\r\n".encode())
            for piece in upload_chunks(size):
                sock.sendall(piece)
                sent[0] += len(piece)
        except OSError as error:
            errors.append(error)

    uploader = threading.Thread(target=upload, daemon=True)
    try:
        with RSSMonitor(proxy.process) as rss:
            uploader.start()
            assert backend.head_seen.wait(10), "the request never reached the backend"
            # The buffers between client and backend fill within the first seconds; then the
            # client's send must stand still (a proxy that kept reading would keep it moving).
            time.sleep(2)
            settled = sent[0]
            time.sleep(2)
            held = sent[0]
            held_growth = rss.growth_mib()
            backend.release()
            uploader.join(60)
        assert not uploader.is_alive() and not errors, errors
        response = b""
        while b"}" not in response:
            data = sock.recv(65536)
            if not data:
                break
            response += data
    finally:
        sock.close()
        backend.stop()
        proxy.process.stop()
    print(f"\nsent while the backend read nothing: {held / MIB:.0f} MiB of {size / MIB:.0f} MiB; " + rss.describe())
    assert held <= UPLOAD_HELD_BOUND_MIB * MIB, f"the client sent {held / MIB:.0f} MiB while the backend read nothing"
    assert held - settled <= MIB, f"the client kept sending while the backend read nothing: {settled} -> {held} bytes"
    assert held_growth < RSS_BOUND_MIB, "while the backend was not reading: " + rss.describe()
    assert response.startswith(b"HTTP/1.1 200"), response[:200]
    answer = json.loads(response.partition(b"\r\n\r\n")[2])
    assert answer["bytes"] == size
    assert answer["sha256"] == upload_sha256(size)
