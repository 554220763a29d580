"""HTTP/2 floods against a real Gatehouse (issue #17 item 5), frame by frame over real TLS.

Each attack runs on one connection of its own, made with hyperframe/hpack (no client state machine
that would refuse to misbehave): PING and SETTINGS floods from a client that never reads the
acknowledgements, empty DATA frames on an open stream, WINDOW_UPDATE and PRIORITY floods, and an
HPACK bomb (one 4 KB dynamic-table entry referenced thousands of times, 16 MB once decoded). Each
test asserts the limit the attack hits (the connection is closed, or the frames are absorbed at a
bounded cost), that the proxy's resident memory stays within a bound while it runs, and that an
ordinary client is served right after. Figures are printed (-s). Bounded: every attack has a
frame count and a deadline; 127.0.0.1 only. The Rapid Reset and CONTINUATION floods and the 300 KB
header list are in the Swift suite "HTTP2 hostile clients" (Tests/GatehouseHTTP2Tests)."""
import socket
import ssl
import time

import hpack
import pytest
from hyperframe.frame import DataFrame, HeadersFrame, PingFrame, PriorityFrame, SettingsFrame, WindowUpdateFrame

from conftest import CERTS, RSSMonitor, start_gatehouse

HOST = "mail.contoso.lab"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MEMORY_BOUND_MIB = 48
FLOOD_FRAMES = 200_000


@pytest.fixture(scope="module")
def proxy(sims, tmp_path_factory):
    gh = start_gatehouse(sims, tmp_path_factory.mktemp("hostile-h2"))
    yield gh
    gh.process.stop()


def connect(port, timeout=10):
    context = ssl.create_default_context(cafile=str(CERTS / "ca.pem"))
    context.set_alpn_protocols(["h2"])
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock = context.wrap_socket(raw, server_hostname=HOST)
    assert sock.selected_alpn_protocol() == "h2"
    sock.sendall(PREFACE + SettingsFrame(0).serialize() + SettingsFrame(0, flags=["ACK"]).serialize())
    return sock


def open_stream(sock, stream_id, method="POST"):
    """HEADERS for a request whose body is still to come (no END_STREAM)."""
    block = hpack.Encoder().encode([(":method", method), (":scheme", "https"), (":authority", HOST),
                                    (":path", "/owa/?m=h2-flood"), ("content-type", "application/octet-stream")])
    frame = HeadersFrame(stream_id, block, flags=["END_HEADERS"])
    sock.sendall(frame.serialize())


def send_flood(sock, frame_bytes, count, deadline=60, batch=1000):
    """Writes `count` copies of `frame_bytes` in batches, never reading; stops early when the
    server closes. Returns (copies written, closed by the server)."""
    payload = frame_bytes * batch
    sent = 0
    started = time.monotonic()
    sock.settimeout(10)
    try:
        while sent < count and time.monotonic() - started < deadline:
            sock.sendall(payload)
            sent += batch
    except (ConnectionError, ssl.SSLError, socket.timeout, OSError):
        return sent, True
    return sent, False


def closed_by_server(sock, seconds=15):
    """True once the server has closed the connection (reads and discards what it sent first)."""
    sock.settimeout(1)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if not sock.recv(65536):
                return True
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        except (ConnectionError, ssl.SSLError, OSError):
            return True
    return False


def ordinary_request(gh):
    with gh.client(HOST, timeout=20) as client:
        status, _, _ = client.get("/owa/healthcheck.htm")
    return status


def report(name, sent, rss, outcome):
    print(f"\n{name}: {sent} frames, {outcome}; proxy memory {rss.describe()}")


@pytest.mark.parametrize("name,frame", [
    ("PING", PingFrame(0, opaque_data=b"12345678")),
    ("SETTINGS", SettingsFrame(0, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 65535})),
])
def test_acknowledgement_floods_from_a_client_that_never_reads_are_cut(proxy, name, frame):
    """Each PING and SETTINGS frame asks for an acknowledgement; a client that never reads makes
    them pile up. nghttp2 refuses past 1,000 queued (NGHTTP2_ERR_FLOODED) and Gatehouse closes."""
    with RSSMonitor(proxy.process) as rss:
        sock = connect(proxy.port)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            sent, closed = send_flood(sock, frame.serialize(), FLOOD_FRAMES)
            closed = closed or closed_by_server(sock)
        finally:
            sock.close()
    report(f"{name} flood, never reading", sent, rss, "closed by the proxy" if closed else "still open")
    assert closed, f"{name} flood of {sent} frames from a non-reading client did not close the connection"
    assert rss.growth_mib() < MEMORY_BOUND_MIB, rss.describe()
    assert ordinary_request(proxy) == 200


