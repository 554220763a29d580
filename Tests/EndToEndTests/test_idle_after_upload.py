"""An idle keep-alive connection that once carried an upload holds no more memory than a few KiB
above one that carried a GET: NIO keeps a connection's receive buffer at the largest size it
grew to for the connection's whole life, so the size client reads may grow to is capped
(ClientPipeline.receiveBuffers, 16 KiB; NIO's default of 64 KiB left ~88 KiB per idle connection
after a 1 MiB upload, against ~23 after a GET)."""
import os
import socket
import ssl
import time

from conftest import CERTS, start_gatehouse

MIB = 1 << 20
CONNECTIONS = 200


def open_and_request(port, body):
    """One TLS keep-alive connection with one request (a POST of `body`, or a GET when empty),
    answered in full; returns the open socket."""
    context = ssl.create_default_context(cafile=str(CERTS / "ca.pem"))
    context.set_alpn_protocols(["http/1.1"])
    sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30),
                               server_hostname="mail.contoso.lab")
    if body:
        sock.sendall(b"POST /upload/idle.bin HTTP/1.1\r\nHost: mail.contoso.lab\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode())
        sock.sendall(body)
    else:
        sock.sendall(b"GET /owa/healthcheck.htm HTTP/1.1\r\nHost: mail.contoso.lab\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        assert piece, "the proxy closed the connection before answering"
        data += piece
    head, rest = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200"), head
    length = [int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    assert length, head
    while len(rest) < length[0]:
        piece = sock.recv(65536)
        assert piece, "the answer was cut short"
        rest += piece
    return sock


def held_kib_per_connection(sims, tmp_path, body):
    """RSS growth of a fresh proxy, per connection, while CONNECTIONS connections that each made
    one request (`body` as a POST, or a GET when empty) are held idle. A fresh proxy each time: a
    heap that already served the other kind of connection would reuse what those freed."""
    tmp_path.mkdir(exist_ok=True)
    proxy = start_gatehouse(sims, tmp_path, route_overrides="      - { path: /upload/, pool: mailbox }\n")
    try:
        # Warm-up: the heap and the backend pool reach their working size first.
        for sock in [open_and_request(proxy.port, body) for _ in range(20)]:
            sock.close()
        time.sleep(1)
        before = proxy.process.rss_kib()
        sockets = [open_and_request(proxy.port, body) for _ in range(CONNECTIONS)]
        time.sleep(1)
        held = (proxy.process.rss_kib() - before) / CONNECTIONS
        for sock in sockets:
            sock.close()
        return held
    finally:
        proxy.process.stop()


def test_idle_connections_after_uploads_hold_about_what_idle_connections_after_gets_hold(sims, tmp_path):
    after_get = held_kib_per_connection(sims, tmp_path / "get", b"")
    after_upload = held_kib_per_connection(sims, tmp_path / "upload", os.urandom(MIB))
    print(f"\nRSS per idle connection: after a GET {after_get:.1f} KiB, after a 1 MiB upload {after_upload:.1f} KiB")
    # With NIO's 64 KiB reads the difference was ~64 KiB; with the 16 KiB cap it is ~16.
    assert after_upload < after_get + 32, (after_get, after_upload)
