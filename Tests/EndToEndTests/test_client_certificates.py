"""Client certificates (issue #16 item 4) over real TLS: a test CA and client certificate made with the
openssl CLI (plus a second, untrusted CA with a client certificate of the same subject), one proxy with
three listeners in front of a RecordingBackend:

- `required`: `client_certificates: { mode: required, ca: ca.pem }`;
- `optional`: `client_certificates: { mode: optional, ca: ca.pem }`;
- `plain`: no client certificates.

Routes: /owa/ (no requirement) and /Microsoft-Server-ActiveSync (`client_certificate: required`).
The backend must see X-Client-Cert-Subject / -SHA256 (computed here from the certificate, not
hard-coded) only for a verified certificate, and never a client's own X-Client-Cert-* header (h1 and
h2, with and without a certificate, on every listener). The JSON access log carries the thumbprint.
"""
import hashlib
import json
import socket
import ssl
import subprocess
import time
import urllib.request
import uuid

import pytest

from conftest import BIN, CERTS, Gatehouse, free_port, wait_for_port
from gatehouse_client import RawHTTPS
from h2_client import H2Client
from recording_backend import RecordingBackend, _start_proxy, check_proxy, pool_yaml

HOST = "mail.contoso.lab"
SPOOFED = [("X-Client-Cert-Subject", "CN=administrator"), ("X-Client-Cert-SHA256", "00" * 32),
           ("X-Client-Cert-Verified", "SUCCESS"), ("x-client-cert", "forged"), ("X-CLIENT-CERT-ISSUER", "CN=evil")]


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(folder):
    """A trusted CA with a client certificate (clientAuth), and a rogue CA with one of the same subject."""
    ext = folder / "client.ext"
    ext.write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=clientAuth\n")
    for prefix in ("", "rogue-"):
        openssl("req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-subj", f"/O=Contoso/CN={prefix or 'Test '}Device CA", "-days", "2",
                "-keyout", f"{prefix}ca.key", "-out", f"{prefix}ca.pem",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                cwd=folder)
        openssl("req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-subj", "/O=Contoso/OU=Devices/CN=alice@contoso.lab", "-keyout", f"{prefix}client.key",
                "-out", f"{prefix}client.csr", cwd=folder)
        openssl("x509", "-req", "-in", f"{prefix}client.csr", "-CA", f"{prefix}ca.pem", "-CAkey", f"{prefix}ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", "client.ext", "-out", f"{prefix}client.pem", cwd=folder)
    return folder


def expected_identity(folder):
    """(subject in RFC 2253, SHA-256 thumbprint in uppercase hex) of the trusted client certificate."""
    der = ssl.PEM_cert_to_DER_cert((folder / "client.pem").read_text())
    subject = subprocess.run(["openssl", "x509", "-in", str(folder / "client.pem"), "-noout", "-subject",
                              "-nameopt", "RFC2253"], check=True, capture_output=True, text=True).stdout
    return subject.strip().removeprefix("subject=").strip(), hashlib.sha256(der).hexdigest().upper()


def config_text(ports, admin_port, pki, backend):
    listeners = ""
    for name, mode in (("required", "required"), ("optional", "optional"), ("plain", None)):
        block = f"      client_certificates: {{ mode: {mode}, ca: {pki}/ca.pem }}\n" if mode else ""
        listeners += (f"  - name: {name}\n    address: 127.0.0.1:{ports[name]}\n    tls:\n      certificates:\n"
                      f"        - {{ cert: {CERTS}/mail-ecdsa.pem, key: {CERTS}/mail-ecdsa.key }}\n"
                      f"        - {{ cert: {CERTS}/mail-rsa.pem, key: {CERTS}/mail-rsa.key }}\n{block}")
    return (f"listeners:\n{listeners}pools:\n{pool_yaml('mailbox', backend)}services:\n"
            f"  - name: contoso\n    hosts: [{HOST}]\n    routes:\n"
            f"      - {{ preset: owa, pool: mailbox }}\n"
            f"      - {{ preset: activesync, pool: mailbox, client_certificate: required }}\n"
            f"admin:\n  address: 127.0.0.1:{admin_port}\naccess_log:\n  format: json\n")


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("client-certificates")
    pki = make_pki(folder)
    backend = RecordingBackend()
    ports = {name: free_port() for name in ("required", "optional", "plain")}
    admin_port = free_port()
    config = folder / "gatehouse.yaml"
    config.write_text(config_text(ports, admin_port, pki, backend))
    gatehouse = None
    try:
        process = _start_proxy(config)
        for port in list(ports.values()) + [admin_port]:
            wait_for_port(port, process.proc, log=process.output)
        gatehouse = Gatehouse(process, ports["required"], None, admin_port, config)
        gatehouse.ports, gatehouse.pki, gatehouse.backend = ports, pki, backend
        yield gatehouse
    finally:
        if gatehouse is not None:
            gatehouse.process.stop()
        backend.stop()


