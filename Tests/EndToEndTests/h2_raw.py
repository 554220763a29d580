"""An HTTP/2 client for hostile requests (Python `h2` with outbound validation off): any header
list, CONNECT without :path, `transfer-encoding` fields, DATA without content-length, and a view
of every stream's fate (response headers, body, RST_STREAM code) and of flow-control windows.

Every wait is bounded by a deadline; the socket has a short timeout so reads never block long.
"""
import socket
import ssl
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions

HTTP_1_1_REQUIRED = 0xD


class StreamState:
    def __init__(self):
        self.headers = []          # [(name, value)] of the final response, str
        self.informational = []    # status codes of 1xx heads
        self.data = bytearray()
        self.ended = False         # END_STREAM or RST_STREAM: the stream is over either way
        self.end_stream = False    # END_STREAM itself: the server said the response is complete
        self.reset = None          # RST_STREAM error code from the server
        self.sent = 0              # DATA payload bytes sent on this stream

    @property
    def status(self):
        for name, value in self.headers:
            if name == ":status":
                return int(value)
        return None

    def header(self, name):
        for key, value in self.headers:
            if key == name.lower():
                return value
        return None

    def __repr__(self):
        return (f"<stream status={self.status} reset={self.reset} ended={self.ended} end_stream={self.end_stream} "
                f"informational={len(self.informational)} data={bytes(self.data[:80])!r}>")


class H2Raw:
    def __init__(self, port, server_name, cafile, timeout=5.0):
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.set_alpn_protocols(["h2"])
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = ctx.wrap_socket(raw, server_hostname=server_name)
        assert self.sock.selected_alpn_protocol() == "h2", self.sock.selected_alpn_protocol()
        self.sock.settimeout(0.05)
        self.timeout = timeout
        config = h2.config.H2Configuration(client_side=True, validate_outbound_headers=False,
                                           normalize_outbound_headers=False, validate_inbound_headers=False,
                                           header_encoding="latin-1")
        self.conn = h2.connection.H2Connection(config=config)
        self.conn.initiate_connection()
        self.flush()
        self.streams = {}
        self.goaway = None
        self.goaway_last_stream = None
        self.closed = False
        self.remote_settings = False

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def headers(self, fields, end_stream):
        """Sends HEADERS with exactly `fields` ([(name, value)], pseudo-headers included)."""
        sid = self.conn.get_next_available_stream_id()
        self.streams[sid] = StreamState()
        self.conn.send_headers(sid, fields, end_stream=end_stream)
        self.flush()
        return sid

    def data(self, sid, payload, end_stream):
        """Sends `payload` as DATA, waiting for flow-control window as needed (TimeoutError after
        `timeout` seconds without window). Returns False when the stream was reset or closed first."""
        view = memoryview(payload)
        deadline = time.monotonic() + self.timeout
        for _ in range(1_000_000):          # each turn sends a frame or waits at most 50 ms
            state = self.streams[sid]
            if state.reset is not None or self.closed:
                return False
            if not view and not end_stream:
                return True
            try:
                window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            except h2.exceptions.StreamClosedError:
                return False
            if window <= 0 and view:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no flow-control window on stream {sid} within {self.timeout} s")
                self.pump(0.05)
                continue
            chunk, view = view[:window], view[window:]
            last = end_stream and not view
            try:
                self.conn.send_data(sid, bytes(chunk), end_stream=last)
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                return False
            state.sent += len(chunk)
            self.flush()
            deadline = time.monotonic() + self.timeout     # a stall, not the whole upload, times out
            if last or (not view and not end_stream):
                return True
        raise TimeoutError(f"stream {sid}: too many DATA frames")

    def request(self, method, path, authority, headers=(), body=None, content_length=True, end=True):
        fields = [(":method", method), (":path", path), (":scheme", "https"), (":authority", authority)]
        fields += list(headers)
        if body is not None and content_length:
            fields.append(("content-length", str(len(body))))
        sid = self.headers(fields, end_stream=(body is None and end))
        if body is not None:
            self.data(sid, body, end_stream=end)
        return sid

    def pump(self, wait):
        """Reads what arrives within `wait` seconds (at least one recv attempt)."""
        deadline = time.monotonic() + wait
        for _ in range(10_000):
            try:
                data = self.sock.recv(262144)
            except (socket.timeout, ssl.SSLWantReadError):
                data = None
            except (ConnectionError, ssl.SSLError, OSError):
                self.closed = True
                return
            if data == b"":
                self.closed = True
                return
            if data:
                self._handle(self.conn.receive_data(data))
                self.flush()
            if time.monotonic() >= deadline:
                return

    def _handle(self, events):
        for event in events:
            if isinstance(event, (h2.events.ResponseReceived, h2.events.InformationalResponseReceived,
                                  h2.events.TrailersReceived)):
                state = self.streams.setdefault(event.stream_id, StreamState())
                fields = [(k.decode("latin-1") if isinstance(k, bytes) else k,
                           v.decode("latin-1") if isinstance(v, bytes) else v) for k, v in event.headers]
                if isinstance(event, h2.events.InformationalResponseReceived):
                    state.informational.append(int(dict(fields)[":status"]))
                elif isinstance(event, h2.events.ResponseReceived):
                    state.headers = fields
                if getattr(event, "stream_ended", None) is not None:
                    state.ended = True
                    state.end_stream = True
            elif isinstance(event, h2.events.DataReceived):
                state = self.streams.setdefault(event.stream_id, StreamState())
                state.data += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                if event.stream_ended is not None:
                    state.ended = True
                    state.end_stream = True
            elif isinstance(event, h2.events.StreamEnded):
                state = self.streams.setdefault(event.stream_id, StreamState())
                state.ended = True
                state.end_stream = True
            elif isinstance(event, h2.events.StreamReset):
                state = self.streams.setdefault(event.stream_id, StreamState())
                state.reset = int(event.error_code)
                state.ended = True
            elif isinstance(event, h2.events.RemoteSettingsChanged):
                self.remote_settings = True
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.goaway = int(event.error_code)
                self.goaway_last_stream = event.last_stream_id

    def wait(self, predicate, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        for _ in range(100_000):
            if predicate() or self.closed or time.monotonic() >= deadline:
                return predicate()
            self.pump(0.05)
        return predicate()

    def wait_stream(self, sid, timeout=None):
        self.wait(lambda: self.streams[sid].ended, timeout)
        return self.streams[sid]

    def wait_settings(self, timeout=None):
        return self.wait(lambda: self.remote_settings, timeout)

    def close(self):
        try:
            self.conn.close_connection()
            self.flush()
        except Exception:   # noqa: BLE001 - best effort on a connection the server may have closed
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
