"""NTLM through the proxy with real client libraries: requests + requests-ntlm (pyspnego) and curl.
NTLM authenticates the TCP connection, so the proxy must keep one backend connection for the
client connection (X-Sim-User shows who the backend thinks the connection belongs to)."""
import shutil
import subprocess
from urllib.parse import urlsplit

import pytest
import requests
from requests.adapters import HTTPAdapter
from requests_ntlm import HttpNtlmAuth

from conftest import CERTS
from gatehouse_client import http11_context, ntlm_authenticate

pytestmark = pytest.mark.usefixtures("proxy_log_on_failure")
USER = "CONTOSO\\alice"


class PinnedHostAdapter(HTTPAdapter):
    """Connects to 127.0.0.1:<port> for https://mail.contoso.lab:<port>/ URLs and verifies the
    certificate for the public name (no DNS entry needed); one connection in the pool, so a session's
    requests share one client connection, as a mail client's would."""

    def __init__(self, server_name, **kwargs):
        self.server_name = server_name
        super().__init__(pool_connections=1, pool_maxsize=1, **kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["ssl_context"] = http11_context(str(CERTS / "ca.pem"))
        kwargs["server_hostname"] = self.server_name
        kwargs["assert_hostname"] = self.server_name
        super().init_poolmanager(*args, **kwargs)

    def add_headers(self, request, **kwargs):
        # urllib3 would send the pool's address (127.0.0.1) as Host; send the URL's public name.
        request.headers["Host"] = urlsplit(request.url).netloc

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        # Point the pool at the loopback address; the URL keeps the public name (Host header).
        url = request.url.replace(f"https://{self.server_name}:", "https://127.0.0.1:", 1)
        return self.poolmanager.connection_from_url(url)


def ntlm_session(gatehouse, user=USER):
    session = requests.Session()
    session.mount(f"https://mail.contoso.lab:{gatehouse.port}/", PinnedHostAdapter("mail.contoso.lab"))
    if user:
        session.auth = HttpNtlmAuth(user, "x")
    session.verify = str(CERTS / "ca.pem")
    return session


def url(gatehouse, path):
    return f"https://mail.contoso.lab:{gatehouse.port}{path}"


def test_requests_ntlm_authenticates_and_later_requests_keep_the_user(gatehouse):
    with ntlm_session(gatehouse) as session:
        first = session.post(url(gatehouse, "/EWS/Exchange.asmx"), data=b"<soap/>",
                             headers={"Content-Type": "text/xml"}, timeout=20)
        assert first.status_code == 200, first.text
        assert first.headers.get("X-Sim-User") == USER
        server = first.headers["X-BEServer"]
        # Later requests on the same client connection carry no Authorization header: the backend
        # must still see the authenticated connection.
        for index in range(3):
            later = session.get(url(gatehouse, f"/EWS/Exchange.asmx?sim-echo&n={index}"), timeout=20)
            assert later.status_code == 200, later.text
            assert later.headers.get("X-Sim-User") == USER
            assert later.headers["X-BEServer"] == server
            assert later.request.headers.get("Authorization") is None


def test_authenticated_backend_connection_never_serves_another_client(gatehouse):
    with ntlm_session(gatehouse) as alice:
        assert alice.get(url(gatehouse, "/mapi/healthcheck.htm"), timeout=20).status_code == 200
        ok = alice.post(url(gatehouse, "/mapi/emsmdb/?MailboxId=alice@contoso.lab"), data=b"x", timeout=20)
        assert ok.status_code == 200 and ok.headers.get("X-Sim-User") == USER
        # Another client connection, no credentials, interleaved with alice's: always anonymous.
        with ntlm_session(gatehouse, user=None) as anonymous:
            for _ in range(4):
                other = anonymous.get(url(gatehouse, "/EWS/Exchange.asmx"), timeout=20)
                assert other.status_code == 401, (other.status_code, other.headers)
                assert "X-Sim-User" not in other.headers
                again = alice.get(url(gatehouse, "/EWS/Exchange.asmx?sim-echo"), timeout=20)
                assert again.headers.get("X-Sim-User") == USER


def test_raw_ntlm_handshake_then_mapi_and_ews_on_one_connection(gatehouse):
    with gatehouse.client() as client:
        status, headers, body = ntlm_authenticate(client, "/mapi/emsmdb/?MailboxId=alice@contoso.lab", method="POST")
        assert status == 200, body
        assert headers.get("x-sim-user") == USER
        status, headers, _ = client.get("/OAB/8b6b2c2a-1f0d-4d47-a2b5-5d0b2d2a8e11/oab.xml")
        assert status == 200 and headers.get("x-sim-user") == USER


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_ntlm(gatehouse):
    result = subprocess.run(
        ["curl", "-sS", "--http1.1", "--ntlm", "-u", f"{USER}:x", "--cacert", str(CERTS / "ca.pem"),
         "--resolve", f"mail.contoso.lab:{gatehouse.port}:127.0.0.1", "-D", "-", "-o", "/dev/null",
         url(gatehouse, "/EWS/Exchange.asmx")],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    heads = result.stdout.replace("\r\n", "\n").split("\n\n")
    final = [h for h in heads if h.startswith("HTTP/")][-1]
    assert final.startswith("HTTP/1.1 200"), result.stdout
    assert f"X-Sim-User: {USER}" in final
