"""Small HTTPS/1.1 clients over one TLS connection with a chosen SNI name, for end-to-end tests.

http.client cannot send an SNI name that differs from the address it connects to, and tests need
exactly that (connect to 127.0.0.1, present mail.contoso.lab), plus raw control over streaming bodies.
`RawHTTPS` is a byte-level client for what http.client cannot do: pipelining, `Expect: 100-continue`,
watching interim responses and seeing exactly how a connection ends.
"""
import base64
import hashlib
import http.client
import socket
import ssl
import time

PATTERN_PERIOD = 251


def http11_context(cafile=None, verify=True):
    """A client TLS context that offers only http/1.1 by ALPN (the proxy's h2 is not merged yet)."""
    if verify:
        ctx = ssl.create_default_context(cafile=cafile)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def pattern_block(length_multiple=4096):
    """`length_multiple` periods of the sim's byte pattern (byte i = i % 251), phase 0 at both ends."""
    return bytes(range(PATTERN_PERIOD)) * length_multiple


def pattern_sha256(count):
    """SHA-256 of the first `count` bytes of the pattern, computed without holding them all."""
    block = pattern_block()
    digest = hashlib.sha256()
    full, rest = divmod(count, len(block))
    for _ in range(full):
        digest.update(block)
    digest.update(block[:rest])
    return digest.hexdigest()


def upload_chunks(total, chunk=1 << 20, seed=b"gatehouse"):
    """Yields `total` bytes in `chunk`-sized pieces, each piece numbered in its first 8 bytes so a
    reordered, repeated or lost piece changes the digest; `upload_sha256` gives the expected digest."""
    base = hashlib.sha256(seed).digest() * (chunk // 32)
    sent = 0
    index = 0
    while sent < total:
        size = min(chunk, total - sent)
        piece = index.to_bytes(8, "big") + base[8:size]
        yield piece[:size]
        sent += size
        index += 1


def upload_sha256(total, chunk=1 << 20, seed=b"gatehouse"):
    digest = hashlib.sha256()
    for piece in upload_chunks(total, chunk, seed):
        digest.update(piece)
    return digest.hexdigest()


class _Connection(http.client.HTTPSConnection):
    def __init__(self, address, port, server_name, context, timeout):
        super().__init__(address, port, context=context, timeout=timeout)
        self._server_name = server_name
        self._ctx = context

    def connect(self):
        sock = socket.create_connection((self.host, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._ctx.wrap_socket(sock, server_hostname=self._server_name)


class HTTPSClient:
    """One keep-alive connection; `request` returns the http.client response (read it before the
    next request); `get`/`call` return (status, headers dict (lowercase), body bytes)."""

    def __init__(self, address, port, server_name, context, timeout=30):
        self.address, self.port, self.server_name, self.context = address, port, server_name, context
        self.timeout = timeout
        self.conn = _Connection(address, port, server_name, context, timeout)

    def request(self, method, path, body=None, headers=None, host=None):
        headers = dict(headers or {})
        headers.setdefault("Host", host or self.server_name)
        self.conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            self.conn.putheader(name, value)
        if body is None or isinstance(body, (bytes, bytearray)):
            if body is not None and "Content-Length" not in headers:
                self.conn.putheader("Content-Length", str(len(body)))
            self.conn.endheaders(body)
        else:  # an iterable of chunks, sent as it is produced
            chunked = "Content-Length" not in headers
            if chunked:
                self.conn.putheader("Transfer-Encoding", "chunked")
            self.conn.endheaders()
            for chunk in body:
                if chunked:
                    self.conn.send(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                else:
                    self.conn.send(chunk)
            if chunked:
                self.conn.send(b"0\r\n\r\n")
        response = self.conn.getresponse()
        return response

    def call(self, method, path, **kw):
        r = self.request(method, path, **kw)
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    @property
    def sock(self):
        return self.conn.sock

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def ntlm_authenticate(client, path, user="CONTOSO\\alice", password="x", method="GET"):
    """Runs the NTLM NEGOTIATE / CHALLENGE / AUTHENTICATE exchange on `client`'s connection (via
    pyspnego), as Outlook does before RPC over HTTP. Returns the final (status, headers, body)."""
    import spnego

    ctx = spnego.client(user, password, hostname=client.server_name, protocol="ntlm")
    token = ctx.step()
    status, headers, body = client.call(method, path, headers={
        "Authorization": "NTLM " + base64.b64encode(token).decode(), "Content-Length": "0"})
    assert status == 401, f"NTLM NEGOTIATE answered {status}: {body[:300]!r}"
    challenge = headers.get("www-authenticate", "")
    assert challenge.startswith("NTLM "), f"no NTLM challenge in 401: {headers}"
    token = ctx.step(base64.b64decode(challenge[5:]))
    return client.call(method, path, headers={
        "Authorization": "NTLM " + base64.b64encode(token).decode(), "Content-Length": "0"})


class RawResponse:
    def __init__(self, version, status, reason, headers, body, interim):
        self.version, self.status, self.reason = version, status, reason
        self.headers = headers            # list of (name, value) as received
        self.body = body
        self.interim = interim            # list of 1xx status codes seen before this response

    def header(self, name):
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


class RawHTTPS:
    """A TLS socket with a byte buffer and an HTTP/1.1 response parser (Content-Length, chunked,
    or read-to-close), for pipelining and interim-response tests."""

    def __init__(self, port, server_name="mail.contoso.lab", context=None, address="127.0.0.1", timeout=30):
        sock = socket.create_connection((address, port), timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = context.wrap_socket(sock, server_hostname=server_name)
        self.buffer = b""
        self.eof = False

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        data = self.sock.recv(1 << 16)
        if not data:
            self.eof = True
            raise ConnectionError("connection closed by peer")
        self.buffer += data

    def read_line(self):
        while b"\r\n" not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def read_exact(self, count):
        while len(self.buffer) < count:
            self._fill()
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def read_head(self):
        status_line = self.read_line().decode("latin-1")
        version, status, *reason = status_line.split(" ", 2)
        headers = []
        while True:
            line = self.read_line()
            if not line:
                break
            name, value = line.decode("latin-1").split(":", 1)
            headers.append((name.strip(), value.strip()))
        return version, int(status), (reason[0] if reason else ""), headers

    def read_response(self, method="GET"):
        interim = []
        while True:
            version, status, reason, headers = self.read_head()
            if 100 <= status < 200:
                interim.append(status)
                continue
            break
        lookup = {k.lower(): v for k, v in headers}
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif lookup.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.read_line().split(b";")[0], 16)
                if size == 0:
                    while self.read_line():
                        pass
                    break
                body += self.read_exact(size)
                self.read_exact(2)
        elif "content-length" in lookup:
            body = self.read_exact(int(lookup["content-length"]))
        else:
            body = self.read_to_close()
        return RawResponse(version, status, reason, headers, body, interim)

    def read_to_close(self):
        try:
            while True:
                self._fill()
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        data, self.buffer = self.buffer, b""
        return data

    def wait_closed(self, timeout):
        """True when the peer closes the connection within `timeout` seconds (any data is dropped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            except (ConnectionError, ssl.SSLError, OSError):
                return True
            if not data:
                return True
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
