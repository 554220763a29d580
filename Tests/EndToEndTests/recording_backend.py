"""A recording TLS backend for security end-to-end tests: it keeps the exact bytes Gatehouse sends on
each backend connection and parses them with its own strict HTTP/1.1 request parser, so tests can
assert what a backend *would* have understood (one request or two, which framing, which body).

- Threads only, 127.0.0.1, an ephemeral port, the demo certificate of mbx01 (self-signed,
  SAN mbx01.contoso.lab): a pool trusts it with `trust: { certificates: [certs-example/mbx01.pem] }`
  and `tls_name: mbx01.contoso.lab` (see `pool_yaml`).
- Each accepted connection gets an id (1, 2, ...) and a `ConnectionRecord`: the raw bytes received,
  the parsed requests, parse errors, and whether the proxy (the peer) closed it.
- Behaviour is chosen by the request target (see `RecordingBackend._answer`):
  `/rb-101` -> 101 Switching Protocols (then the connection only records);
  `/rb-head-nocl` + HEAD -> 200 without Content-Length or Transfer-Encoding;
  `/rb-close-on-post` -> the first request for that exact target is read, then the connection is
  closed without an answer (later requests for the same target get the default answer);
  `/rb-silent` -> never answered; `/rb-ntlm401` -> 401 with `WWW-Authenticate: NTLM <challenge>`;
  `/rb-delay-<ms>` -> the answer is held for <ms> milliseconds (at most 9999);
  `/rb-raw-<name>` -> the script `scripts[name]` is played (see `Pause`, `CLOSE_NOTIFY`, `EOF`,
  `RESET`, `HOLD`): raw response bytes, exactly as given, for hostile-backend tests;
  with `status_for` (a function of the target), a target it maps to a status gets that status
  (`Content-Length` body, the usual `X-RB-*` headers), e.g. this backend's EWS answering 503;
  anything else -> 200 with a small body and `X-RB-Conn`, `X-RB-Seq` (request number on that
  connection), `X-RB-Target` and `X-RB-Method`.
  `.../healthcheck.htm` gets 200 and is not recorded.
- Handshake modes: `handshake="normal"`, `"never"` (accept TCP, never answer the ClientHello) or a
  number of seconds to wait before the handshake.

Every loop is bounded: the accept loop and connection threads stop with `stop()` and in any case
after `max_lifetime` seconds; every wait helper takes a timeout.
"""
import base64
import json
import os
import re
import socket
import ssl
import struct
import threading
import time
import urllib.request

from conftest import BIN, CERTS, Gatehouse, Process, free_port, session_config, wait_for_port

BACKEND_CERT = CERTS / "mbx01.pem"
BACKEND_KEY = CERTS / "mbx01.key"
BACKEND_TLS_NAME = "mbx01.contoso.lab"

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_REQUEST_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) HTTP/1\.1")
_CHUNK_LINE = re.compile(
    rb"([0-9A-Fa-f]{1,16})"
    rb"((?:[ \t]*;[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*=[ \t]*(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|\"[^\"\r\n]*\"))?)*)")
_FIELD_VALUE_BAD = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")

# An NTLM CHALLENGE (type 2) message shaped like a real one (flags, target info offsets): the proxy
# only looks at the scheme, clients may decode it.
NTLM_CHALLENGE = "NTLM " + base64.b64encode(
    b"NTLMSSP\x00\x02\x00\x00\x00\x0c\x00\x0c\x008\x00\x00\x00\x05\x82\x89\xa2"
    + b"\x11\x22\x33\x44\x55\x66\x77\x88" + b"\x00" * 8 + b"\x00\x00\x00\x00\x44\x00\x00\x00"
    + b"\x0a\x00\x61\x4a\x00\x00\x00\x0f" + "CONTOSO".encode("utf-16-le")[:12]).decode()


