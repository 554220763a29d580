"""Clients that go away: the proxy must release the backend side at once (a device that drops a held
ActiveSync Ping must not leave a backend connection waiting for an hour), and failures of one
pipelined request must not disturb the order of the others."""
import json
import socket
import struct
import time

import pytest

pytestmark = pytest.mark.usefixtures("proxy_log_on_failure")
HOST = "open.contoso.lab"
MIB = 1 << 20


def sim_state(sim):
    with sim.client() as admin:
        return json.loads(admin.get("/_sim/state")[2])


def open_backend_connections(sim):
    # The state request itself holds one connection open while it is answered.
    return sim_state(sim)["connectionsOpen"] - 1


class RequestCounter:
    """The sim's request count minus the state requests this counter made itself."""

    def __init__(self, sim):
        self.sim = sim
        self.own = 0
        self.start = self.now()

    def now(self):
        self.own += 1
        return sim_state(self.sim)["requests"] - self.own

    def new_requests(self):
        return self.now() - self.start


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def reset(sock):
    """Closes with RST (SO_LINGER 0), as a phone that loses its network does, more or less."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_client_reset_mid_download_closes_backend_connection(gatehouse):
    sim = gatehouse.backends["mbx03"]
    # A raw socket: http.client's response keeps a file object on the socket, which would keep the
    # descriptor open after close() and hide the reset.
    raw = gatehouse.raw(HOST, timeout=20)
    raw.send(f"GET /owa/abandoned.bin?sim-bytes={1 << 30} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    while len(raw.buffer) < 4 * MIB:
        raw._fill()
    assert raw.buffer.startswith(b"HTTP/1.1 200")
    busy = open_backend_connections(sim)
    reset(raw.sock)
    assert wait_for(lambda: open_backend_connections(sim) < busy, 5), \
        f"backend connection still open after the client left: {sim_state(sim)}"
    assert wait_for(lambda: "abandoned.bin" in gatehouse.log(), 5), "the aborted request was never logged"


def test_client_gone_during_held_ping_releases_backend_connection(gatehouse):
    sim = gatehouse.backends["mbx03"]
    counter = RequestCounter(sim)
    client = gatehouse.client(HOST, timeout=20)
    conn = client.conn
    conn.putrequest("POST", "/Microsoft-Server-ActiveSync?Cmd=Ping&User=a&DeviceId=GONE1&DeviceType=T&sim-hold=600",
                    skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", HOST)
    conn.putheader("Content-Length", "4")
    conn.endheaders(b"\x03\x01\x6a\x00")
    # The Ping may ride a pooled keep-alive connection: count requests, not connections.
    assert wait_for(lambda: counter.new_requests() >= 1, 5), "the Ping never reached the backend"
    held = open_backend_connections(sim)
    reset(client.sock)
    assert wait_for(lambda: open_backend_connections(sim) < held, 5), \
        f"a Ping abandoned by its client still holds a backend connection: {sim_state(sim)}"


def test_pipelined_requests_with_a_failing_backend_stay_in_order(gatehouse):
    requests = [("/owa/x?sim-echo&n=1", 200), ("/refused/owa/x", 502), ("/owa/x?sim-echo&n=2", 200),
                ("/impostor/owa/x", 502), ("/owa/x?sim-echo&n=3", 200)]
    batch = b"".join(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode() for path, _ in requests)
    with gatehouse.raw(HOST, timeout=15) as raw:
        raw.send(batch)
        answers = [raw.read_response() for _ in requests]
    assert [a.status for a in answers] == [status for _, status in requests]
    assert [json.loads(a.body)["uri"] for a in answers if a.status == 200] == \
        [path for path, status in requests if status == 200]


def test_expect_continue_to_refused_backend_gets_502_without_100(gatehouse):
    with gatehouse.raw(HOST, timeout=10) as raw:
        raw.send(f"POST /refused/API/x HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 10\r\n"
                 "Expect: 100-continue\r\n\r\n".encode())
        status = raw.read_head()[1]
    assert status == 502


def test_post_body_to_refused_backend_gets_502(gatehouse):
    with gatehouse.client(HOST, timeout=10) as client:
        status, _, body = client.call("POST", "/refused/API/x", body=b"b" * 200_000)
    assert status == 502, body
