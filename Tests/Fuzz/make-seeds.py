#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora into Tests/Fuzz/Corpus/<fuzzer>/ (committed; run again only to
refresh them). Every seed is one of the project's own test inputs: requests and targets from the
unit tests, the demo configurations, ClientHellos of `openssl s_client`, HTTP/2 frames written by
the h2 library the end-to-end tests use, NTLM messages laid out as ClientIdentityTests does.
Files named crash-* in a corpus folder are inputs that once found a defect: kept, never rewritten."""
import base64
import os
import socket
import struct
import subprocess
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def write(fuzzer, name, data):
    folder = os.path.join(HERE, "Corpus", fuzzer)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def http1():
    seeds = {
        "get": "GET /owa/ HTTP/1.1\r\nHost: mail.contoso.lab\r\nCookie: a=b\r\n\r\n",
        "rpc-in-data": "RPC_IN_DATA /rpc/rpcproxy.dll?mbx01.contoso.lab:6001 HTTP/1.1\r\n"
        "Host: mail.contoso.lab\r\nContent-Length: 12\r\nAuthorization: NTLM TlRMTVNTUAABAAAA\r\n\r\nhello, world",
        "chunked-trailers": "POST /mapi/emsmdb/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"
        "5;name=value;other=\"quoted; string\"\r\nhello\r\n000A \t;x\r\n0123456789\r\n1\r\n!\r\n"
        "0;last\r\nX-Checksum: abc\r\nx-second:  2 \r\nContent-Length: 99\r\n\r\n",
        "pipelined": "\r\n\r\nGET / HTTP/1.1\r\n\r\nPOST /ews/exchange.asmx HTTP/1.1\r\nContent-Length: 3\r\n"
        "content-length: 3, 03\r\n\r\nabcGET /2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "absolute-form": "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\nGET https://mail.contoso.lab/owa/?a=1 HTTP/1.1\r\n"
        "Host: mail.contoso.lab\r\n\r\n",
        "smuggle-cl-te": "POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "smuggle-te-list": "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        "obs-fold": "GET / HTTP/1.1\r\nX-A: 1\r\n  folded\r\n\r\n",
        "bare-lf": "GET / HTTP/1.1\nHost: a\n\n",
        "utf8-value": "GET /owa/ HTTP/1.1\r\nX-Name: J\xc3\xbcrgen\r\n\r\n",
        "chunked-empty": "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    }
    for name, text in seeds.items():
        write("FuzzHTTP1Decoder", name, text.encode("latin-1") if "\xc3" in text else text)


def targets():
    # Byte 0: bit 0 admin client, bit 1 OPTIONS; then the target; then header lines.
    seeds = [
        (0, "/autodiscover/autodiscover.json?@evil.com/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.com", []),
        (0, "/AutoDiscover/AUTODISCOVER.JSON?%40evil.com/MAPI/nspi/?&EMAIL=AutoDiscover/autodiscover.json%3f%40evil.com", []),
        (0, "/%61utodiscover/%61utodiscover%2Ejson?@evil.com/mapi/nspi/", []),
        (0, "/owa/../autodiscover/./autodiscover.json?@evil.com/mapi/nspi/", []),
        (0, "/autodiscover/autodiscover.json?x=1", ["Cookie: Email=autodiscover/autodiscover.json%3F@evil.com"]),
        (1, "/owa/mastermailbox%40outlook.com/powershell", []),
        (0, "/owa/%2e%2e/%50owershell", []),
        (1, "/powershell?X-Rps-CAT=VgEA", []),
        (0, "/owa/?a=1&X%2dRps%2DCAT=VgEA", []),
        (0, "/ecp/y.js", ["Cookie: X-BEResource=Administrator@EXCHANGE:444/ecp/proxyLogon.ecp?a=~1942062522;"]),
        (0, "/owa/auth/x.js", ["X-AnonResource-Backend: localhost/ecp/default.flt?~3"]),
        (0, "//ecp//x", []),
        (0, "/ecp;jsessionid=1/default.aspx", []),
        (1, "/ecp/default.aspx", []),
        (2, "*", []),
        (0, "https://mail.contoso.com/owa/?path=%2F", []),
        (0, "/owa/auth/logon.aspx?replaceCurrent=1&url=https%3a%2f%2fmail.contoso.com%2fowa%2f", []),
        (0, "/Microsoft-Server-ActiveSync?Cmd=Sync&User=alice&DeviceId=ABC&DeviceType=iPhone", []),
        (0, "/ecp./", []),
        (0, "/owa/%252e%252e/ecp", []),
    ]
    for index, (flags, target, headers) in enumerate(seeds):
        write("FuzzTargetDeny", "target-%02d" % index, bytes([flags]) + "\n".join([target] + headers).encode())


def configs():
    for name in ["gatehouse.yaml", "exchange-example.yaml"]:
        with open(os.path.join(ROOT, "conf", name), "rb") as f:
            write("FuzzConfig", name, f.read())
    minimal = """listeners:
  - name: https
    address: 127.0.0.1:0
    tls:
      certificates:
        - { cert: ../certs/mail.pem, key: ../certs/mail.key }
pools:
  mailbox:
    servers:
      - { name: mbx01, address: 127.0.0.1:9444, tls_name: mbx01.contoso.lab }
    trust:
      certificates: [../certs/mbx01.pem]
services:
  - name: contoso
    hosts: [mail.contoso.lab]
    routes:
      - { preset: owa, pool: mailbox }
