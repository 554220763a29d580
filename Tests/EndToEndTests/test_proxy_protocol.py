"""Issue 16 item 1: PROXY protocol v1 and v2 on listeners, over real sockets.

One Gatehouse whose HTTPS and redirect listeners take PROXY headers from 127.0.0.1 only (required,
2 s header timeout), in front of a RecordingBackend; its service's admin networks are 192.0.2.0/24.
A Python client writes a header and then does real TLS on the same socket (for v1 in the same
write as the ClientHello); the backend sees the header's address in X-Forwarded-For, the JSON access
log shows it, and the `ecp_admin_only` deny rule judges it. A header from 127.0.0.2 (another
loopback source) is refused; a trusted source without one is refused; bad and truncated headers
close the connection with a log line and a count in gatehouse_proxy_protocol_refusals_total, and
the proxy keeps serving. Then a reload that switches it on; last, HAProxy (`make deps-test`
installs it) in `mode tcp` with `send-proxy-v2` in front, started and stopped by this test (by PID).
"""
import json
import socket
import ssl
import struct
import time
import urllib.request

import pytest

from conftest import BIN, CERTS, Gatehouse, Process, free_port, start_haproxy, stop_popen, wait_for_port
from gatehouse_client import RawHTTPS, http11_context
from recording_backend import RecordingBackend, pool_yaml

HOST = "mail.contoso.lab"
TIMEOUT = 10
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(source, destination="127.0.0.1", sport=56324, dport=443, proto="TCP4"):
    return f"PROXY {proto} {source} {destination} {sport} {dport}\r\n".encode()


def v2(source=None, destination=None, command=1, tlvs=b""):
    """A v2 header: IPv4 or IPv6 by the addresses' form, UNSPEC without them."""
    if source is None:
        block, family = b"", 0x00
    elif ":" in source:
        block = socket.inet_pton(socket.AF_INET6, source) + socket.inet_pton(socket.AF_INET6, destination)
        block, family = block + struct.pack("!HH", 40000, 443), 0x21
    else:
        block = socket.inet_aton(source) + socket.inet_aton(destination) + struct.pack("!HH", 40000, 443)
        family = 0x11
    block += tlvs
    return V2_SIGNATURE + bytes([0x20 | command, family]) + struct.pack("!H", len(block)) + block


