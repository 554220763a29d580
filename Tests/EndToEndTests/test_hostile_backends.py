"""Hostile backends (issue #17 item 6): a recording backend that answers with scripted raw bytes
(`/rb-raw-<name>`, recording_backend.py) misbehaves on purpose, and for every case:

- the client gets a clear answer: a 502 (504 for a stall before the head) when nothing of the
  response was passed on, or, once the head was, a response that visibly did not complete: the
  HTTP/1.1 connection closes before the declared length / without the last chunk, the HTTP/2
  stream ends with RST_STREAM, never END_STREAM. A truncated or over-long response is never
  delivered with a valid end. Where the backend's response is itself well delimited and only what
  follows it is hostile (bytes after the end, a body on a HEAD/204/304 answer), that response is
  delivered as declared and nothing else;
- the backend connection is never reused: the proxy closes it, no later request appears in its
  per-connection record, and the next requests through the same pool (one per event loop on
  fresh client connections, and on the same client connection when it is still open) are served
  by other connections;
- Gatehouse keeps serving (those next requests get 200; the proxy never exits).

One Gatehouse for the module, one route and one pool per (case, protocol), so backend connections
never cross cases. Routes allow 1 s for the response head and 1 s without data (the stalls).
HTTP/1.1 runs every case; HTTP/2 a representative subset (`H2_CASES`).
"""
import socket
import ssl
import time
from dataclasses import dataclass, field

import pytest

from conftest import CERTS
from gatehouse_client import RawHTTPS, http11_context
from h2_raw import H2Raw
from recording_backend import (CLOSE_NOTIFY, EOF, HOLD, RESET, Pause, RecordingBackend, check_proxy,
                               event_loop_count, pool_yaml, start_recording_gatehouse)

HOST = "mail.contoso.lab"
READ_TIMEOUT = 6          # the longest a hostile answer may take to reach the client (stalls: ~1 s)
CLOSE_TIMEOUT = 3         # the longest the proxy may keep a hostile backend connection open

OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
BODY = bytes(range(100))
POISON = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nX-Poison: yes\r\n\r\npoison"


def cl(length):
    return OK_HEAD + f"Content-Length: {length}\r\n\r\n".encode()


CHUNKED = OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"




@dataclass
class Case:
    """`expect`: "error" (a complete 502/504, `status`), "broken" (an error before the head, or a
    response that does not complete), "ok" (`status` and `body` delivered exactly, complete),
    "ok-or-error" (either "ok" or "error"). `settle`: wait for the hostile connection to close
    before the next requests (bytes the backend sends late could otherwise meet a request that
    legitimately reused the connection in between, which no HTTP/1.1 client can prevent)."""
    script: list
    expect: str
    status: int = 502
    body: bytes = b"hello"
    method: str = "GET"
    settle: bool = False
    interim_max: int = 10     # at most this many 1xx heads relayed to the client
    control: bool = False     # a well-formed answer (the comparison case): its connection may be reused
    xfail: str = None         # a known Gatehouse defect (strict xfail)