@pytest.fixture(autouse=True)
def proxy_alive(proxy, request):
    yield from check_proxy(proxy, request)


def context(proxy, cert=None, alpn="http/1.1", max_version=None):
    ctx = ssl.create_default_context(cafile=str(CERTS / "ca.pem"))
    ctx.set_alpn_protocols([alpn])
    if max_version:
        ctx.maximum_version = max_version
    if cert is not None:  # "" is the trusted client, "rogue-" the untrusted one
        ctx.load_cert_chain(str(proxy.pki / f"{cert}client.pem"), str(proxy.pki / f"{cert}client.key"))
    return ctx


def marker():
    return "m" + uuid.uuid4().hex[:12]


def h1(proxy, listener, path, cert=None, headers=()):
    """One HTTP/1.1 GET on a new connection: the response (RawResponse)."""
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers)
    with RawHTTPS(proxy.ports[listener], HOST, context(proxy, cert), timeout=10) as raw:
        raw.send(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n{lines}\r\n".encode("ascii"))
        return raw.read_response("GET")


def h2(proxy, listener, path, cert=None, headers=()):
    """One HTTP/2 GET on a new connection: (status, body)."""
    client = H2Client(proxy.ports[listener], HOST, None, timeout=10, context=context(proxy, cert, alpn="h2"))
    try:
        sid = client.request("GET", path, HOST, headers=[(k.lower(), v) for k, v in headers])
        client.wait_all([sid])
        response = client.responses[sid]
        return response["headers"].get(":status"), bytes(response["data"])
    finally:
        client.close()


def backend_saw(proxy, m):
    requests = proxy.backend.wait_for(lambda: proxy.backend.requests_with(m), timeout=5)
    assert len(requests) == 1, f"the backend saw {requests} for {m}"
    return requests[0]


def certificate_headers(request):
    return {name.lower(): value for name, value in request.header_lines if name.lower().startswith("x-client-cert")}


def refused(proxy, listener, cert=None, max_version=None):
    """Whether a request on a new connection gets no HTTP response at all (the handshake failed, or
    for TLS 1.3, where the client's certificate is checked after the client finished, the server's
    alert arrives instead of a response). Returns the exception seen."""
    m = marker()
    sock = socket.create_connection(("127.0.0.1", proxy.ports[listener]), timeout=10)
    try:
        tls = context(proxy, cert, max_version=max_version).wrap_socket(sock, server_hostname=HOST)
        tls.sendall(f"GET /owa/{m} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode("ascii"))
        data = tls.recv(4096)
        assert data == b"", f"got a response without a valid client certificate: {data[:200]!r}"
        error = "EOF"
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as exc:
        error = exc
    finally:
        sock.close()
    time.sleep(0.2)
    assert proxy.backend.requests_with(m) == [], "a refused connection's request reached the backend"
    return error


def failure_counts(proxy):
    with urllib.request.urlopen(f"http://127.0.0.1:{proxy.admin_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    counts = {}
    for line in text.splitlines():
        if line.startswith("gatehouse_tls_handshake_failures_total{") and 'listener="required"' in line:
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            counts[reason] = float(line.rsplit(" ", 1)[1])
    return counts


# ---- mode: required


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["tls12", "tls13"])
def test_required_refuses_a_client_without_a_certificate(proxy, version):
    before = failure_counts(proxy).get("peer_did_not_return_a_certificate", 0)
    error = refused(proxy, "required", max_version=version)
    if version == ssl.TLSVersion.TLSv1_2:
        assert isinstance(error, ssl.SSLError), error  # the handshake itself fails
    deadline = time.time() + 5
    while failure_counts(proxy).get("peer_did_not_return_a_certificate", 0) <= before and time.time() < deadline:
        time.sleep(0.1)
    assert failure_counts(proxy).get("peer_did_not_return_a_certificate", 0) == before + 1, failure_counts(proxy)
    log = proxy.wait_for_log(lambda out: "client certificate refused" in out)
    assert "peer did not return a certificate" in log


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["tls12", "tls13"])
def test_required_refuses_a_certificate_from_an_untrusted_ca(proxy, version):
    before = failure_counts(proxy).get("certificate_verify_failed", 0)
    error = refused(proxy, "required", cert="rogue-", max_version=version)
    if version == ssl.TLSVersion.TLSv1_2:
        assert isinstance(error, ssl.SSLError), error
    deadline = time.time() + 5
    while failure_counts(proxy).get("certificate_verify_failed", 0) <= before and time.time() < deadline:
        time.sleep(0.1)
    assert failure_counts(proxy).get("certificate_verify_failed", 0) == before + 1, failure_counts(proxy)
    log = proxy.wait_for_log(lambda out: "client certificate verification failed" in out)
    assert "client certificate verification failed: unable to get local issuer certificate" in log


def test_required_accepts_a_trusted_certificate_and_forwards_its_identity(proxy):
    subject, thumbprint = expected_identity(proxy.pki)
    m = marker()
    response = h1(proxy, "required", f"/owa/{m}", cert="")
    assert response.status == 200
    seen = certificate_headers(backend_saw(proxy, m))
    assert seen == {"x-client-cert-verified": "SUCCESS", "x-client-cert-subject": subject,
                    "x-client-cert-issuer": "CN=Test Device CA,O=Contoso",
                    "x-client-cert-serial": seen.get("x-client-cert-serial"),
                    "x-client-cert-sha256": thumbprint}, seen
    serial = subprocess.run(["openssl", "x509", "-in", str(proxy.pki / "client.pem"), "-noout", "-serial"],
                            check=True, capture_output=True, text=True).stdout.strip().split("=", 1)[1]
    assert seen["x-client-cert-serial"].lstrip("0") == serial.upper().lstrip("0")
    assert subject == "CN=alice@contoso.lab,OU=Devices,O=Contoso"


def test_required_with_curl_over_http2(proxy):
    subject, thumbprint = expected_identity(proxy.pki)
    m = marker()
    result = subprocess.run(
        ["curl", "-sS", "--http2", "--cacert", str(CERTS / "ca.pem"), "--cert", str(proxy.pki / "client.pem"),
         "--key", str(proxy.pki / "client.key"), "--resolve", f"{HOST}:{proxy.ports['required']}:127.0.0.1",
         "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
         f"https://{HOST}:{proxy.ports['required']}/Microsoft-Server-ActiveSync?m={m}"],
        capture_output=True, text=True, timeout=30)
    assert result.stdout == "200 2", result
    seen = certificate_headers(backend_saw(proxy, m))
    assert (seen["x-client-cert-subject"], seen["x-client-cert-sha256"]) == (subject, thumbprint)


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["tls12", "tls13"])
def test_a_resumed_session_keeps_its_verified_certificate(proxy, version):
    """The identity comes from the session on resumption (OpenSSL keeps the peer certificate and the
    verify result in it): the backend sees the same thumbprint on the resumed connection."""
    _, thumbprint = expected_identity(proxy.pki)
    ctx = context(proxy, cert="", max_version=version)
    session = None
    for attempt in range(2):
        m = marker()
        sock = socket.create_connection(("127.0.0.1", proxy.ports["optional"]), timeout=10)
        with ctx.wrap_socket(sock, server_hostname=HOST, session=session) as tls:
            tls.sendall(f"GET /owa/{m} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode("ascii"))
            assert tls.recv(4096).startswith(b"HTTP/1.1 200")
            assert tls.session_reused == (attempt == 1)
            session = tls.session
        assert certificate_headers(backend_saw(proxy, m))["x-client-cert-sha256"] == thumbprint


# ---- mode: optional and the route requirement


def test_optional_without_a_certificate_serves_a_normal_route(proxy):
    m = marker()
    assert h1(proxy, "optional", f"/owa/{m}").status == 200
    assert certificate_headers(backend_saw(proxy, m)) == {}
    m = marker()
    status, _ = h2(proxy, "optional", f"/owa/{m}")
    assert status == "200"
    assert certificate_headers(backend_saw(proxy, m)) == {}


def test_optional_without_a_certificate_gets_403_on_a_route_that_requires_one(proxy):
    m = marker()
    response = h1(proxy, "optional", f"/Microsoft-Server-ActiveSync?m={m}", headers=SPOOFED)
    assert response.status == 403
    assert b"requires a client certificate" in response.body
    status, body = h2(proxy, "optional", f"/Microsoft-Server-ActiveSync?m={m}x", headers=SPOOFED)
    assert status == "403" and b"requires a client certificate" in body
    time.sleep(0.2)
    assert proxy.backend.requests_with(m) == []
    log = proxy.wait_for_log(lambda out: out.count("requires a verified client certificate") >= 2)
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{") and m in line]
    assert len(lines) == 2 and all(line["status"] == 403 for line in lines), lines
    assert all("requires a verified client certificate" in line["reason"] for line in lines)
    assert all(line["client_cert_sha256"] is None for line in lines)


def test_optional_with_a_trusted_certificate_passes_the_requirement(proxy):
    subject, thumbprint = expected_identity(proxy.pki)
    m = marker()
    assert h1(proxy, "optional", f"/Microsoft-Server-ActiveSync?m={m}", cert="").status == 200
    assert certificate_headers(backend_saw(proxy, m))["x-client-cert-sha256"] == thumbprint
    m = marker()
    status, _ = h2(proxy, "optional", f"/Microsoft-Server-ActiveSync?m={m}", cert="")
    assert status == "200"
    assert certificate_headers(backend_saw(proxy, m))["x-client-cert-subject"] == subject


def test_optional_refuses_a_certificate_from_an_untrusted_ca(proxy):
    refused(proxy, "optional", cert="rogue-", max_version=ssl.TLSVersion.TLSv1_2)


# ---- spoofed headers never reach the backend


@pytest.mark.parametrize("protocol", ["h1", "h2"])
@pytest.mark.parametrize("listener,cert", [("plain", None), ("optional", None), ("optional", ""), ("required", "")])
def test_spoofed_certificate_headers_never_reach_the_backend(proxy, protocol, listener, cert):
    subject, thumbprint = expected_identity(proxy.pki)
    m = marker()
    if protocol == "h1":
        assert h1(proxy, listener, f"/owa/{m}", cert=cert, headers=SPOOFED).status == 200
    else:
        assert h2(proxy, listener, f"/owa/{m}", cert=cert, headers=SPOOFED)[0] == "200"
    request = backend_saw(proxy, m)
    seen = certificate_headers(request)
    if cert is None:
        assert seen == {}, request.describe()
    else:
        assert seen["x-client-cert-subject"] == subject and seen["x-client-cert-sha256"] == thumbprint
        assert len(request.values("X-Client-Cert-Subject")) == 1 and len(request.values("X-Client-Cert-SHA256")) == 1
        assert "x-client-cert" not in seen and "CN=evil" not in request.raw_head.decode("latin-1")


def test_spoofed_certificate_trailers_never_reach_the_backend(proxy):
    m = marker()
    head = (f"POST /owa/{m} HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: chunked\r\n\r\n"
            "4\r\nbody\r\n0\r\nX-Client-Cert-Subject: CN=administrator\r\nX-Trailer-Kept: 1\r\n\r\n")
    with RawHTTPS(proxy.ports["optional"], HOST, context(proxy), timeout=10) as raw:
        raw.send(head.encode("ascii"))
        assert raw.read_response("POST").status == 200
    request = backend_saw(proxy, m)
    proxy.backend.wait_for(lambda: request.complete, timeout=5)
    assert request.body == b"body"
    names = [name.lower() for name, _ in request.trailers]
    assert not any(name.startswith("x-client-cert") for name in names), request.describe()
    assert "CN=administrator" not in bytes(proxy.backend.record(request.conn_id).raw).decode("latin-1")


# ---- the access log


def test_access_log_has_the_thumbprint_and_subject(proxy):
    subject, thumbprint = expected_identity(proxy.pki)
    m = marker()
    assert h1(proxy, "required", f"/owa/{m}", cert="").status == 200
    log = proxy.wait_for_log(lambda out: m in out)
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{") and m in line]
    assert len(lines) == 1, log[-2000:]
    assert lines[0]["client_cert_sha256"] == thumbprint
    assert lines[0]["client_cert_subject"] == subject


# ---- what the operator sees


def test_state_and_check_show_the_client_certificate_settings(proxy):
    with urllib.request.urlopen(f"http://127.0.0.1:{proxy.admin_port}/state", timeout=5) as response:
        state = json.loads(response.read())
    modes = {listener["name"]: listener["client_certificates"] for listener in state["listeners"]}
    assert modes == {"required": "required", "optional": "optional", "plain": None}
    check = subprocess.run([str(BIN / "gatehouse"), "check", "--config", str(proxy.config_path)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    assert "client certificates required (CAs from ca.pem)" in check.stdout
    assert "client certificates optional (CAs from ca.pem)" in check.stdout
    assert "client certificate required" in check.stdout.split("[activesync]", 1)[1].splitlines()[0]