class Pause:
    """A script step: wait this many seconds (bounded by `stop()`) before the next step."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __repr__(self):
        return f"Pause({self.seconds})"


# Script steps that end the answer (the connection is then over) or leave it unanswered.
CLOSE_NOTIFY = "close-notify"   # TLS close_notify, then TCP close: a clean end of the connection
EOF = "eof"                     # TCP FIN without close_notify (a TLS truncation)
RESET = "reset"                 # TCP RST (SO_LINGER 0)
HOLD = "hold"                   # nothing more is sent; later bytes are recorded, never answered


class StrictParseError(Exception):
    """The bytes are not one unambiguous HTTP/1.1 request stream (a strict server answers 400)."""


class ParsedRequest:
    """One request as the strict parser understood it."""

    def __init__(self, conn_id, seq, method, target, header_lines, raw_head):
        self.conn_id = conn_id
        self.seq = seq                      # 1, 2, ... on its connection
        self.method = method
        self.target = target
        self.header_lines = header_lines    # [(name, value)] as received, latin-1 text
        self.raw_head = raw_head            # bytes up to and including the blank line
        self.framing = "none"               # "none" | "content-length" | "chunked"
        self.body = b""                     # decoded body
        self.chunk_sizes = []
        self.chunk_extensions = []          # raw extension text of each chunk line (incl. last)
        self.trailers = []                  # [(name, value)]
        self.complete = False
        self.received_at = time.monotonic()

    def values(self, name):
        return [v for n, v in self.header_lines if n.lower() == name.lower()]

    def header(self, name):
        found = self.values(name)
        return found[0] if found else None

    def describe(self):
        head = self.raw_head.decode("latin-1")
        return (f"conn {self.conn_id} #{self.seq} {self.method} {self.target} framing={self.framing} "
                f"body={self.body[:120]!r} ({len(self.body)} bytes)\n{head}")

    def __repr__(self):
        return f"<ParsedRequest conn={self.conn_id} seq={self.seq} {self.method} {self.target} {self.framing}>"


class RequestParser:
    """Incremental strict HTTP/1.1 request parser: request line, header fields (no obs-fold, no bare
    CR/LF, token names), then a body by exactly one `Content-Length` (plain digits) or exactly one
    `Transfer-Encoding: chunked` (chunk extensions and trailers allowed), no body otherwise. Both
    framings at once, several Content-Length lines or a list value are errors."""

    MAX_HEAD = 256 * 1024
    MAX_LINE = 8 * 1024

    def __init__(self, conn_id):
        self.conn_id = conn_id
        self.buf = bytearray()
        self.pos = 0
        self.state = "head"
        self.current = None
        self.remaining = 0
        self.body_parts = []
        self.seq = 0
        self.head_scan = 0

    def feed(self, data):
        """Adds bytes; returns the requests completed by them (raises StrictParseError)."""
        self.buf += data
        done = []
        for _ in range(1_000_000):          # bounded: each turn consumes input or returns
            progressed = self._step(done)
            if not progressed:
                break
        if self.pos > (1 << 20):
            del self.buf[:self.pos]
            self.head_scan = max(0, self.head_scan - self.pos)
            self.pos = 0
        return done

    def started(self):
        """Whether a request is partly received (bytes after the last complete request)."""
        return self.state != "head" or self.pos < len(self.buf)

    def _line(self):
        end = self.buf.find(b"\r\n", self.pos)
        if end < 0:
            pending = self.buf[self.pos:]
            if b"\n" in pending:
                raise StrictParseError(f"bare LF in {bytes(pending[:80])!r}")
            if len(pending) > self.MAX_LINE:
                raise StrictParseError("line too long")
            return None
        line = bytes(self.buf[self.pos:end])
        if b"\r" in line or b"\n" in line:
            raise StrictParseError(f"bare CR/LF in line {line[:80]!r}")
        self.pos = end + 2
        return line

    def _step(self, done):
        if self.state == "head":
            return self._head(done)
        if self.state == "cl-body":
            available = len(self.buf) - self.pos
            if available == 0 and self.remaining > 0:
                return False
            take = min(available, self.remaining)
            self.body_parts.append(bytes(self.buf[self.pos:self.pos + take]))
            self.pos += take
            self.remaining -= take
            if self.remaining == 0:
                self._finish(done)
            return True
        if self.state == "chunk-size":
            line = self._line()
            if line is None:
                return False
            match = _CHUNK_LINE.fullmatch(line)
            if not match:
                raise StrictParseError(f"bad chunk-size line {line[:80]!r}")
            size = int(match.group(1), 16)
            self.current.chunk_sizes.append(size)
            self.current.chunk_extensions.append(match.group(2).decode("latin-1"))
            if size == 0:
                self.state = "trailers"
            else:
                self.remaining = size
                self.state = "chunk-data"
            return True
        if self.state == "chunk-data":
            available = len(self.buf) - self.pos
            if available == 0:
                return False
            take = min(available, self.remaining)
            self.body_parts.append(bytes(self.buf[self.pos:self.pos + take]))
            self.pos += take
            self.remaining -= take
            if self.remaining == 0:
                self.state = "chunk-crlf"
            return True
        if self.state == "chunk-crlf":
            if len(self.buf) - self.pos < 2:
                return False
            if self.buf[self.pos:self.pos + 2] != b"\r\n":
                raise StrictParseError(f"chunk data not followed by CRLF: {bytes(self.buf[self.pos:self.pos + 20])!r}")
            self.pos += 2
            self.state = "chunk-size"
            return True
        if self.state == "trailers":
            line = self._line()
            if line is None:
                return False
            if line == b"":
                self._finish(done)
                return True
            self.current.trailers.append(self._field(line))
            return True
        raise AssertionError(self.state)

    def _head(self, done):
        if self.pos >= len(self.buf):
            return False
        end = self.buf.find(b"\r\n\r\n", max(self.pos, self.head_scan - 3))
        if end < 0:
            pending = self.buf[self.pos:]
            stripped = pending.replace(b"\r\n", b"")
            if b"\n" in stripped:
                raise StrictParseError(f"bare LF in request head {bytes(pending[:200])!r}")
            if b"\r" in stripped[:-1] or (stripped.endswith(b"\r") and not pending.endswith(b"\r")):
                raise StrictParseError(f"bare CR in request head {bytes(pending[:200])!r}")
            if len(pending) > self.MAX_HEAD:
                raise StrictParseError("request head too large")
            self.head_scan = len(self.buf)
            return False
        raw_head = bytes(self.buf[self.pos:end + 4])
        self.pos = end + 4
        self.head_scan = self.pos
        lines = raw_head[:-4].split(b"\r\n")
        for line in lines:
            if b"\r" in line or b"\n" in line:
                raise StrictParseError(f"bare CR/LF in request head {raw_head[:300]!r}")
        match = _REQUEST_LINE.fullmatch(lines[0])
        if not match:
            raise StrictParseError(f"bad request line {lines[0][:200]!r}")
        fields = [self._field(line) for line in lines[1:]]
        self.seq += 1
        request = ParsedRequest(self.conn_id, self.seq, match.group(1).decode(), match.group(2).decode("latin-1"),
                                fields, raw_head)
        self.current = request
        lengths = request.values("content-length")
        codings = request.values("transfer-encoding")
        where = f"in {raw_head[:400]!r}"
        if lengths and codings:
            raise StrictParseError(f"both Content-Length and Transfer-Encoding {where}")
        if codings:
            if len(codings) != 1 or codings[0].lower() != "chunked":
                raise StrictParseError(f"Transfer-Encoding other than one 'chunked' line {where}")
            request.framing = "chunked"
            self.state = "chunk-size"
            return True
        if lengths:
            if len(lengths) != 1:
                raise StrictParseError(f"{len(lengths)} Content-Length lines {where}")
            if not re.fullmatch(r"[0-9]{1,18}", lengths[0]):
                raise StrictParseError(f"Content-Length {lengths[0]!r} is not one decimal number {where}")
            request.framing = "content-length"
            self.remaining = int(lengths[0])
            if self.remaining > 0:
                self.state = "cl-body"
                return True
        self._finish(done)
        return True

    def _finish(self, done):
        self.current.body = b"".join(self.body_parts)
        self.current.complete = True
        done.append(self.current)
        self.current = None
        self.body_parts = []
        self.state = "head"

    def _field(self, line):
        if line[:1] in (b" ", b"\t"):
            raise StrictParseError(f"obs-fold line {line[:80]!r}")
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.fullmatch(name):
            raise StrictParseError(f"bad header field {line[:80]!r}")
        value = value.strip(b" \t")
        if _FIELD_VALUE_BAD.search(value):
            raise StrictParseError(f"control character in header field {line[:80]!r}")
        return name.decode("latin-1"), value.decode("latin-1")


class ConnectionRecord:
    """What one accepted backend connection saw."""

    def __init__(self, conn_id):
        self.id = conn_id
        self.raw = bytearray()
        self.requests = []
        self.errors = []                    # StrictParseError texts
        self.opened_at = time.monotonic()
        self.tls_done = False
        self.peer_closed = threading.Event()   # the proxy closed (EOF or reset)
        self.ended = threading.Event()         # the connection is over, whoever ended it
        self.closed_by_backend = False
        self.switched = False               # after a 101: bytes are recorded, not parsed
        self.silent = False
        self.sock = None

    def __repr__(self):
        state = "peer-closed" if self.peer_closed.is_set() else ("ended" if self.ended.is_set() else "open")
        return f"<conn {self.id} {state} requests={[r.target for r in self.requests]} errors={self.errors}>"


class RecordingBackend:
    def __init__(self, handshake="normal", max_lifetime=300.0, certfile=BACKEND_CERT, keyfile=BACKEND_KEY,
                 status_for=None, scripts=None):
        self.handshake = handshake
        self.status_for = status_for
        # name -> [step]: a step is bytes (sent as given, one sendall), a callable
        # (record, request) -> bytes, a `Pause`, or one of CLOSE_NOTIFY, EOF, RESET, HOLD (last).
        # A script that ends otherwise leaves the connection open, answering the next requests.
        self.scripts = dict(scripts or {})
        self.max_lifetime = max_lifetime
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(certfile), str(keyfile))
        self.lock = threading.Condition()
        self.connections = {}               # id -> ConnectionRecord
        self.requests = []                  # every recorded request, in arrival order
        self.closed_targets = set()         # /rb-close-on-post targets already closed once
        self.stopping = threading.Event()
        self.threads = []
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.started_at = time.monotonic()
        self.accept_thread = threading.Thread(target=self._accept_loop, daemon=True, name=f"rb-accept-{self.port}")
        self.accept_thread.start()

    # ---- lifecycle

    def _alive(self):
        return not self.stopping.is_set() and time.monotonic() - self.started_at < self.max_lifetime

    def stop(self):
        self.stopping.set()
        try:
            self.listener.close()
        except OSError:
            pass
        with self.lock:
            records = list(self.connections.values())
        for record in records:
            self._shutdown(record)
        self.accept_thread.join(timeout=2)
        deadline = time.monotonic() + 5
        for thread in list(self.threads):
            thread.join(timeout=max(0.05, deadline - time.monotonic()))

    @staticmethod
    def _shutdown(record):
        sock = record.sock
        if sock is None:
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _accept_loop(self):
        next_id = 1
        for _ in range(100_000):            # bounded: at most this many connections
            if not self._alive():
                return
            try:
                sock, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                record = ConnectionRecord(next_id)
                self.connections[next_id] = record
                next_id += 1
                self.lock.notify_all()
            thread = threading.Thread(target=self._serve, args=(record, sock), daemon=True,
                                      name=f"rb-conn-{self.port}-{record.id}")
            self.threads.append(thread)
            thread.start()

    # ---- one connection

    def _serve(self, record, sock):
        record.sock = sock
        sock.settimeout(0.2)
        try:
            if self.handshake == "never":
                self._hold_without_tls(record, sock)
                return
            if isinstance(self.handshake, (int, float)) and not isinstance(self.handshake, bool):
                self.stopping.wait(float(self.handshake))
            tls = self._handshake(record, sock)
            if tls is None:
                return
            record.sock = tls
            self._read_loop(record, tls)
        finally:
            try:
                record.sock.close()
            except OSError:
                pass
            record.ended.set()
            with self.lock:
                self.lock.notify_all()

    def _hold_without_tls(self, record, sock):
        """Accepts TCP and reads the ClientHello, never answering it."""
        while self._alive():
            try:
                data = sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                record.peer_closed.set()
                return
            if not data:
                record.peer_closed.set()
                return
            record.raw += data

    def _handshake(self, record, sock):
        tls = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        tls.settimeout(0.2)
        for _ in range(10_000):             # 0.2 s per turn
            if not self._alive():
                return None
            try:
                tls.do_handshake()
                record.tls_done = True
                return tls
            except (socket.timeout, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                continue
            except (ssl.SSLError, OSError) as error:
                record.errors.append(f"TLS handshake failed: {error}")
                record.peer_closed.set()
                return None
        return None

    def _read_loop(self, record, tls):
        parser = RequestParser(record.id)
        while self._alive():
            try:
                data = tls.recv(262144)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except (ssl.SSLError, OSError):
                record.peer_closed.set()
                return
            if not data:
                record.peer_closed.set()
                return
            with self.lock:
                record.raw += data
            if record.switched or record.silent:
                continue
            try:
                completed = parser.feed(data)
            except StrictParseError as error:
                with self.lock:
                    record.errors.append(str(error))
                    self.lock.notify_all()
                self._send(tls, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                self._close(record, tls)
                return
            for request in completed:
                if "/healthcheck.htm" in request.target.lower():
                    self._send(tls, b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n200 OK")
                    continue
                with self.lock:
                    record.requests.append(request)
                    self.requests.append(request)
                    self.lock.notify_all()
                if not self._answer(record, tls, request):
                    return
                if record.switched or record.silent:
                    break

    def _send(self, tls, data):
        try:
            tls.sendall(data)
        except OSError:
            pass

    def _close(self, record, tls):
        record.closed_by_backend = True
        try:
            tls.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _answer(self, record, tls, request):
        """Writes the answer chosen by the target; False when the connection is closed."""
        target = request.target
        if "/rb-101" in target:
            record.switched = True
            self._send(tls, b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
            return True
        if "/rb-silent" in target:
            record.silent = True
            return True
        script = re.search(r"/rb-raw-([A-Za-z0-9_.-]+)", target)
        if script and script.group(1) in self.scripts:
            return self._play(record, tls, request, self.scripts[script.group(1)])
        delay = re.search(r"/rb-delay-([0-9]{1,4})", target)
        if delay:
            self.stopping.wait(int(delay.group(1)) / 1000.0)
        if "/rb-close-on-post" in target:
            with self.lock:
                first = target not in self.closed_targets
                self.closed_targets.add(target)
            if first:
                self._close(record, tls)
                return False
        extra = (f"X-RB-Conn: {record.id}\r\nX-RB-Seq: {request.seq}\r\nX-RB-Target: {target}\r\n"
                 f"X-RB-Method: {request.method}\r\n")
        if "/rb-ntlm401" in target:
            body = b"401 Unauthorized"
            self._send(tls, (f"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {NTLM_CHALLENGE}\r\n{extra}"
                             f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
        elif self.status_for is not None and self.status_for(target) is not None:
            status = self.status_for(target)
            body = f"{status} from the recording backend\n".encode()
            self._send(tls, (f"HTTP/1.1 {status} Status\r\nContent-Type: text/plain\r\n{extra}"
                             f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
        elif "/rb-head-nocl" in target and request.method == "HEAD":
            self._send(tls, f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n{extra}\r\n".encode())
        else:
            body = (f"rb conn={record.id} seq={request.seq} method={request.method} target={target} "
                    f"body-bytes={len(request.body)}\n").encode()
            head = (f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n{extra}"
                    f"Content-Length: {len(body)}\r\n\r\n").encode()
            self._send(tls, head if request.method == "HEAD" else head + body)
        connection = ",".join(request.values("connection")).lower()
        if "close" in [token.strip() for token in connection.split(",")]:
            self._close(record, tls)
            return False
        return True

    def _play(self, record, tls, request, steps):
        """Plays a script of raw response steps; False when it ended the connection."""
        for step in steps:
            if isinstance(step, Pause):
                self.stopping.wait(step.seconds)
            elif callable(step):
                self._send(tls, step(record, request))
            elif isinstance(step, (bytes, bytearray)):
                self._send(tls, bytes(step))
            elif step == HOLD:
                record.silent = True
                return True
            elif step == CLOSE_NOTIFY:
                record.closed_by_backend = True
                try:
                    tls.settimeout(1.0)
                    record.sock = tls.unwrap()      # sends close_notify (and reads the peer's, if any)
                except (OSError, ValueError):
                    pass
                self._close_tcp(record.sock)
                return False
            elif step == EOF:
                self._close(record, tls)             # TCP shutdown: no close_notify
                return False
            elif step == RESET:
                record.closed_by_backend = True
                try:
                    tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
                self._close_tcp(tls)
                return False
            else:
                raise ValueError(f"unknown script step {step!r}")
        return True

    @staticmethod
    def _close_tcp(sock):
        try:
            sock.close()
        except OSError:
            pass

    # ---- queries (tests)

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def record(self, conn_id):
        with self.lock:
            return self.connections.get(conn_id)

    def all_connections(self):
        with self.lock:
            return list(self.connections.values())

    def requests_with(self, fragment):
        """Recorded requests whose target contains `fragment`."""
        with self.lock:
            return [r for r in self.requests if fragment in r.target]

    def wait_for(self, predicate, timeout):
        """Waits (bounded) until `predicate()` is true; returns its last value."""
        deadline = time.monotonic() + timeout
        with self.lock:
            for _ in range(100_000):
                value = predicate()
                remaining = deadline - time.monotonic()
                if value or remaining <= 0:
                    return value
                self.lock.wait(min(remaining, 0.05))
        return predicate()

    def describe(self, conn_ids=None):
        lines = []
        for record in self.all_connections():
            if conn_ids is not None and record.id not in conn_ids:
                continue
            lines.append(repr(record))
            lines.append(f"  raw: {bytes(record.raw[:600])!r}")
        return "\n".join(lines)


# ---- Gatehouse in front of recording backends


def pool_yaml(name, backend, connect_timeout="5s", extra=""):
    """A one-server pool pointing at `backend`, trusting mbx01's certificate, no active health checks."""
    return (f"  {name}:\n"
            f"    servers:\n"
            f"      - {{ name: rb, address: 127.0.0.1:{backend.port}, tls_name: {BACKEND_TLS_NAME} }}\n"
            f"    trust:\n"
            f"      certificates: [{BACKEND_CERT}]\n"
            f"    connect_timeout: {connect_timeout}\n"
            f"    health: {{ enabled: false }}\n"
            f"{extra}")


