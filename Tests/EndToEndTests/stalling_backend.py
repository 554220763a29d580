"""A TLS backend that stops reading an upload: it reads a request's head, then reads none of its
body until `release()`; then it reads the rest (SHA-256) and answers 200 with
`{"bytes": n, "sha256": hex}`. Its sockets have a small receive buffer, so the kernel holds
little for it: what the proxy cannot hand over stays in the proxy or, with backpressure, in the
client. Threads only, 127.0.0.1, an ephemeral port, mbx01's demo certificate; every wait is bounded.
"""
import hashlib
import json
import socket
import ssl
import threading

from conftest import CERTS

RECEIVE_BUFFER = 64 << 10


class StallingBackend:
    name = "mbx01"
    cert = CERTS / "mbx01.pem"

    def __init__(self, max_lifetime=120.0):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(CERTS / "mbx01.pem"), str(CERTS / "mbx01.key"))
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)   # inherited
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.head_seen = threading.Event()
        self.released = threading.Event()
        self.stopped = threading.Event()
        self.max_lifetime = max_lifetime
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def release(self):
        self.released.set()

    def stop(self):
        self.stopped.set()
        self.released.set()
        self.thread.join(timeout=5)
        self.listener.close()

    def _accept_loop(self):
        stop_at = threading.Timer(self.max_lifetime, self.stopped.set)
        stop_at.daemon = True
        stop_at.start()
        while not self.stopped.is_set():
            try:
                sock, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()
        stop_at.cancel()

    def _serve(self, sock):
        try:
            sock.settimeout(30)
            tls = self.context.wrap_socket(sock, server_side=True)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                data = tls.recv(4096)
                if not data:
                    return
                head += data
            head, _, body = head.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            self.head_seen.set()
            # Read nothing more until released (or stopped).
            self.released.wait(60)
            digest = hashlib.sha256(body)
            received = len(body)
            while received < length and not self.stopped.is_set():
                data = tls.recv(min(1 << 20, length - received))
                if not data:
                    break
                digest.update(data)
                received += len(data)
            answer = json.dumps({"bytes": received, "sha256": digest.hexdigest()}).encode()
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                        + str(len(answer)).encode() + b"\r\n\r\n" + answer)
            tls.close()
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            sock.close()
