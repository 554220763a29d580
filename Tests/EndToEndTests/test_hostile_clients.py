"""Hostile clients at scale (issue #17 item 5), on a Gatehouse of this module's own with short clocks:
client_header_timeout 2 s, TLS handshake_timeout 2 s, a route whose idle timeout is 2 s. Each test
says which limit the attack hits and what it costs in proxy memory (printed with -s), and asserts
that the limit holds, that memory stays bounded, and that an ordinary client is served meanwhile.
Bounded: at most 10,000 sockets, every wait has a deadline, 127.0.0.1 only. The 10,000-socket test
runs last: the allocator keeps what it grew to, which would hide the others' growth.

Single-connection versions of these attacks live elsewhere (test_lifecycle.py: a silent TCP
connection, one slowloris head; test_streaming.py: one client that stops reading); the HTTP/2
floods (PING, SETTINGS, empty DATA, WINDOW_UPDATE, PRIORITY, HPACK bombs) are test_hostile_h2.py,
and Rapid Reset and CONTINUATION floods the "HTTP2 hostile clients" Swift suite."""
import contextlib
import resource
import socket
import ssl
import time

import pytest

from conftest import CERTS, RSSMonitor, start_gatehouse

HOST = "mail.contoso.lab"
HEADER_TIMEOUT = 2
HANDSHAKE_TIMEOUT = 2
BODY_IDLE_TIMEOUT = 2
ABANDONED_HANDSHAKES = 10_000
SLOWLORIS = 500
SLOWLORIS_H2 = 300
STALLED_BODIES = 300
NON_READERS = 40


@pytest.fixture(scope="module")
def hostile(sims, tmp_path_factory):
    # The proxy inherits this process's open-files limit: 10,000 sockets need more than the usual 1,024.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 20_000 if hard == resource.RLIM_INFINITY else min(hard, 20_000)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert soft >= 12_000, f"open-files limit {soft}: this machine cannot hold {ABANDONED_HANDSHAKES} sockets"
    gh = start_gatehouse(
        sims, tmp_path_factory.mktemp("hostile"),
        limits_yaml=f"limits:\n  client_header_timeout: {HEADER_TIMEOUT}s\n  client_idle_timeout: 30s\n"
                    f"  max_connections: 15000",
        tls_extra=f"      handshake_timeout: {HANDSHAKE_TIMEOUT}s",
        route_overrides=f"      - {{ path: /upload/, pool: mailbox, max_body: 1GiB, "
                        f"timeouts: {{ idle: {BODY_IDLE_TIMEOUT}s }} }}\n")
    yield gh
    gh.process.stop()


def context(alpn="http/1.1"):
    ctx = ssl.create_default_context(cafile=str(CERTS / "ca.pem"))
    ctx.set_alpn_protocols([alpn])
    return ctx


def tls_connect(port, timeout=20, alpn="http/1.1"):
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return context(alpn).wrap_socket(raw, server_hostname=HOST)


def ordinary_request(gh):
    """One ordinary client: a keep-alive GET on a new connection answered 200."""
    with gh.client(HOST, timeout=20) as client:
        status, _, _ = client.get("/owa/healthcheck.htm")
    return status


def wait_all_closed(socks, deadline_seconds):
    """Waits until the peer has closed every socket in `socks`; returns (closed count, seconds)."""
    started = time.monotonic()
    open_socks = list(socks)
    for sock in open_socks:
        sock.setblocking(False)
    closed = 0
    while open_socks and time.monotonic() - started < deadline_seconds:
        still = []
        for sock in open_socks:
            try:
                data = sock.recv(65536)
                if data:
                    still.append(sock)   # a 408 or an alert before the close: read on
                else:
                    closed += 1
            except (BlockingIOError, ssl.SSLWantReadError):
                still.append(sock)
            except (ConnectionError, ssl.SSLError, OSError):
                closed += 1
        open_socks = still
        if open_socks:
            time.sleep(0.1)
    return closed, time.monotonic() - started


@contextlib.contextmanager
def attack(gh, count, first_bytes, alpn="http/1.1"):
    """`count` TLS connections that each send `first_bytes` and then misbehave as the caller does
    with the yielded list; closed on the way out. Yields (sockets, RSSMonitor)."""
    socks = []
    with RSSMonitor(gh.process) as rss:
        try:
            for _ in range(count):
                sock = tls_connect(gh.port, alpn=alpn)
                assert sock.selected_alpn_protocol() == alpn
                sock.sendall(first_bytes)
                socks.append(sock)
            yield socks, rss
        finally:
            for sock in socks:
                sock.close()