def start_recording_gatehouse(tmp_path, pools, services, idle_timeout=10):
    """A Gatehouse with these `pools:` and `services:` YAML blocks (the session listeners and
    certificates of conftest.session_config); the caller stops `gatehouse.process`."""
    port, http_port, admin_port = free_port(), free_port(), free_port()
    config = tmp_path / "gatehouse-rb.yaml"
    config.write_text(session_config(port, http_port, admin_port, pools, services, idle_timeout=idle_timeout))
    process = _start_proxy(config)
    wait_for_port(port, process.proc, log=process.output)
    wait_for_port(admin_port, process.proc, log=process.output)
    return Gatehouse(process, port, http_port, admin_port, config)


def _start_proxy(config):
    """`gatehouse run` with Swift's crash backtracer off (unless GATEHOUSE_E2E_BACKTRACE is set): a
    crashing proxy then exits at once instead of staying frozen for seconds while it symbolicates,
    so the test that crashed it is the one that reports it. The assertion message stays in the log."""
    saved = os.environ.get("SWIFT_BACKTRACE")
    if not os.environ.get("GATEHOUSE_E2E_BACKTRACE"):
        os.environ["SWIFT_BACKTRACE"] = "enable=no"
    try:
        return Process([str(BIN / "gatehouse"), "run", "--config", str(config)], "gatehouse-rb")
    finally:
        if saved is None:
            os.environ.pop("SWIFT_BACKTRACE", None)
        else:
            os.environ["SWIFT_BACKTRACE"] = saved