@pytest.fixture(scope="module")
def pp(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("proxy-protocol")
    backend = RecordingBackend()
    port, http_port, admin_port = free_port(), free_port(), free_port()
    access_log = tmp / "access.log"
    config = tmp / "gatehouse.yaml"
    config.write_text(f"""
listeners:
  - name: https
    address: 127.0.0.1:{port}
    proxy_protocol: {{ trusted_sources: [127.0.0.1/32], required: true, header_timeout: 2s }}
    tls:
      certificates:
        - {{ cert: {CERTS}/mail-ecdsa.pem, key: {CERTS}/mail-ecdsa.key }}
  - name: http
    address: 127.0.0.1:{http_port}
    proxy_protocol: {{ trusted_sources: [127.0.0.1/32] }}
    redirect_to_https: 443
pools:
{pool_yaml("rb", backend)}
services:
  - name: contoso
    hosts: [{HOST}]
    admin_networks: [192.0.2.0/24]
    routes:
      - {{ preset: owa, pool: rb }}
      - {{ preset: ecp, pool: rb }}
admin:
  address: 127.0.0.1:{admin_port}
access_log:
  format: json
  path: {access_log}
""")
    process = Process([str(BIN / "gatehouse"), "run", "--config", str(config)], "gatehouse-pp")
    gatehouse = None
    try:
        wait_for_port(port, process.proc, log=process.output)
        wait_for_port(admin_port, process.proc, log=process.output)
        gatehouse = Gatehouse(process, port, http_port, admin_port, config)
        gatehouse.backend = backend
        gatehouse.access_log = access_log
        yield gatehouse
    finally:
        process.stop()
        backend.stop()


@pytest.fixture(autouse=True)
def alive(pp, request):
    yield
    if pp.process.proc.poll() is not None or getattr(getattr(request.node, "rep_call", None), "failed", False):
        print("---- gatehouse log (tail) ----\n" + pp.log()[-6000:])
    assert pp.process.proc.poll() is None, "the proxy exited during this test"


def connect(port, source="127.0.0.1"):
    sock = socket.create_connection(("127.0.0.1", port), TIMEOUT, source_address=(source, 0))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def over_tls(sock):
    """A RawHTTPS (response parser) on a socket that already carries the header."""
    raw = RawHTTPS.__new__(RawHTTPS)
    raw.sock = http11_context(str(CERTS / "ca.pem")).wrap_socket(sock, server_hostname=HOST)
    raw.buffer, raw.eof = b"", False
    return raw


def get(target):
    return f"GET {target} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()


def request(pp, header, target, source="127.0.0.1"):
    """Header, then TLS, then one GET; the response."""
    sock = connect(pp.port, source)
    sock.sendall(header)
    with over_tls(sock) as client:
        client.send(get(target))
        return client.read_response()


def request_in_one_write(pp, header, target):
    """The header and the ClientHello in one write (one TCP segment on loopback), then the GET."""
    sock = connect(pp.port)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = http11_context(str(CERTS / "ca.pem")).wrap_bio(incoming, outgoing, server_hostname=HOST)
    pending = header
    for _ in range(50):
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            sock.sendall(pending + outgoing.read())
            pending = b""
            data = sock.recv(65536)
            assert data, "closed during the handshake"
            incoming.write(data)
    tls.write(get(target))
    sock.sendall(outgoing.read())
    response = b""
    for _ in range(100):
        try:
            response += tls.read(65536)
        except ssl.SSLWantReadError:
            data = sock.recv(65536)
            if not data:
                break
            incoming.write(data)
        head, _, body = response.partition(b"\r\n\r\n")
        length = [int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
        if length and len(body) >= length[0]:
            break
    sock.close()
    return response


def forwarded_for(pp, marker):
    requests = pp.backend.wait_for(lambda: pp.backend.requests_with(marker), TIMEOUT)
    assert len(requests) == 1, pp.backend.describe()
    return requests[0].header("X-Forwarded-For")


def access_entry(pp, marker):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if pp.access_log.exists():
            for line in pp.access_log.read_text().splitlines():
                entry = json.loads(line)
                if marker in entry.get("uri", "") + entry.get("query", "") + line:
                    return entry
        time.sleep(0.05)
    raise AssertionError(f"no access-log line for {marker}")


def refusal_count(pp, reason):
    """gatehouse_proxy_protocol_refusals_total{listener="https",reason=...} from /metrics (0 when absent)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{pp.admin_port}/metrics", timeout=TIMEOUT) as response:
        text = response.read().decode()
    prefix = f'gatehouse_proxy_protocol_refusals_total{{listener="https",reason="{reason}"}} '
    values = [float(line[len(prefix):]) for line in text.splitlines() if line.startswith(prefix)]
    return values[0] if values else 0.0


def closed_without_tls(sock, timeout=5.0):
    """True when the proxy closes `sock` without sending a byte (no ServerHello, no alert)."""
    sock.settimeout(timeout)
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True


# ---- valid headers


def test_v1_header_in_the_same_write_as_the_client_hello(pp):
    response = request_in_one_write(pp, v1("192.0.2.7"), "/owa/?m=v1-same-write")
    assert response.startswith(b"HTTP/1.1 200"), response[:200]
    assert forwarded_for(pp, "m=v1-same-write") == "192.0.2.7"
    assert access_entry(pp, "v1-same-write")["client"] == "192.0.2.7"


def test_v1_tcp6_header(pp):
    assert request(pp, v1("2001:db8::7", "2001:db8::1", proto="TCP6"), "/owa/?m=v1-tcp6").status == 200
    assert forwarded_for(pp, "m=v1-tcp6") == "2001:db8::7"
    assert access_entry(pp, "v1-tcp6")["client"] == "2001:db8::7"


def test_v2_ipv4_header_with_tlvs(pp):
    tlvs = b"\x01\x00\x08http/1.1" + b"\x02\x00\x10mail.contoso.lab" + b"\xee\x00\x00"
    assert request(pp, v2("198.51.100.23", "10.0.0.1", tlvs=tlvs), "/owa/?m=v2-ipv4").status == 200
    assert forwarded_for(pp, "m=v2-ipv4") == "198.51.100.23"
    assert access_entry(pp, "v2-ipv4")["client"] == "198.51.100.23"


def test_v2_ipv6_header(pp):
    assert request(pp, v2("2001:db8::42", "2001:db8::1"), "/owa/?m=v2-ipv6").status == 200
    assert forwarded_for(pp, "m=v2-ipv6") == "2001:db8::42"


def test_v2_local_and_v1_unknown_keep_the_peer_address(pp):
    assert request(pp, v2(command=0), "/owa/?m=v2-local").status == 200
    assert forwarded_for(pp, "m=v2-local") == "127.0.0.1"
    assert request(pp, b"PROXY UNKNOWN\r\n", "/owa/?m=v1-unknown").status == 200
    assert forwarded_for(pp, "m=v1-unknown") == "127.0.0.1"


def test_admin_networks_judge_the_header_address(pp):
    inside = request(pp, v1("192.0.2.50"), "/ecp/?m=ecp-inside")
    assert inside.status == 200, inside
    assert forwarded_for(pp, "m=ecp-inside") == "192.0.2.50"
    outside = request(pp, v1("203.0.113.9"), "/ecp/?m=ecp-outside")
    assert outside.status == 403
    assert pp.backend.requests_with("m=ecp-outside") == []
    assert access_entry(pp, "ecp-outside")["client"] == "203.0.113.9"


def test_redirect_listener_takes_the_header(pp):
    sock = connect(pp.http_port)
    sock.sendall(v1("192.0.2.8") + f"GET /owa/ HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    sock.settimeout(TIMEOUT)
    answer = sock.recv(4096)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 30"), answer[:200]
    assert f"location: https://{HOST}/owa/".encode() in answer.lower()
    # Without a header from the trusted source: refused.
    sock = connect(pp.http_port)
    sock.sendall(f"GET /owa/ HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    assert closed_without_tls(sock)
    sock.close()


# ---- refusals


def test_header_from_an_untrusted_source_is_refused(pp):
    counted = refusal_count(pp, "untrusted")
    sock = connect(pp.port, source="127.0.0.2")
    sock.sendall(v1("192.0.2.7"))
    assert closed_without_tls(sock)
    sock.close()
    log = pp.wait_for_log(lambda out: "127.0.0.2" in out and "outside trusted_sources" in out)
    assert "outside trusted_sources" in log
    assert refusal_count(pp, "untrusted") == counted + 1
    # The same source without a header is a direct client, with its own address.
    assert request(pp, b"", "/owa/?m=untrusted-direct", source="127.0.0.2").status == 200
    assert forwarded_for(pp, "m=untrusted-direct") == "127.0.0.2"


def test_trusted_source_without_a_header_is_refused(pp):
    counted = refusal_count(pp, "missing")
    sock = connect(pp.port)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        over_tls(sock)
    sock.close()
    log = pp.wait_for_log(lambda out: "no PROXY protocol header from a trusted source" in out)
    assert "no PROXY protocol header from a trusted source" in log
    assert refusal_count(pp, "missing") == counted + 1


BAD_HEADERS = {   # name: (bytes, the reason the log line gives)
    "v1-port-out-of-range": (v1("192.0.2.7", sport=70000), "invalid port"),
    "v1-bad-address": (b"PROXY TCP4 192.0.2.300 127.0.0.1 1 443\r\n", "invalid address"),
    "v1-oversized": (b"PROXY UNKNOWN " + b"x" * 120, "header too long"),
    "v1-lf-only": (b"PROXY TCP4 192.0.2.7 127.0.0.1 1 443\n", "invalid character in v1 header"),
    "v1-unknown-protocol": (b"PROXY UDP4 192.0.2.7 127.0.0.1 1 443\r\n", "unknown v1 protocol"),
    "v2-bad-version": (V2_SIGNATURE + b"\x11\x11\x00\x0c" + b"\x00" * 12, "unsupported v2 version"),
    "v2-unknown-command": (V2_SIGNATURE + b"\x23\x11\x00\x0c" + b"\x00" * 12, "unknown v2 command"),
    "v2-unknown-family": (V2_SIGNATURE + b"\x21\x51\x00\x0c" + b"\x00" * 12, "unknown v2 address family"),
    "v2-udp": (V2_SIGNATURE + b"\x21\x12\x00\x0c" + b"\x00" * 12, "unsupported v2 transport"),
    "v2-oversized": (V2_SIGNATURE + b"\x21\x11\xff\xff", "header too long"),
    "v2-short-block": (V2_SIGNATURE + b"\x21\x21\x00\x0c" + b"\x00" * 12, "v2 length too short"),
    "v2-bad-tlv": (v2("192.0.2.7", "127.0.0.1", tlvs=b"\x01\x00\x09h2"), "v2 TLV runs past the end"),
}


def refusals(pp, reason):
    return pp.log().count(f"bad PROXY protocol header: {reason}")


@pytest.mark.parametrize("name", list(BAD_HEADERS))
def test_bad_header_closes_and_the_proxy_keeps_serving(pp, name):
    header, reason = BAD_HEADERS[name]
    before = refusals(pp, reason)
    counted = refusal_count(pp, "invalid")
    sock = connect(pp.port)
    sock.sendall(header + b"\x16\x03\x01\x00\x00")
    assert closed_without_tls(sock)
    sock.close()
    pp.wait_for_log(lambda out: out.count(f"bad PROXY protocol header: {reason}") > before)
    assert refusals(pp, reason) == before + 1, pp.log()[-2000:]
    assert refusal_count(pp, "invalid") == counted + 1
    assert request(pp, v1("192.0.2.9"), f"/owa/?m=after-{name}").status == 200


def test_truncated_header_times_out(pp):
    counted = refusal_count(pp, "timeout")
    sock = connect(pp.port)
    sock.sendall(v1("192.0.2.7")[:20])
    started = time.monotonic()
    assert closed_without_tls(sock, timeout=6)
    waited = time.monotonic() - started
    sock.close()
    assert 1.5 < waited < 5, waited   # header_timeout: 2s
    log = pp.wait_for_log(lambda out: "no complete PROXY protocol header within" in out)
    assert "no complete PROXY protocol header within" in log
    assert refusal_count(pp, "timeout") == counted + 1
    assert request(pp, v1("192.0.2.9"), "/owa/?m=after-truncated").status == 200


# ---- HAProxy in front


def test_haproxy_send_proxy_v2_in_front(pp, tmp_path):
    front = free_port()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(f"""
global
    log stderr format raw local0 warning
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend balancer
    bind 127.0.0.3:{front}
    default_backend gatehouse
backend gatehouse
    server gh 127.0.0.1:{pp.port} send-proxy-v2
""")
    process = start_haproxy(cfg, "127.0.0.3", front)
    try:
        # The client connects to HAProxy from 127.0.0.4; HAProxy connects to Gatehouse from
        # 127.0.0.1 (trusted) and names 127.0.0.4 in its v2 header.
        sock = socket.create_connection(("127.0.0.3", front), TIMEOUT, source_address=("127.0.0.4", 0))
        with over_tls(sock) as client:
            for index in range(3):
                client.send(get(f"/owa/?m=haproxy-{index}"))
                assert client.read_response().status == 200
        for index in range(3):
            assert forwarded_for(pp, f"m=haproxy-{index}") == "127.0.0.4"
        assert access_entry(pp, "haproxy-0")["client"] == "127.0.0.4"
    finally:
        stop_popen(process)


# ---- reload


def test_reload_switches_proxy_protocol_on_for_new_connections(pp, tmp_path):
    """A proxy of its own, started without `proxy_protocol`: a header is then the client's first TLS
    bytes (the handshake fails). A reload that adds it on the same address makes the next connection's
    header count; the module's backend sees the header's address."""
    port, http_port, admin_port = free_port(), free_port(), free_port()
    text = pp.config_path.read_text()
    text = text.replace(f"127.0.0.1:{pp.port}", f"127.0.0.1:{port}").replace(f"127.0.0.1:{pp.http_port}", f"127.0.0.1:{http_port}")
    text = text.replace(f"127.0.0.1:{pp.admin_port}", f"127.0.0.1:{admin_port}")
    text = text.replace(str(pp.access_log), str(tmp_path / "access.log"))
    with_proxy = text
    without = text.replace("    proxy_protocol: { trusted_sources: [127.0.0.1/32], required: true, header_timeout: 2s }\n", "")
    assert without != with_proxy
    config = tmp_path / "gatehouse.yaml"
    config.write_text(without)
    process = Process([str(BIN / "gatehouse"), "run", "--config", str(config)], "gatehouse-pp-reload")
    try:
        wait_for_port(port, process.proc, log=process.output)
        wait_for_port(admin_port, process.proc, log=process.output)
        other = Gatehouse(process, port, http_port, admin_port, config)
        other.backend = pp.backend
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            request(other, v1("192.0.2.77"), "/owa/?m=before-reload")
        assert request(other, b"", "/owa/?m=direct-before-reload").status == 200
        assert forwarded_for(other, "m=direct-before-reload") == "127.0.0.1"
        config.write_text(with_proxy)
        reload = urllib.request.Request(f"http://127.0.0.1:{admin_port}/reload", method="POST")
        with urllib.request.urlopen(reload, timeout=TIMEOUT) as answer:
            assert answer.status == 200
        assert request(other, v1("192.0.2.77"), "/owa/?m=after-reload").status == 200
        assert forwarded_for(other, "m=after-reload") == "192.0.2.77"
    finally:
        process.stop()
