"""A small HTTP/2 client over TLS (Python `h2`) for end-to-end tests: many concurrent streams on one
connection, uploads that respect flow control, and raw access for hostile sequences."""
import socket
import ssl

import h2.config
import h2.connection
import h2.events
import h2.settings


class H2Client:
    def __init__(self, port, server_name, cafile, timeout=60, context=None):
        # `context`: a caller's own (e.g. with a client certificate); ALPN h2 is set on it.
        ctx = context or ssl.create_default_context(cafile=cafile)
        ctx.set_alpn_protocols(["h2"])
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = ctx.wrap_socket(raw, server_hostname=server_name)
        assert self.sock.selected_alpn_protocol() == "h2", self.sock.selected_alpn_protocol()
        self.conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.conn.increment_flow_control_window(16 * 1024 * 1024)
        self.flush()
        self.responses = {}     # stream id -> {"headers": dict, "data": bytearray, "ended": bool, "reset": code}
        self.uploads = {}       # stream id -> remaining bytes to send
        self.goaway = None

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, method, path, authority, headers=(), body=None):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":path", path), (":scheme", "https"), (":authority", authority)]
        hdrs += list(headers)
        if body is not None:
            hdrs.append(("content-length", str(len(body))))
        self.conn.send_headers(sid, hdrs, end_stream=not body)
        self.responses[sid] = {"headers": {}, "data": bytearray(), "ended": False, "reset": None}
        if body:
            self.uploads[sid] = memoryview(body)
        self.pump_uploads()
        self.flush()
        return sid

    def pump_uploads(self):
        for sid in list(self.uploads):
            remaining = self.uploads[sid]
            while remaining:
                window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
                if window <= 0:
                    break
                chunk, remaining = remaining[:window], remaining[window:]
                self.conn.send_data(sid, bytes(chunk), end_stream=not remaining)
            if remaining:
                self.uploads[sid] = remaining
            else:
                del self.uploads[sid]

    def handle(self, events):
        for event in events:
            if isinstance(event, h2.events.ResponseReceived):
                self.responses[event.stream_id]["headers"] = {k.decode() if isinstance(k, bytes) else k:
                                                               v.decode() if isinstance(v, bytes) else v
                                                               for k, v in event.headers}
            elif isinstance(event, h2.events.DataReceived):
                self.responses[event.stream_id]["data"] += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self.responses[event.stream_id]["ended"] = True
            elif isinstance(event, h2.events.StreamReset):
                if event.stream_id in self.responses:
                    self.responses[event.stream_id]["reset"] = event.error_code
                    self.responses[event.stream_id]["ended"] = True
                self.uploads.pop(event.stream_id, None)
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.goaway = event.error_code
            elif isinstance(event, h2.events.WindowUpdated):
                pass

    def run_until(self, done, max_reads=1_000_000):
        for _ in range(max_reads):
            if done():
                return
            data = self.sock.recv(262144)
            if not data:
                raise ConnectionError("connection closed by the server")
            self.handle(self.conn.receive_data(data))
            self.pump_uploads()
            self.flush()
        raise TimeoutError("too many reads")

    def wait_all(self, sids):
        self.run_until(lambda: all(self.responses[s]["ended"] for s in sids))

    def close(self):
        try:
            self.conn.close_connection()
            self.flush()
        except Exception:
            pass
        self.sock.close()