def check_proxy(gatehouse, request):
    """For an autouse fixture: restarts a proxy an earlier test crashed, and after the test fails
    it if the proxy exited meanwhile (printing the log tail on any failure)."""
    ensure_running(gatehouse)
    yield
    status = gatehouse.process.proc.poll()
    report = getattr(request.node, "rep_call", None)
    if status is not None or (report is not None and report.failed):
        print("---- gatehouse log (tail) ----\n" + gatehouse.log()[-6000:])
    assert status is None, f"the proxy exited with status {status} during this test (a crash: see its log)"


def ensure_running(gatehouse):
    """Starts the proxy again (same configuration, same ports) if it exited, e.g. after a crash a
    test provoked; returns the exit status it had, or None when it was running."""
    status = gatehouse.process.proc.poll()
    if status is None:
        return None
    gatehouse.process = _start_proxy(gatehouse.config_path)
    wait_for_port(gatehouse.port, gatehouse.process.proc, log=gatehouse.process.output)
    wait_for_port(gatehouse.admin_port, gatehouse.process.proc, log=gatehouse.process.output)
    return status


def admin_state(gatehouse):
    with urllib.request.urlopen(f"http://127.0.0.1:{gatehouse.admin_port}/state", timeout=5) as response:
        return json.loads(response.read())


def pool_counter(gatehouse, pool, key):
    """The sum of `key` (pinned, idle, outstanding) over the servers of `pool`."""
    state = admin_state(gatehouse)
    for entry in state["pools"]:
        if entry["name"] == pool:
            return sum(server[key] for server in entry["servers"])
    raise KeyError(pool)


def event_loop_count(gatehouse):
    """How many NIO event loops the proxy runs (threads named NIO-ELT-*), at least 1."""
    count = 0
    try:
        for task in os.listdir(f"/proc/{gatehouse.process.pid}/task"):
            with open(f"/proc/{gatehouse.process.pid}/task/{task}/comm") as f:
                if f.read().startswith("NIO-ELT"):
                    count += 1
    except OSError:
        pass
    return max(1, count or (os.cpu_count() or 1))


def wait_until(predicate, timeout, step=0.05):
    """Polls `predicate` until true or `timeout` seconds; returns the last value."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / step) + 2):
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)
    return predicate()
