"""Issue 15 items 1, 2 and 4: Extended Protection (NTLM channel binding) through the TLS bridge.

The sims require Extended Protection (`mailbox-sim --extended-protection require`). requests-ntlm
binds its logon to the certificate it sees (Gatehouse's); a sim accepts it only when that is its own
certificate. So NTLM through Gatehouse fails (401) when the sims present their own self-signed
certificates and works when they present the front end's certificate and key, and
`gatehouse check` predicts both outcomes before any client tries.
"""
import hashlib
import os
import socket
import ssl
import subprocess
import threading
import time

import pytest
import requests
from requests.adapters import HTTPAdapter

from conftest import BIN, CERTS, TIME_SCALE, Process, free_port, require_binaries, wait_for_port

import requests_ntlm  # noqa: E402  (make deps installs requests-ntlm)

SHARED_CERT, SHARED_KEY = CERTS / "mail-rsa.pem", CERTS / "mail-rsa.key"


class _SNIAdapter(HTTPAdapter):
    """Connects to 127.0.0.1 but presents and verifies mail.contoso.lab."""

    def init_poolmanager(self, *args, **kwargs):
        kwargs["server_hostname"] = "mail.contoso.lab"
        kwargs["assert_hostname"] = "mail.contoso.lab"
        super().init_poolmanager(*args, **kwargs)


def ntlm_session(user):
    session = requests.Session()
    session.mount("https://", _SNIAdapter(pool_connections=1, pool_maxsize=1))
    session.trust_env = False
    session.verify = str(CERTS / "ca.pem")
    session.headers["Host"] = "mail.contoso.lab"
    session.auth = requests_ntlm.HttpNtlmAuth(f"CONTOSO\\{user}", "x")
    return session


def start_ep_sim(name, cert, key):
    port = free_port()
    args = [str(BIN / "mailbox-sim"), "--name", name, "--fqdn", f"{name}.contoso.lab",
            "--listen", f"127.0.0.1:{port}", "--cert", str(cert), "--key", str(key),
            "--require-ntlm", "--extended-protection", "require"]
    process = Process(args, name)
    wait_for_port(port, process.proc, log=process.output)
    return process, port


def ep_config(port, admin_port, servers, certificates, trust, mode, default_certificate=None,
              presets=("ews", "mapi", "owa"), pool_extra="", hosts=("mail.contoso.lab", "autodiscover.contoso.lab")):
    """One TLS listener serving `certificates` [(cert, key)], pool `mailbox` of `servers`
    [(name, port, tls_name)] trusting `trust` [path], and service contoso for `hosts` with
    `extended_protection: mode` routing `presets` to the pool. Both EP test modules build on it."""
    certificate_lines = "\n".join(f"        - {{ cert: {cert}, key: {key} }}" for cert, key in certificates)
    server_lines = "\n".join(f"      - {{ name: {name}, address: 127.0.0.1:{sim_port}, tls_name: {tls_name} }}"
                             for name, sim_port, tls_name in servers)
    route_lines = "\n".join(f"      - {{ preset: {preset}, pool: mailbox }}" for preset in presets)
    default = f"      default_certificate: {default_certificate}\n" if default_certificate else ""
    return f"""
listeners:
  - name: https
    address: 127.0.0.1:{port}
    tls:
      certificates:
{certificate_lines}
{default}pools:
  mailbox:
    servers:
{server_lines}
    trust:
      certificates: [{", ".join(str(path) for path in trust)}]
{pool_extra}services:
  - name: contoso
    hosts: [{", ".join(hosts)}]
    extended_protection: {mode}
    routes:
{route_lines}
admin:
  address: 127.0.0.1:{admin_port}
"""


