"""A small HTTPS/1.1 client over one TLS connection with a chosen SNI name, for end-to-end tests.

http.client cannot send an SNI name that differs from the address it connects to, and tests need
exactly that (connect to 127.0.0.1, present mail.contoso.lab), plus raw control over streaming bodies.
"""
import http.client
import socket
import ssl


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
    """One keep-alive connection; `request` returns (status, headers dict (lowercase), body bytes)."""

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

    def get(self, path, **kw):
        r = self.request("GET", path, **kw)
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()

    def close(self):
        self.conn.close()