def test_empty_data_frames_cost_bounded_memory(proxy):
    with RSSMonitor(proxy.process) as rss:
        sock = connect(proxy.port)
        try:
            open_stream(sock, 1)
            sent, closed = send_flood(sock, DataFrame(1, b"").serialize(), FLOOD_FRAMES)
            if not closed:
                closed = closed_by_server(sock, seconds=3)
        finally:
            sock.close()
    report("empty DATA flood", sent, rss, "closed by the proxy" if closed else "absorbed")
    assert rss.growth_mib() < MEMORY_BOUND_MIB, rss.describe()
    assert ordinary_request(proxy) == 200


@pytest.mark.parametrize("name,make", [
    ("WINDOW_UPDATE", lambda: WindowUpdateFrame(0, window_increment=1).serialize()),
    # PRIORITY for streams never opened: nghttp2 keeps a bounded number of idle streams.
    ("PRIORITY", None),
])
def test_window_update_and_priority_floods_cost_bounded_memory(proxy, name, make):
    with RSSMonitor(proxy.process) as rss:
        sock = connect(proxy.port)
        try:
            if make is not None:
                sent, closed = send_flood(sock, make(), FLOOD_FRAMES)
            else:
                frames = b"".join(PriorityFrame(stream_id, depends_on=stream_id + 2, stream_weight=16).serialize()
                                  for stream_id in range(3, 2 * 50_000, 2))
                sent, closed = send_flood(sock, frames, 1, batch=1)
                sent *= 50_000
            if not closed:
                closed = closed_by_server(sock, seconds=3)
        finally:
            sock.close()
    report(f"{name} flood", sent, rss, "closed by the proxy" if closed else "absorbed")
    assert rss.growth_mib() < MEMORY_BOUND_MIB, rss.describe()
    assert ordinary_request(proxy) == 200


def test_hpack_bomb_is_refused_without_decoding_it_all(proxy):
    """One 4 KB header put in the dynamic table, then header blocks that each reference it 4,000
    times (16 MB once decoded) on 50 streams: the header-list limit refuses each stream (431 or
    RST_STREAM) long before, and memory stays flat."""
    value = "x" * 4000

    def literal(name_index, text):
        """A literal header field without indexing, its name from the static table (RFC 7541 6.2.2)."""
        return bytes([name_index, len(text)]) + text.encode()

    pseudo = bytes([0x82, 0x87]) + literal(1, HOST) + literal(4, "/owa/?m=bomb")  # GET, https, authority, path
    # Stream 1 puts ("x-bomb", 4,000 x's) in the proxy's dynamic table (literal with incremental
    # indexing; 4,038 of the table's 4,096 bytes), where it is index 62.
    block = pseudo + hpack.Encoder().encode([("x-bomb", value)])
    with RSSMonitor(proxy.process) as rss:
        sock = connect(proxy.port)
        try:
            sock.sendall(HeadersFrame(1, block, flags=["END_HEADERS", "END_STREAM"]).serialize())
            # Then one byte (0x80 | 62: indexed field 62) per reference, 4,000 in a 4 KB frame.
            bomb = pseudo + bytes([0x80 | 62]) * 4000
            closed = False
            for stream_id in range(3, 103, 2):
                sock.sendall(HeadersFrame(stream_id, bomb, flags=["END_HEADERS", "END_STREAM"]).serialize())
            closed = closed_by_server(sock, seconds=2)
        except (ConnectionError, ssl.SSLError, OSError):
            closed = True
        finally:
            sock.close()
    report("HPACK bomb (50 streams x 16 MB decoded)", 51, rss, "connection closed" if closed else "streams refused")
    assert rss.growth_mib() < MEMORY_BOUND_MIB, rss.describe()
    assert ordinary_request(proxy) == 200
