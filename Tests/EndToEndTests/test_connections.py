"""Client connection behaviour: keep-alive, pipelining, Expect: 100-continue, the plain-HTTP
redirect listener and the idle timeout."""
import hashlib
import json
import socket
import time

import pytest

from conftest import CLIENT_IDLE_TIMEOUT

pytestmark = pytest.mark.usefixtures("proxy_log_on_failure")
HOST = "open.contoso.lab"


def test_keep_alive_serves_several_requests_on_one_connection(gatehouse):
    with gatehouse.client(HOST) as client:
        client.get("/owa/healthcheck.htm")
        local = client.sock.getsockname()
        for index in range(6):
            status, headers, body = client.get(f"/owa/echo?sim-echo&n={index}")
            assert status == 200
            assert json.loads(body)["uri"] == f"/owa/echo?sim-echo&n={index}"
            assert client.sock.getsockname() == local, "the client connection was replaced"
            assert headers.get("connection", "").lower() != "close"


def test_backend_connection_reused_across_client_requests(gatehouse):
    with gatehouse.client(HOST) as client:
        connections = set()
        for index in range(4):
            _, headers, _ = client.get(f"/owa/healthcheck.htm?n={index}")
            connections.add(headers["x-sim-connection"])
    # Sequential requests to one backend reuse its kept-alive connection.
    assert len(connections) < 4, connections


def test_pipelined_requests_answered_in_order(gatehouse):
    paths = [f"/owa/pipe?sim-echo&n={index}" for index in range(5)]
    batch = b"".join(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode() for path in paths)
    with gatehouse.raw(HOST) as raw:
        raw.send(batch)   # one write: all five requests before any answer
        answers = [raw.read_response() for _ in paths]
    assert [r.status for r in answers] == [200] * 5
    assert [json.loads(r.body)["uri"] for r in answers] == paths


def test_pipelined_requests_mixing_local_and_proxied_answers_stay_in_order(gatehouse):
    requests = [
        ("/owa/pipe?sim-echo&n=1", 200),
        ("/nothing/here", 404),
        ("/owa/pipe?sim-echo&n=2", 200),
        ("/powershell", 403),
        ("/owa/pipe?sim-echo&n=3", 200),
    ]
    batch = b"".join(f"GET {path} HTTP/1.1\r\nHost: mail.contoso.lab\r\n\r\n".encode() for path, _ in requests)
    with gatehouse.raw() as raw:
        raw.send(batch)
        answers = [raw.read_response() for _ in requests]
    assert [r.status for r in answers] == [status for _, status in requests]
    assert [json.loads(r.body)["uri"] for r in answers if r.status == 200] == \
        [path for path, status in requests if status == 200]