CASES = {
    # ---- the comparison case: well formed, so its connection is reused
    "well-formed": Case([cl(5) + b"hello"], "ok", status=200, control=True),
    # ---- Content-Length: shorter, longer, wrong, twice
    "cl-short-close-notify": Case([cl(100) + BODY[:50], CLOSE_NOTIFY], "broken"),
    "cl-short-eof": Case([cl(100) + BODY[:50], EOF], "broken"),
    "cl-short-reset": Case([cl(100) + BODY[:50], Pause(0.05), RESET], "broken"),
    "cl-short-stall": Case([cl(100) + BODY[:50], HOLD], "broken"),
    "stall-after-head": Case([cl(100), HOLD], "broken"),
    "cl-long-glued": Case([cl(5) + b"hello" + b"EXTRA BYTES BEYOND THE DECLARED LENGTH"], "ok", status=200),
    "cl-twice-different": Case([OK_HEAD + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"], "error"),
    "cl-twice-same": Case([OK_HEAD + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"], "ok-or-error",
                          status=200),
    "cl-list": Case([OK_HEAD + b"Content-Length: 5, 6\r\n\r\nhello!"], "error"),
    "cl-not-a-number": Case([OK_HEAD + b"Content-Length: five\r\n\r\nhello"], "error"),
    "cl-negative": Case([OK_HEAD + b"Content-Length: -5\r\n\r\nhello"], "error"),
    "cl-signed": Case([OK_HEAD + b"Content-Length: +5\r\n\r\nhello"], "error"),
    "cl-overflow": Case([OK_HEAD + b"Content-Length: 184467440737095516160\r\n\r\nhello"], "error"),
    # ---- chunked with bad sizes, cut short, or longer than its last chunk
    "chunk-not-hex": Case([CHUNKED + b"zz\r\nhello\r\n0\r\n\r\n"], "broken"),
    "chunk-overflow": Case([CHUNKED + b"5\r\nhello\r\n100000000000000005\r\nhello\r\n0\r\n\r\n"], "broken"),
    "chunk-negative": Case([CHUNKED + b"5\r\nhello\r\n-5\r\nhello\r\n0\r\n\r\n"], "broken"),
    "chunk-missing-crlf": Case([CHUNKED + b"5\r\nhelloXX0\r\n\r\n"], "broken"),
    "chunk-data-short-close-notify": Case([CHUNKED + b"a\r\nhello", CLOSE_NOTIFY], "broken"),
    "chunk-no-last-chunk-close-notify": Case([CHUNKED + b"5\r\nhello\r\n", CLOSE_NOTIFY], "broken"),
    "chunk-no-last-chunk-eof": Case([CHUNKED + b"5\r\nhello\r\n", EOF], "broken"),
    "chunk-stall": Case([CHUNKED + b"5\r\nhello\r\n", HOLD], "broken"),
    "chunk-long-glued": Case([CHUNKED + b"5\r\nhello\r\n0\r\n\r\n5\r\nextra\r\n0\r\n\r\n"], "ok", status=200),
    "trailer-flood": Case([CHUNKED + b"5\r\nhello\r\n0\r\n"
                           + b"".join(b"X-T-%d: v\r\n" % i for i in range(2000)) + b"\r\n"], "broken"),
    # ---- Transfer-Encoding other than chunked, and with Content-Length
    "te-gzip": Case([OK_HEAD + b"Transfer-Encoding: gzip\r\n\r\n\x1f\x8b\x08\x00hello", CLOSE_NOTIFY], "error"),
    "te-gzip-chunked": Case([OK_HEAD + b"Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"], "error"),
    "te-chunked-gzip": Case([OK_HEAD + b"Transfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                             CLOSE_NOTIFY], "error"),
    "te-identity": Case([OK_HEAD + b"Transfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello"], "error"),
    "cl-and-te": Case([OK_HEAD + b"Content-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"5\r\nhello\r\n0\r\n\r\n"], "ok-or-error", status=200),
    "te-twice": Case([OK_HEAD + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"5\r\nhello\r\n0\r\n\r\n"], "ok-or-error", status=200),
    # ---- header floods
    "header-huge": Case([OK_HEAD + b"X-Huge: " + b"h" * (100 << 10) + b"\r\nContent-Length: 5\r\n\r\nhello"], "error"),
    "header-many": Case([OK_HEAD + b"".join(b"X-Flood-%d: v\r\n" % i for i in range(2000))
                         + b"Content-Length: 5\r\n\r\nhello"], "error"),
    # ---- the head cut short, stalled, or never sent
    "close-before-head": Case([CLOSE_NOTIFY], "error"),
    "close-mid-header": Case([b"HTTP/1.1 200 OK\r\nContent-Le", CLOSE_NOTIFY], "error"),
    "close-mid-header-eof": Case([b"HTTP/1.1 200 OK\r\nContent-Le", EOF], "error"),
    "stall-mid-header": Case([b"HTTP/1.1 200 OK\r\nX-Half: ", HOLD], "error", status=504),
    "not-http": Case([b"SSH-2.0-OpenSSH_9.6\r\n\r\n"], "error"),
    "status-not-a-number": Case([b"HTTP/1.1 2OO OK\r\nContent-Length: 5\r\n\r\nhello"], "error"),
    # ---- interim responses
    "1xx-few": Case([CONTINUE, CONTINUE, b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n",
                     cl(5) + b"hello"], "ok", status=200, control=True),
    "1xx-flood": Case([CONTINUE * 300 + cl(5) + b"hello"], "error"),
    "1xx-then-close": Case([CONTINUE, CLOSE_NOTIFY], "error"),
    "101-without-upgrade": Case([b"HTTP/1.1 101 Switching Protocols\r\n\r\n" + cl(5) + b"hello"], "error"),
    # ---- a body where none may be
    "head-with-body": Case([cl(5) + b"hello"], "ok", status=200, body=b"", method="HEAD"),
    "head-with-chunked-body": Case([CHUNKED + b"5\r\nhello\r\n0\r\n\r\n"], "ok", status=200, body=b"",
                                   method="HEAD"),
    "204-with-body": Case([b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello"], "ok", status=204, body=b""),
    "204-with-chunked-body": Case([b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   b"5\r\nhello\r\n0\r\n\r\n"], "ok", status=204, body=b""),
    "304-with-body": Case([b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\nhello"], "ok", status=304, body=b""),
    # ---- bytes after the response's end (response-queue poisoning)
    "poison-glued": Case([cl(5) + b"hello" + POISON], "ok", status=200),
    "poison-glued-status-line": Case([cl(5) + b"hello" + b"HTTP/1.1 200 OK\r\n"], "ok", status=200),
    "poison-glued-partial": Case([cl(5) + b"hello" + b"HTT"], "ok", status=200),
    "poison-next-record": Case([cl(5) + b"hello", POISON], "ok", status=200),
    "poison-late": Case([cl(5) + b"hello", Pause(0.3), POISON], "ok", status=200, settle=True),
    # ---- a body delimited by the connection's end
    "close-delimited-eof": Case([OK_HEAD + b"\r\n" + BODY, Pause(0.05), EOF], "broken"),
    "close-delimited-close-notify": Case([OK_HEAD + b"\r\n" + BODY, Pause(0.05), CLOSE_NOTIFY], "ok", status=200,
                                         body=BODY, control=True),
}

H2_CASES = ["well-formed", "cl-short-eof", "cl-short-stall", "stall-after-head", "cl-long-glued", "cl-twice-different",
            "chunk-not-hex", "chunk-no-last-chunk-close-notify", "te-gzip", "cl-and-te", "header-huge",
            "header-many", "close-mid-header", "1xx-flood", "101-without-upgrade", "head-with-body",
            "204-with-body", "poison-glued-status-line", "close-delimited-eof"]

PREFIXES = {(name, proto): f"/hb{index}-{proto}/"
            for index, name in enumerate(CASES) for proto in ("h1", "h2")}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    backend = RecordingBackend(scripts={name: case.script for name, case in CASES.items()})
    pools = "".join(pool_yaml(f"p{index}", backend) for index in range(len(PREFIXES)))
    routes = "".join(
        f"      - {{ path: {prefix}, pool: p{index}, compression: {{ enabled: false }}, "
        f"timeouts: {{ connect: 3s, header: 1s, idle: 1s }} }}\n"
        for index, prefix in enumerate(PREFIXES.values()))
    services = f"  - name: hostile\n    hosts: [{HOST}]\n    routes:\n{routes}"
    gatehouse = None
    try:
        gatehouse = start_recording_gatehouse(tmp_path_factory.mktemp("hostile"), pools, services)
        gatehouse.loops = event_loop_count(gatehouse)
        gatehouse.backend = backend
        yield gatehouse
    finally:
        if gatehouse is not None:
            gatehouse.process.stop()
        backend.stop()


@pytest.fixture(autouse=True)
def proxy_alive(hostile, request):
    yield from check_proxy(hostile, request)


# ---- what the client saw


@dataclass
class Outcome:
    """One response as a client saw it. `complete`: it ended as its framing says (HTTP/1.1: the
    declared length, the last chunk, or a bodiless status; HTTP/2: END_STREAM). `closed`: the
    client connection closed (HTTP/1.1) or the stream was reset (HTTP/2, `reset` is its code)."""
    status: int = None
    headers: list = field(default_factory=list)
    body: bytes = b""
    interim: int = 0
    complete: bool = False
    closed: bool = False
    stalled: bool = False
    reset: int = None
    note: str = ""

    def header(self, name):
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def __repr__(self):
        return (f"<status={self.status} complete={self.complete} closed={self.closed} stalled={self.stalled} "
                f"reset={self.reset} interim={self.interim} body={self.body[:60]!r} ({len(self.body)} bytes) "
                f"headers={self.headers[:12]} {self.note}>")


def raw_client(gatehouse, timeout=READ_TIMEOUT):
    return RawHTTPS(gatehouse.port, HOST, http11_context(str(CERTS / "ca.pem")), timeout=timeout)


ENDS = (ConnectionError, ssl.SSLError, OSError, ValueError)


def read_h1(client, method):
    """Reads one response (after any 1xx heads), noting exactly how far it got."""
    outcome = Outcome()
    try:
        while True:
            _, status, _, headers = client.read_head()
            if 100 <= status < 200:
                outcome.interim += 1
                continue
            outcome.status, outcome.headers = status, headers
            break
        coding = (outcome.header("Transfer-Encoding") or "").lower()
        length = outcome.header("Content-Length")
        if method == "HEAD" or outcome.status in (204, 304):
            outcome.complete = True
        elif coding == "chunked":
            body = bytearray()
            while True:
                size = int(client.read_line().split(b";")[0], 16)
                if size == 0:
                    while client.read_line():
                        pass
                    break
                body += client.read_exact(size)
                outcome.body = bytes(body)
                if client.read_exact(2) != b"\r\n":
                    outcome.note = "chunk data not followed by CRLF"
                    return outcome
            outcome.body = bytes(body)
            outcome.complete = True
        elif length is not None:
            outcome.body = client.read_exact(int(length))
            outcome.complete = True
        else:
            # Close-delimited: the client cannot tell a truncation; counted as complete (the
            # proxy must not produce this shape for a truncated response).
            outcome.body = client.read_to_close()
            outcome.closed = outcome.complete = True
    except socket.timeout:
        outcome.stalled = True
    except ENDS as error:
        outcome.closed = True
        outcome.note = repr(error)
        if outcome.status is not None and not outcome.complete and not outcome.body:
            outcome.body = client.buffer
    return outcome


def h1_exchange(gatehouse, target, method="GET"):
    """A fresh client connection, one request: (outcome, the client, still open)."""
    client = raw_client(gatehouse)
    client.send(f"{method} {target} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    return read_h1(client, method), client


def h2_outcome(state, closed):
    return Outcome(status=state.status, headers=list(state.headers), body=bytes(state.data),
                   interim=len(state.informational), complete=state.end_stream and state.reset is None,
                   closed=state.reset is not None or closed, reset=state.reset,
                   stalled=not state.ended and not closed)


# ---- the checks


def check_outcome(case, outcome, name):
    error_ok = outcome.status == case.status if case.expect == "error" else outcome.status in (502, 504)
    is_error = outcome.complete and error_ok and case.expect != "ok"
    is_ok = (outcome.complete and outcome.status == case.status and outcome.body == case.body)
    assert not outcome.stalled, f"{name}: the client got no (complete or ended) answer in {READ_TIMEOUT} s: {outcome!r}"
    assert outcome.interim <= case.interim_max, (
        f"{name}: {outcome.interim} interim (1xx) responses were relayed to the client: {outcome!r}")
    if case.expect == "error":
        assert is_error, f"{name}: expected a complete {case.status}, got {outcome!r}"
    elif case.expect == "ok":
        assert is_ok, f"{name}: expected a complete {case.status} with body {case.body[:40]!r}, got {outcome!r}"
    elif case.expect == "ok-or-error":
        assert is_ok or is_error, f"{name}: expected a complete {case.status} with {case.body!r} or a 502, got {outcome!r}"
        if is_ok:
            assert outcome.header("Content-Length") in (None, str(len(case.body))), (
                f"{name}: the forwarded response declares a length its body does not have: {outcome!r}")
    else:   # broken: an error answer, or visibly not complete
        if outcome.complete:
            assert outcome.status in (502, 504), (
                f"{name}: a truncated or malformed response was passed on as complete: {outcome!r}")
        else:
            assert outcome.closed, f"{name}: the response neither completed nor ended: {outcome!r}"


def hostile_connections(gatehouse, prefix):
    backend = gatehouse.backend
    ids = sorted({r.conn_id for r in backend.requests_with(prefix + "rb-raw-")})
    assert ids, f"precondition: the hostile request never reached the backend ({prefix})"
    return ids


def follow_ups(gatehouse, prefix, bad_ids, name):
    """One request per event loop on fresh client connections: each served (200) by a connection
    that is not one of `bad_ids`."""
    for index in range(gatehouse.loops):
        outcome, client = h1_exchange(gatehouse, f"{prefix}after-{index}")
        client.close()
        check_follow_up(outcome, bad_ids, f"{name}: next request {index} (fresh client connection)")


def check_follow_up(outcome, bad_ids, what):
    assert outcome.complete and outcome.status == 200, f"{what}: not served: {outcome!r}"
    conn = int(outcome.header("X-RB-Conn") or 0)
    assert conn not in bad_ids, f"{what}: served on the hostile backend connection {conn}"


def check_closed(gatehouse, bad_ids, name):
    backend = gatehouse.backend
    open_ids = [c for c in bad_ids
                if not backend.wait_for(lambda c=c: backend.record(c).ended.is_set(), timeout=CLOSE_TIMEOUT)]
    assert not open_ids, (f"{name}: the proxy kept hostile backend connection(s) {open_ids} open "
                          f"{CLOSE_TIMEOUT} s after the exchange\n{backend.describe(set(open_ids))}")
    for conn in bad_ids:
        carried = [r.target for r in backend.record(conn).requests]
        assert all("/rb-raw-" in target for target in carried), (
            f"{name}: hostile backend connection {conn} was reused: it carried {carried}")


def settle(gatehouse, prefix):
    backend = gatehouse.backend
    for conn in hostile_connections(gatehouse, prefix):
        backend.wait_for(lambda conn=conn: backend.record(conn).ended.is_set(), timeout=CLOSE_TIMEOUT)


# ---- the tests


def reusable(case):
    """A well-formed answer after which the backend keeps its connection open."""
    return case.control and case.script[-1] not in (CLOSE_NOTIFY, EOF, RESET)


def params(names):
    return [pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=CASES[name].xfail))
            if CASES[name].xfail else name for name in names]


@pytest.mark.parametrize("name", params(CASES))
def test_hostile_backend_http11(hostile, name):
    case = CASES[name]
    prefix = PREFIXES[(name, "h1")]
    outcome, client = h1_exchange(hostile, f"{prefix}rb-raw-{name}", method=case.method)
    try:
        check_outcome(case, outcome, name)
        bad_ids = [] if case.control else hostile_connections(hostile, prefix)
        if case.settle:
            settle(hostile, prefix)
        if outcome.complete and not outcome.closed and (outcome.header("Connection") or "").lower() != "close":
            # The client connection stays open: its next request must parse and be served (no
            # byte of the hostile answer leaked into it) by another backend connection.
            client.send(f"GET {prefix}same-client HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
            after = read_h1(client, "GET")
            check_follow_up(after, bad_ids, f"{name}: next request on the same client connection")
            if reusable(case):
                # Same client connection, same event loop, same pool: a well-formed answer's
                # backend connection is reused (the checks above do not close every connection).
                used = hostile_connections(hostile, prefix)
                assert int(after.header("X-RB-Conn") or 0) in used, (
                    f"{name}: a well-formed answer's backend connection {used} was not reused: {after!r}")
    finally:
        client.close()
    if case.control:
        return
    follow_ups(hostile, prefix, bad_ids, name)
    check_closed(hostile, bad_ids, name)


@pytest.mark.parametrize("name", params(H2_CASES))
def test_hostile_backend_http2(hostile, name):
    case = CASES[name]
    prefix = PREFIXES[(name, "h2")]
    with H2Raw(hostile.port, HOST, str(CERTS / "ca.pem"), timeout=READ_TIMEOUT) as client:
        sid = client.request(case.method, f"{prefix}rb-raw-{name}", HOST)
        state = client.wait_stream(sid)
        outcome = h2_outcome(state, client.closed)
        check_outcome(case, outcome, f"{name} (HTTP/2)")
        if case.expect == "broken" and not outcome.complete:
            assert outcome.reset is not None, f"{name} (HTTP/2): the stream was not reset: {outcome!r}"
        bad_ids = [] if case.control else hostile_connections(hostile, prefix)
        if case.settle:
            settle(hostile, prefix)
        # The same HTTP/2 connection (same event loop, same pool) keeps serving.
        assert not client.closed and client.goaway is None, (
            f"{name} (HTTP/2): the client connection ended (GOAWAY {client.goaway}) for one stream's backend")
        again = client.request("GET", f"{prefix}same-client", HOST)
        after = h2_outcome(client.wait_stream(again), client.closed)
        check_follow_up(after, bad_ids, f"{name} (HTTP/2): next stream on the same connection")
        if reusable(case):
            used = hostile_connections(hostile, prefix)
            assert int(after.header("x-rb-conn") or 0) in used, (
                f"{name} (HTTP/2): a well-formed answer's backend connection {used} was not reused: {after!r}")
    follow_ups(hostile, prefix, bad_ids, f"{name} (HTTP/2)")
    check_closed(hostile, bad_ids, f"{name} (HTTP/2)")


def test_gatehouse_serves_other_pools_after_the_whole_suite(hostile):
    """After every hostile case: each event loop still serves a plain request promptly."""
    started = time.monotonic()
    prefix = PREFIXES[("1xx-few", "h1")]
    follow_ups(hostile, prefix, [], "final check")
    assert time.monotonic() - started < 5
