"""RPC over HTTP (Outlook Anywhere) through the real proxy: the extension methods RPC_IN_DATA and
RPC_OUT_DATA, which NIO's llhttp-based decoder refused with 400, and large declared bodies that must
stream (never be buffered whole), plus malformed requests answered 400/431/505 with Connection: close."""
import hashlib
import socket
import ssl

import pytest

from conftest import start_gatehouse, start_sim, CERTS

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def rpc_gatehouse(tmp_path_factory):
    # Anonymous simulators: these tests are about methods and framing, not authentication.
    sims = [start_sim("mbx01"), start_sim("mbx02")]
    gh = start_gatehouse(sims, tmp_path_factory.mktemp("rpc"))
    yield gh
    gh.process.stop()
    for sim in sims:
        sim.process.stop()


def tls_socket(gh, timeout=120):
    ctx = ssl.create_default_context(cafile=str(CERTS / "ca.pem"))
    ctx.set_alpn_protocols(["http/1.1"])
    raw = socket.create_connection(("127.0.0.1", gh.port), timeout=timeout)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return ctx.wrap_socket(raw, server_hostname="mail.contoso.lab")


def read_response(sock):
    """Reads one response with a Content-Length body (or up to EOF); returns (status, headers, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        length = int(headers["content-length"])
        while len(body) < length:
            chunk = sock.recv(min(1 << 20, length - len(body)))
            if not chunk:
                break
            body += chunk
    else:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return status, headers, body


def block(i):
    return bytes((i + j) % 256 for j in range(256)) * (MIB // 256)


def test_rpc_in_data_100_mib_streams_through(rpc_gatehouse):
    size = 100 * MIB
    rss_before = rpc_gatehouse.process.rss_kib()
    sock = tls_socket(rpc_gatehouse)
    sock.sendall(b"RPC_IN_DATA /rpc/rpcproxy.dll?mbx01.contoso.lab:6001 HTTP/1.1\r\n"
                 b"Host: mail.contoso.lab\r\nUser-Agent: MSRPC\r\nContent-Length: %d\r\n\r\n" % size)
    digest = hashlib.sha256()
    blocks = [block(i) for i in range(4)]
    for i in range(size // MIB):
        piece = blocks[i % 4]
        digest.update(piece)
        sock.sendall(piece)
    status, headers, body = read_response(sock)
    sock.close()
    assert status == 200, body[:200]
    assert f'"bytes":{size}'.encode() in body
    assert digest.hexdigest().encode() in body
    # Streamed, not buffered: the proxy did not grow by anything like the body's 100 MiB.
    assert rpc_gatehouse.process.rss_kib() - rss_before < 60 * 1024


def test_rpc_out_data(rpc_gatehouse):
    sock = tls_socket(rpc_gatehouse)
    sock.sendall(b"RPC_OUT_DATA /rpc/rpcproxy.dll?mbx01.contoso.lab:6001&sim-bytes=65536 HTTP/1.1\r\n"
                 b"Host: mail.contoso.lab\r\nContent-Length: 0\r\n\r\n")
    status, headers, body = read_response(sock)
    sock.close()
    assert status == 200
    assert headers.get("content-type") == "application/rpc"
    assert len(body) == 65536


def test_small_rpc_in_data_like_the_smoke_check(rpc_gatehouse):
    sock = tls_socket(rpc_gatehouse)
    sock.sendall(b"RPC_IN_DATA /rpc/rpcproxy.dll?mbx01:6001 HTTP/1.1\r\nHost: mail.contoso.lab\r\n"
                 b"Content-Length: 5\r\n\r\nhello")
    status, _, body = read_response(sock)
    sock.close()
    assert status == 200
    assert b'"bytes":5' in body
    assert hashlib.sha256(b"hello").hexdigest().encode() in body


@pytest.mark.parametrize("request_bytes,status", [
    (b"GET /owa/ HTTP/1.1\r\nHost : mail.contoso.lab\r\n\r\n", 400),
    (b"POST /ews/ HTTP/1.1\r\nHost: mail.contoso.lab\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST /ews/ HTTP/1.1\r\nHost: mail.contoso.lab\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400),
    (b"GET /owa/ HTTP/2.0\r\nHost: mail.contoso.lab\r\n\r\n", 505),
    (b"GET /owa/ HTTP/1.1\r\nHost: mail.contoso.lab\r\nX-Big: " + b"a" * (70 * 1024) + b"\r\n\r\n", 431),
])
def test_malformed_requests_get_an_error_and_close(rpc_gatehouse, request_bytes, status):
    sock = tls_socket(rpc_gatehouse, timeout=30)
    sock.sendall(request_bytes)
    got, headers, _ = read_response(sock)
    sock.close()
    assert got == status
    assert headers.get("connection", "").lower() == "close"