def config_text(port, admin_port, sims, shared):
    """`bridged`, sims [(name, port)]. shared: the listener serves only mail-rsa, and the pool
    trusts (and verifies) exactly it; otherwise each server has its own certificate."""
    if shared:
        certificates = [(SHARED_CERT, SHARED_KEY)]
        trust = [SHARED_CERT]
        servers = [(name, sim_port, "mail.contoso.lab") for name, sim_port in sims]
    else:
        certificates = [(CERTS / f"{n}.pem", CERTS / f"{n}.key") for n in ("mail-ecdsa", "mail-rsa")]
        trust = [CERTS / f"{name}.pem" for name, _ in sims]
        servers = [(name, sim_port, f"{name}.contoso.lab") for name, sim_port in sims]
    return ep_config(port, admin_port, servers, certificates, trust, "bridged", default_certificate=SHARED_CERT)


@pytest.fixture
def bridge(tmp_path):
    """bridge(shared) -> (gatehouse port, config path, check result, sim processes)."""
    require_binaries()
    started = []

    def make(shared):
        sims = []
        for name in ("mbx01", "mbx02"):
            cert, key = (SHARED_CERT, SHARED_KEY) if shared else (CERTS / f"{name}.pem", CERTS / f"{name}.key")
            process, sim_port = start_ep_sim(name, cert, key)
            started.append(process)
            sims.append((name, sim_port, process))
        port, admin_port = free_port(), free_port()
        config = tmp_path / f"gatehouse-{'shared' if shared else 'different'}.yaml"
        config.write_text(config_text(port, admin_port, [(n, p) for n, p, _ in sims], shared))
        check = subprocess.run([str(BIN / "gatehouse"), "check", "--config", str(config)],
                               capture_output=True, text=True, timeout=60)
        proxy = Process([str(BIN / "gatehouse"), "run", "--config", str(config)], "gatehouse")
        started.append(proxy)
        wait_for_port(port, proxy.proc, log=proxy.output)
        return port, config, check, {name: process for name, _, process in sims}

    yield make
    for process in reversed(started):
        process.stop()


def wait_for_health(port, timeout=10.0):
    """Until OWA and EWS (the service the tests then call) answer through the proxy: the health checker
    probes each service on its own, so OWA up says nothing of EWS (under ASan EWS came up later and the
    test's first EWS request got 503)."""
    deadline = time.time() + timeout * TIME_SCALE
    with ntlm_session("health") as session:
        session.auth = None
        for path in ("/owa/healthcheck.htm", "/EWS/healthcheck.htm"):
            while time.time() < deadline:
                try:
                    if session.get(f"https://127.0.0.1:{port}{path}", timeout=5).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.1)


def test_extended_protection_different_certificates_401_and_check_predicts_it(bridge):
    port, config, check, sims = bridge(shared=False)
    # gatehouse check: one error per front certificate (ECDSA and RSA) and server, with the fix.
    assert check.returncode == 1, check.stderr
    mismatches = [line for line in check.stderr.splitlines() if "Extended Protection mismatch" in line]
    assert len(mismatches) == 4, check.stderr
    assert all(": error: " in line for line in mismatches), mismatches
    assert {("mbx01" in line, "mbx02" in line) for line in mismatches} == {(True, False), (False, True)}
    assert any("mail-ecdsa.pem" in line for line in mismatches) and any("mail-rsa.pem" in line for line in mismatches)
    assert all("gatehouse cert export --pfx" in line and "Import-ExchangeCertificate" in line for line in mismatches)
    wait_for_health(port)
    with ntlm_session("alice") as session:
        response = session.get(f"https://127.0.0.1:{port}/EWS/Exchange.asmx", timeout=30)
    assert response.status_code == 401
    assert response.headers.get("X-Sim-User") is None
    logs = sims["mbx01"].output() + sims["mbx02"].output()
    assert "channel binding mismatch: expected" in logs, logs[-2000:]
    assert "for CONTOSO\\alice" in logs