def test_slowloris_heads_are_cut_by_the_header_timeout(hostile):
    head = b"GET /owa/healthcheck.htm HTTP/1.1\r\nHost: mail.contoso.lab\r\n"
    with attack(hostile, SLOWLORIS, head) as (socks, rss):
        started = time.monotonic()
        # One more header byte on every connection each 0.5 s: the head never completes.
        alive = list(socks)
        while alive and time.monotonic() - started < HEADER_TIMEOUT + 1:
            for sock in list(alive):
                try:
                    sock.sendall(b"X")
                except (ConnectionError, ssl.SSLError, OSError):
                    alive.remove(sock)
            time.sleep(0.5)
        assert ordinary_request(hostile) == 200
        closed, took = wait_all_closed(socks, HEADER_TIMEOUT + 15)
    print(f"\n{SLOWLORIS} slowloris heads: all closed {took:.1f} s after the trickle ended; {rss.describe()}")
    assert closed == SLOWLORIS, f"only {closed} of {SLOWLORIS} slowloris connections were closed"
    assert rss.growth_mib() < 150, rss.describe()


def all_cut(gh, count, first_bytes, deadline, what, alpn="http/1.1"):
    """`count` connections that send `first_bytes` and then nothing: an ordinary client is served
    meanwhile, and the proxy closes every one (after an answer or not) within `deadline` seconds.
    Returns the RSS monitor of the attack."""
    with attack(gh, count, first_bytes, alpn) as (socks, rss):
        assert ordinary_request(gh) == 200
        closed, took = wait_all_closed(socks, deadline)
    print(f"\n{count} {what}: all answered or closed after {took:.1f} s; {rss.describe()}")
    assert closed == count, f"only {closed} of {count} {what} were ended"
    return rss


def test_http2_header_blocks_that_never_end_are_cut_by_the_header_timeout(hostile):
    # HTTP/2 slowloris: a HEADERS frame without END_HEADERS, then nothing. Its stream counts as open,
    # so the connection's idle clock never ran and these connections stayed forever; the header
    # block must end within client_header_timeout, as an HTTP/1.1 head must.
    block = bytes([0x83, 0x87, 0x84])   # :method POST, :scheme https, :path / (HPACK static table)
    headers = len(block).to_bytes(3, "big") + bytes([0x1, 0x0]) + (1).to_bytes(4, "big") + block
    settings = bytes([0, 0, 0, 0x4, 0, 0, 0, 0, 0])
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + settings
    rss = all_cut(hostile, SLOWLORIS_H2, preface + headers, HEADER_TIMEOUT + 15, "unfinished HTTP/2 header blocks", "h2")
    assert rss.growth_mib() < 100, rss.describe()


def test_stalled_request_bodies_are_cut_by_the_route_idle_timeout(hostile):
    start = b"POST /upload/x HTTP/1.1\r\nHost: mail.contoso.lab\r\nContent-Length: 1048576\r\n\r\n" + b"a" * 1000
    rss = all_cut(hostile, STALLED_BODIES, start, BODY_IDLE_TIMEOUT + 20, "stalled bodies")
    assert rss.growth_mib() < 150, rss.describe()


def test_clients_that_never_read_large_responses_cost_bounded_memory(hostile):
    size = 256 * 1024 * 1024
    request = f"GET /owa/big.bin?sim-bytes={size} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
    with attack(hostile, NON_READERS, request) as (_, rss):
        time.sleep(4)   # the backends keep sending; nobody reads
        held = rss.growth_mib()
        assert ordinary_request(hostile) == 200
    print(f"\n{NON_READERS} clients not reading {size >> 20} MiB responses: +{held:.1f} MiB "
          f"({held / NON_READERS:.2f} MiB each); {rss.describe()}")
    # Each stream is held back by backpressure: a few socket and TLS buffers per client, never the body.
    assert held < NON_READERS * 2 + 64, rss.describe()
    assert ordinary_request(hostile) == 200


def test_ten_thousand_connections_abandoned_mid_handshake_are_closed_by_the_handshake_timeout(hostile):
    # Half send nothing after the TCP handshake; half send the first bytes of a TLS record and stop.
    partial_hello = bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03])
    socks = []
    with RSSMonitor(hostile.process) as rss:
        try:
            for index in range(ABANDONED_HANDSHAKES):
                sock = socket.create_connection(("127.0.0.1", hostile.port), timeout=10)
                if index % 2:
                    sock.sendall(partial_hello)
                socks.append(sock)
            held = rss.growth_mib()
            # The proxy keeps serving while they are held.
            assert ordinary_request(hostile) == 200
            closed, took = wait_all_closed(socks, HANDSHAKE_TIMEOUT + 25)
        finally:
            for sock in socks:
                sock.close()
    print(f"\n{ABANDONED_HANDSHAKES} abandoned handshakes: +{held:.1f} MiB while held "
          f"({held * 1024 / ABANDONED_HANDSHAKES:.2f} KiB each), all closed after {took:.1f} s; {rss.describe()}")
    assert closed == ABANDONED_HANDSHAKES, f"only {closed} of {ABANDONED_HANDSHAKES} closed by the proxy"
    assert held < 200, rss.describe()
    assert ordinary_request(hostile) == 200