def test_expect_100_continue_post(gatehouse):
    body = b"<Envelope>" + b"x" * 200_000 + b"</Envelope>"
    with gatehouse.raw(HOST, timeout=10) as raw:
        raw.send(f"POST /API/upload HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: text/xml\r\n"
                 f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode())
        # Wait for the interim response before sending a single body byte, as Outlook does.
        version, status, _, _ = raw.read_head()
        assert status == 100, f"expected 100 Continue before the body, got {status}"
        raw.send(body)
        response = raw.read_response(method="POST")
    assert response.status == 200, response.body
    assert json.loads(response.body) == {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def test_expect_100_continue_then_keep_alive(gatehouse):
    with gatehouse.raw(HOST, timeout=10) as raw:
        raw.send(f"POST /API/a HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n".encode())
        assert raw.read_head()[1] == 100
        raw.send(b"hello")
        first = raw.read_response(method="POST")
        raw.send(f"GET /owa/next?sim-echo HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        second = raw.read_response()
    assert first.status == 200 and json.loads(first.body)["bytes"] == 5
    assert second.status == 200 and json.loads(second.body)["uri"] == "/owa/next?sim-echo"


@pytest.mark.parametrize("host,target,expected", [
    ("mail.contoso.lab", "/owa/", "https://mail.contoso.lab:{port}/owa/"),
    ("mail.contoso.lab:80", "/EWS/Exchange.asmx?x=1", "https://mail.contoso.lab:{port}/EWS/Exchange.asmx?x=1"),
    ("autodiscover.contoso.lab", "/", "https://autodiscover.contoso.lab:{port}/"),
])
def test_plain_http_listener_redirects_to_https(gatehouse, host, target, expected):
    with socket.create_connection(("127.0.0.1", gatehouse.http_port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    lines = head.split("\r\n")
    assert lines[0].startswith("HTTP/1.1 301"), head
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    assert headers["location"] == expected.format(port=gatehouse.port)


def plain_http(gatehouse, request_line, host="mail.contoso.lab"):
    with socket.create_connection(("127.0.0.1", gatehouse.http_port), timeout=10) as sock:
        sock.sendall(f"{request_line}\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    lines = data.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), headers


@pytest.mark.parametrize("target,expected", [
    ("http://mail.contoso.lab/owa/?a=1", "https://mail.contoso.lab:{port}/owa/?a=1"),
    ("HTTP://autodiscover.contoso.lab:80/Autodiscover/Autodiscover.xml",
     "https://autodiscover.contoso.lab:{port}/Autodiscover/Autodiscover.xml"),
    ("http://mail.contoso.lab", "https://mail.contoso.lab:{port}/"),
    ("http://mail.contoso.lab?x=1", "https://mail.contoso.lab:{port}/?x=1"),
])
def test_plain_http_listener_redirects_absolute_form_target(gatehouse, target, expected):
    # RFC 9112 3.2.2: a server MUST accept the absolute form; its authority names the host.
    status, headers = plain_http(gatehouse, f"GET {target} HTTP/1.1", host="ignored.example")
    assert status == 301
    assert headers["location"] == expected.format(port=gatehouse.port)


@pytest.mark.parametrize("target", ["http://evil@mail.contoso.lab/owa/", "ftp://mail.contoso.lab/owa/"])
def test_plain_http_listener_refuses_odd_absolute_forms(gatehouse, target):
    status, headers = plain_http(gatehouse, f"GET {target} HTTP/1.1")
    assert status == 400
    assert "location" not in headers


def test_plain_http_listener_never_proxies(gatehouse):
    with socket.create_connection(("127.0.0.1", gatehouse.http_port), timeout=10) as sock:
        sock.sendall(b"GET /owa/echo?sim-echo HTTP/1.1\r\nHost: mail.contoso.lab\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 301")
    assert b"X-BEServer" not in data and b"sim-echo\"" not in data


def test_idle_client_connection_closed_after_timeout(gatehouse):
    with gatehouse.raw(HOST, timeout=10) as raw:
        raw.send(f"GET /owa/healthcheck.htm HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        assert raw.read_response().status == 200
        started = time.monotonic()
        closed = raw.wait_closed(CLIENT_IDLE_TIMEOUT + 4)
        elapsed = time.monotonic() - started
    assert closed, f"idle connection still open after {elapsed:.1f}s (limit {CLIENT_IDLE_TIMEOUT}s)"
    assert CLIENT_IDLE_TIMEOUT - 0.5 <= elapsed <= CLIENT_IDLE_TIMEOUT + 3, f"closed after {elapsed:.1f}s"


def test_connection_that_never_sends_a_request_is_closed(gatehouse):
    with gatehouse.raw(HOST, timeout=10) as raw:
        started = time.monotonic()
        closed = raw.wait_closed(CLIENT_IDLE_TIMEOUT + 4)
        elapsed = time.monotonic() - started
    assert closed and elapsed <= CLIENT_IDLE_TIMEOUT + 3, f"closed={closed} after {elapsed:.1f}s"


def test_busy_connection_not_closed_by_idle_timeout(gatehouse):
    # A request in progress is not idle: a 4 s hold outlives the 2 s client idle timeout.
    with gatehouse.client(HOST, timeout=15) as client:
        status, _, body = client.call(
            "POST", "/Microsoft-Server-ActiveSync?Cmd=Ping&User=alice&DeviceId=E2E1&DeviceType=Test&sim-hold=4",
            body=b"\x03\x01\x6a\x00", headers={"Content-Type": "application/vnd.ms-sync.wbxml"})
    assert status == 200, body


def h2_idle_outcome(gatehouse, request):
    """Opens an h2 connection, runs `request(client)`, then waits idle; returns (client, seconds
    from the end of `request` to the close)."""
    from conftest import CERTS
    from h2_raw import H2Raw
    client = H2Raw(gatehouse.port, HOST, str(CERTS / "ca.pem"), timeout=15)
    assert client.wait_settings()
    request(client)
    started = time.monotonic()
    client.wait(lambda: client.closed, CLIENT_IDLE_TIMEOUT + 4)
    return client, time.monotonic() - started


def test_idle_http2_connection_gets_goaway_before_close(gatehouse):
    # One idle clock per HTTP/2 connection, from client_idle_timeout: GOAWAY(NO_ERROR, last stream),
    # then the close; never a bare close.
    def one_request(client):
        sid = client.request("GET", "/owa/healthcheck.htm", HOST)
        assert client.wait_stream(sid).status == 200
    client, elapsed = h2_idle_outcome(gatehouse, one_request)
    client.close()
    assert client.closed, f"idle h2 connection still open after {elapsed:.1f}s"
    assert client.goaway == 0, f"closed without GOAWAY(NO_ERROR): goaway={client.goaway}"
    assert client.goaway_last_stream == 1
    assert CLIENT_IDLE_TIMEOUT - 0.5 <= elapsed <= CLIENT_IDLE_TIMEOUT + 3, f"closed after {elapsed:.1f}s"


def test_open_http2_stream_holds_the_idle_clock_off(gatehouse):
    # A 4 s Ping outlives the 2 s idle timeout; the GOAWAY comes only after it, naming its stream.
    ping = "/Microsoft-Server-ActiveSync?Cmd=Ping&User=alice&DeviceId=E2E2&DeviceType=Test&sim-hold=4"

    def held_ping(client):
        sid = client.request("POST", ping, HOST, headers=[("content-type", "application/vnd.ms-sync.wbxml")],
                             body=b"\x03\x01\x6a\x00")
        state = client.wait_stream(sid, timeout=10)
        assert state.status == 200 and client.goaway is None, (state, client.goaway)
    client, elapsed = h2_idle_outcome(gatehouse, held_ping)
    client.close()
    assert client.closed and client.goaway == 0 and client.goaway_last_stream == 1, (client.goaway, elapsed)