def test_extended_protection_shared_certificate_works_for_10_concurrent_users(bridge):
    port, config, check, sims = bridge(shared=True)
    assert check.returncode == 0, check.stderr
    assert "Extended Protection mismatch" not in check.stderr
    assert "mailbox/mbx01 same certificate, mailbox/mbx02 same certificate" in check.stdout, check.stdout
    wait_for_health(port)
    url = f"https://127.0.0.1:{port}/EWS/Exchange.asmx"
    seen, errors = {}, []
    start = threading.Barrier(10)

    def client(n):
        user = f"user{n}"
        records = []
        try:
            with ntlm_session(user) as session:
                start.wait(timeout=30)
                for _ in range(10):
                    response = session.get(url, timeout=30)
                    records.append((response.status_code, response.headers.get("X-Sim-User"),
                                    response.headers.get("X-BEServer")))
        except Exception as error:  # noqa: BLE001
            errors.append((user, repr(error)))
        seen[user] = records

    threads = [threading.Thread(target=client, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors[:3]
    substitutions = 0
    for user, records in seen.items():
        assert len(records) == 10, (user, records)
        for status, sim_user, _ in records:
            assert status == 200, (user, status)
            substitutions += sim_user != f"CONTOSO\\{user}"
    assert substitutions == 0
    assert {server for records in seen.values() for _, _, server in records} == {"mbx01", "mbx02"}
    logs = sims["mbx01"].output() + sims["mbx02"].output()
    assert "channel binding" not in logs, logs[-2000:]


def test_check_probe_reads_the_certificates_the_servers_present(bridge, tmp_path):
    """--probe compares with what each server presents, not with what the pool trusts."""
    port, config, check, sims = bridge(shared=False)
    text = config.read_text()
    # Claim (wrongly) that the servers present the shared certificate: only --probe sees through it.
    trusted = text.split("certificates: [", 2)[1].split("]")[0]
    claimed = tmp_path / "claimed.yaml"
    claimed.write_text(text.replace(f"certificates: [{trusted}]", f"certificates: [{SHARED_CERT}]")
                       .replace("tls_name: mbx01.contoso.lab", "tls_name: mail.contoso.lab")
                       .replace("tls_name: mbx02.contoso.lab", "tls_name: mail.contoso.lab"))
    trusting = subprocess.run([str(BIN / "gatehouse"), "check", "--config", str(claimed)],
                              capture_output=True, text=True, timeout=60)
    rsa_lines = [line for line in trusting.stderr.splitlines() if "mismatch" in line and "serves RSA certificate" in line]
    assert rsa_lines == [], trusting.stderr
    probed = subprocess.run([str(BIN / "gatehouse"), "check", "--probe", "--config", str(claimed)],
                            capture_output=True, text=True, timeout=60)
    assert probed.returncode == 1
    lines = [line for line in probed.stderr.splitlines() if "Extended Protection mismatch" in line]
    assert any("serves RSA certificate 'mail-rsa.pem'" in line and "server 'mbx01'" in line
               and "the certificate it presented at 127.0.0.1:" in line for line in lines), probed.stderr


def test_sim_channel_binding_is_its_own_certificate_hash(bridge):
    """The hash the sim logs at start-up is SHA-256 of its certificate's DER (RSA SHA-256 signature)."""
    port, config, check, sims = bridge(shared=True)
    der = ssl.PEM_cert_to_DER_cert(SHARED_CERT.read_text().split("-----END CERTIFICATE-----")[0]
                                   + "-----END CERTIFICATE-----\n")
    assert f"tls-server-end-point SHA256 {hashlib.sha256(der).hexdigest().upper()}" in sims["mbx01"].output()


def test_cert_export_pfx_reads_back_with_openssl(tmp_path):
    require_binaries()
    password = tmp_path / "password.txt"
    password.write_text("Pfx-Passw0rd\n")
    pfx = tmp_path / "mail.pfx"
    result = subprocess.run([str(BIN / "gatehouse"), "cert", "export", "--pfx", str(pfx),
                             "--certificate", str(SHARED_CERT), "--key", str(SHARED_KEY),
                             "--chain", str(CERTS / "ca.pem"), "--password-file", str(password)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert oct(os.stat(pfx).st_mode & 0o777) == "0o600"
    info = subprocess.run(["openssl", "pkcs12", "-info", "-noout", "-in", str(pfx), "-passin", f"file:{password}"],
                          capture_output=True, text=True, timeout=30)
    assert info.returncode == 0, info.stderr
    assert "MAC: sha256" in info.stderr + info.stdout
    assert "AES-256-CBC" in info.stderr + info.stdout
    certs = subprocess.run(["openssl", "pkcs12", "-in", str(pfx), "-passin", f"file:{password}", "-nokeys"],
                           capture_output=True, text=True, timeout=30).stdout
    assert certs.count("BEGIN CERTIFICATE") == 2
    leaf = subprocess.run(["openssl", "pkcs12", "-in", str(pfx), "-passin", f"file:{password}", "-nokeys", "-clcerts"],
                          capture_output=True, text=True, timeout=30).stdout
    fingerprint = lambda pem: subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"],  # noqa: E731
                                             input=pem, capture_output=True, text=True, timeout=30).stdout
    assert fingerprint(leaf) == fingerprint(SHARED_CERT.read_text())
    key = subprocess.run(["openssl", "pkcs12", "-in", str(pfx), "-passin", f"file:{password}", "-nocerts", "-nodes"],
                         capture_output=True, text=True, timeout=30).stdout
    public = lambda args, text: subprocess.run(["openssl", *args], input=text, capture_output=True,  # noqa: E731
                                               text=True, timeout=30).stdout
    assert public(["pkey", "-pubout"], key) == public(["x509", "-noout", "-pubkey"], SHARED_CERT.read_text())
    again = subprocess.run([str(BIN / "gatehouse"), "cert", "export", "--pfx", str(pfx), "--certificate",
                            str(SHARED_CERT), "--key", str(SHARED_KEY), "--password-file", str(password)],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode != 0 and "already exists" in again.stderr


def test_demo_extended_protection_serves_one_certificate_and_ntlm_works(tmp_path):
    """`gatehouse demo --extended-protection`: the sims require Extended Protection and present the
    front end's RSA certificate; the listener serves only it (ECDSA clients too), NTLM works."""
    require_binaries()
    port, first, second = free_port(), free_port(), free_port()
    config = tmp_path / "demo.yaml"
    config.write_text(f"""
listeners:
  - name: https
    address: 127.0.0.1:{port}
    tls:
      certificates:
        - {{ cert: {CERTS}/mail-ecdsa.pem, key: {CERTS}/mail-ecdsa.key }}
        - {{ cert: {SHARED_CERT}, key: {SHARED_KEY} }}
      default_certificate: {SHARED_CERT}
pools:
  mailbox:
    servers:
      - {{ name: mbx01, address: 127.0.0.1:{first}, tls_name: mbx01.contoso.lab }}
      - {{ name: mbx02, address: 127.0.0.1:{second}, tls_name: mbx02.contoso.lab }}
    trust:
      certificates: [{CERTS}/mbx01.pem, {CERTS}/mbx02.pem]
services:
  - name: contoso
    hosts: [mail.contoso.lab, autodiscover.contoso.lab]
    routes:
      - {{ preset: ews, pool: mailbox }}
      - {{ preset: owa, pool: mailbox }}
""")
    demo = Process([str(BIN / "gatehouse"), "demo", "--extended-protection", "--config", str(config)], "demo")
    try:
        deadline = time.time() + 60
        while "ready: gatehouse listener https" not in demo.output():
            assert demo.proc.poll() is None and time.time() < deadline, demo.output()
            time.sleep(0.1)
        output = demo.output()
        assert f"extended protection: front end and servers share {SHARED_CERT}, verified as mail.contoso.lab" in output
        assert output.count("Extended Protection require; tls-server-end-point SHA256") == 2, output
        # The suggested NTLM command is one that sends channel bindings (curl --ntlm does not).
        assert "requests_ntlm.HttpNtlmAuth" in output and "--ntlm" not in output
        # An ECDSA-capable client (the default OpenSSL client) gets the shared RSA certificate too.
        context = ssl.create_default_context(cafile=str(CERTS / "ca.pem"))
        with context.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                                 server_hostname="mail.contoso.lab") as tls:
            served = tls.getpeercert(binary_form=True)
        shared_der = ssl.PEM_cert_to_DER_cert(SHARED_CERT.read_text().split("-----END CERTIFICATE-----")[0]
                                              + "-----END CERTIFICATE-----\n")
        assert served == shared_der
        wait_for_health(port)
        with ntlm_session("alice") as session:
            response = session.get(f"https://127.0.0.1:{port}/EWS/Exchange.asmx", timeout=30)
        assert (response.status_code, response.headers.get("X-Sim-User")) == (200, "CONTOSO\\alice")
    finally:
        demo.stop()
    assert "stopped." in demo.output()


def test_the_sim_and_pyspnegos_acceptor_agree_on_every_binding(tmp_path, monkeypatch):
    """pyspnego's own NTLM acceptor is a second, independent implementation of the check the sim
    makes under `require`: the same pyspnego client logs on with the right binding (the sim's
    certificate hash), a wrong one and none, once against pyspnego's acceptor (told the right
    binding) and once against the sim over TLS; both must reach the same verdict in each case."""
    import base64
    import http.client

    import spnego
    import spnego.exceptions
    from spnego.channel_bindings import GssChannelBindings

    require_binaries()
    users = tmp_path / "ntlm-users"
    users.write_text("CONTOSO:erin:pw\n")
    monkeypatch.setenv("NTLM_USER_FILE", str(users))
    process, port = start_ep_sim("mbx01", CERTS / "mbx01.pem", CERTS / "mbx01.key")
    try:
        der = ssl.PEM_cert_to_DER_cert((CERTS / "mbx01.pem").read_text())
        right = hashlib.sha256(der).digest()   # mbx01.pem is signed with SHA-256
        cases = {"right": right, "wrong": hashlib.sha256(b"another certificate").digest(), "none": None}

        def client(digest):
            bindings = None if digest is None else GssChannelBindings(application_data=b"tls-server-end-point:" + digest)
            return spnego.client("CONTOSO\\erin", "pw", hostname="mbx01", service="http", protocol="ntlm",
                                 channel_bindings=bindings)

        def acceptor_verdict(digest):
            initiator = client(digest)
            acceptor = spnego.server(protocol="ntlm",
                                     channel_bindings=GssChannelBindings(application_data=b"tls-server-end-point:" + right))
            challenge = acceptor.step(initiator.step())
            try:
                acceptor.step(initiator.step(challenge))
            except spnego.exceptions.SpnegoError:
                return "refused"
            return "accepted" if acceptor.complete else "refused"

        def sim_verdict(digest):
            context = ssl.create_default_context(cafile=str(CERTS / "mbx01.pem"))
            context.check_hostname = False   # 127.0.0.1; the certificate itself is verified
            connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
            initiator = client(digest)

            def send(token):
                connection.request("GET", "/EWS/Exchange.asmx",
                                   headers={"Authorization": "NTLM " + base64.b64encode(token).decode()})
                response = connection.getresponse()
                response.read()
                return response

            challenge = send(initiator.step()).getheader("WWW-Authenticate", "")
            final = send(initiator.step(base64.b64decode(challenge.split(" ", 1)[1])))
            connection.close()
            return "accepted" if final.status == 200 else "refused"

        verdicts = {kind: (acceptor_verdict(digest), sim_verdict(digest)) for kind, digest in cases.items()}
    finally:
        process.stop()
    assert verdicts == {"right": ("accepted", "accepted"), "wrong": ("refused", "refused"),
                        "none": ("refused", "refused")}, verdicts