"""
    write("FuzzConfig", "minimal.yaml", minimal)
    write("FuzzConfig", "routes.yaml", minimal.replace("      - { preset: owa, pool: mailbox }\n", """      - preset: owa
        pool: mailbox
        timeouts: { connect: 250ms, header: 30s, idle: 5m, total: 1h }
        max_body: 10MiB
        compression: { enabled: false, level: 9, min_size: 2KiB, types: [text/html] }
        affinity: anchor_mailbox
        http2: false
      - { path: /custom/, pool: mailbox }
      - { preset: powershell }
"""))
    write("FuzzConfig", "typo.yaml", minimal.replace("address: 127.0.0.1:0", "adress: 127.0.0.1:0"))
    write("FuzzConfig", "anchors.yaml", "a: &x [1, 2]\nb: *x\nlisteners: {name: 1}\n")


def capture_client_hello(args):
    """The first flight `openssl s_client args` sends, read by a listener that never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    client = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port] + args,
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    connection, _ = server.accept()
    connection.settimeout(2)
    data = b""
    try:
        while len(data) < 5 or len(data) < 5 + struct.unpack(">H", data[3:5])[0]:
            chunk = connection.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        client.kill()
        client.wait()
        connection.close()
        server.close()
    return data


def client_hellos():
    variants = {
        "tls13-sni": ["-servername", "mail.contoso.com"],
        "tls13-wildcard": ["-servername", "owa.fabrikam.com"],
        "tls12-sni": ["-tls1_2", "-servername", "autodiscover.contoso.com"],
        "tls12-rsa-only": ["-tls1_2", "-sigalgs", "RSA+SHA256", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256",
                           "-servername", "mail.contoso.com"],
        "no-sni": ["-noservername"],
        "alpn": ["-alpn", "h2,http/1.1", "-servername", "owa.example.org"],
    }
    for name, args in variants.items():
        write("FuzzClientHello", name, capture_client_hello(args))


def http2_frames():
    import h2.config
    import h2.connection

    def frames(build):
        connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        connection.initiate_connection()
        build(connection)
        data = connection.data_to_send()
        return data[len(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"):]

    request = [(":method", "GET"), (":scheme", "https"), (":authority", "mail.contoso.lab"), (":path", "/owa/")]

    def get(c):
        c.send_headers(1, request + [("cookie", "a=b"), ("cookie", "c=d")], end_stream=True)

    def post(c):
        c.send_headers(1, [(":method", "POST"), (":scheme", "https"), (":authority", "mail.contoso.lab"),
                           (":path", "/ews/exchange.asmx"), ("content-length", "5")])
        c.send_data(1, b"hello", end_stream=True)
        c.send_headers(3, request, end_stream=False)
        c.send_data(3, b"x" * 100)
        c.reset_stream(3)

    def control(c):
        c.ping(b"12345678")
        c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20})
        c.increment_flow_control_window(1 << 16)
        c.send_headers(1, request, end_stream=True)
        c.send_headers(3, request + [("authorization", "NTLM TlRMTVNTUAABAAAA")], end_stream=True)
        c.close_connection()

    def trailers(c):
        c.send_headers(1, [(":method", "POST"), (":scheme", "https"), (":authority", "mail.contoso.lab"),
                           (":path", "/mapi/emsmdb/")])
        c.send_data(1, b"abc")
        c.send_headers(1, [("x-checksum", "abc")], end_stream=True)

    import h2.settings  # noqa: F401 (used inside control)
    for name, build in [("get", get), ("post-reset", post), ("control", control), ("trailers", trailers)]:
        write("FuzzHTTP2Frames", name, frames(build))


def ntlm():
    def le16(v):
        return struct.pack("<H", v)

    def le32(v):
        return struct.pack("<I", v)

    def authenticate(domain, user, unicode=True):
        encode = (lambda t: t.encode("utf-16-le")) if unicode else (lambda t: t.encode())
        payloads = [b"\0" * 24, b"\xab" * 24, encode(domain), encode(user), encode("WS01"), b""]
        message = b"NTLMSSP\0" + le32(3)
        offset = 64
        for p in payloads:
            message += le16(len(p)) + le16(len(p)) + le32(offset)
            offset += len(p)
        message += le32(0xE2888215 if unicode else 0xE2888214)
        return message + b"".join(payloads)

    negotiate = b"NTLMSSP\0" + le32(1) + le32(0xE2088297) + b"\0" * 56
    spnego = bytes([0xA1, 0x82, 0x01, 0x20, 0x30, 0x82, 0x01, 0x1C, 0xA2, 0x82, 0x01, 0x18, 0x04, 0x82, 0x01, 0x14])
    write("FuzzNTLM", "authenticate-unicode", authenticate("CONTOSO", "alice"))
    write("FuzzNTLM", "authenticate-oem", authenticate("CONTOSO", "bob", unicode=False))
    write("FuzzNTLM", "authenticate-no-domain", authenticate("", "carol"))
    write("FuzzNTLM", "authenticate-non-ascii", authenticate("CONTOSO", "j\u00fcrgen.\u00df\u2028x"))
    write("FuzzNTLM", "authenticate-spnego", spnego + authenticate("CONTOSO", "dave"))
    write("FuzzNTLM", "negotiate", negotiate)
    write("FuzzNTLM", "challenge-list", "Negotiate, NTLM realm=\"x\",Basic " + base64.b64encode(b"eve:secret").decode())
    write("FuzzNTLM", "basic", b"mallory\r\nforged line:pw")


if __name__ == "__main__":
    http1()
    targets()
    configs()
    client_hellos()
    http2_frames()
    ntlm()
