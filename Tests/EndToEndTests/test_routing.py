"""Routing through the real proxy: every Exchange preset reaches its pool; blocked, unknown and
misdirected requests are answered by Gatehouse itself."""
import ssl

import pytest

from conftest import CERTS
from gatehouse_client import HTTPSClient, http11_context

VDIRS = ["owa", "ecp", "ews", "mapi", "oab", "rpc", "autodiscover", "Microsoft-Server-ActiveSync"]

pytestmark = pytest.mark.usefixtures("proxy_log_on_failure")


@pytest.mark.parametrize("vdir", VDIRS)
def test_each_preset_healthcheck_reaches_the_pool(gatehouse, vdir):
    with gatehouse.client() as client:
        status, headers, body = client.get(f"/{vdir}/healthcheck.htm")
    assert status == 200, body
    text = body.decode()
    assert text.startswith("200 OK<br/>mbx0"), text
    assert text in ("200 OK<br/>mbx01.contoso.lab", "200 OK<br/>mbx02.contoso.lab")
    assert headers.get("x-beserver") in ("mbx01", "mbx02")


@pytest.mark.parametrize("path", ["/powershell", "/PowerShell/", "/powershell/?serializationLevel=Full"])
def test_powershell_is_refused(gatehouse, path):
    with gatehouse.client() as client:
        status, _, body = client.get(path)
    assert status == 403, body


def test_unknown_path_is_404(gatehouse):
    with gatehouse.client() as client:
        status, _, body = client.get("/nothing-here/index.html")
    assert status == 404, body


def test_root_redirects_to_owa(gatehouse):
    with gatehouse.client() as client:
        status, headers, _ = client.get("/")
    assert status == 302
    assert headers["location"] == "/owa/"


def test_unknown_host_is_421(gatehouse):
    with gatehouse.client() as client:
        status, _, body = client.get("/owa/healthcheck.htm", host="www.fabrikam.example")
    assert status == 421, body


def test_host_not_covered_by_presented_certificate_is_421(gatehouse):
    # legacy.example.net is served (service `open`), but the mail.contoso.lab certificate this
    # connection got does not cover it: the client must open a new connection for it.
    with gatehouse.client("mail.contoso.lab") as client:
        status, _, body = client.get("/owa/healthcheck.htm", host="legacy.example.net")
    assert status == 421, body


def test_host_served_with_default_certificate_that_does_not_cover_it_is_421(gatehouse):
    # SNI legacy.example.net: no certificate covers it, so the default (mail.contoso.lab) is served;
    # a request for legacy.example.net on that connection is misdirected.
    ctx = http11_context(verify=False)
    with HTTPSClient("127.0.0.1", gatehouse.port, "legacy.example.net", ctx) as client:
        status, _, body = client.get("/owa/healthcheck.htm")
        served = client.sock.getpeercert(binary_form=True)
    assert status == 421, body
    # The default certificate (or its ECDSA sibling for the same names) was served.
    defaults = [ssl.PEM_cert_to_DER_cert((CERTS / name).read_text()) for name in ("mail-rsa.pem", "mail-ecdsa.pem")]
    assert served in defaults


def test_wildcard_host_of_second_service_is_routed_to_its_pool(gatehouse):
    with gatehouse.client("open.contoso.lab") as client:
        status, headers, body = client.get("/owa/healthcheck.htm")
    assert status == 200, body
    assert body == b"200 OK<br/>mbx03.contoso.lab"
    assert headers["x-beserver"] == "mbx03"
