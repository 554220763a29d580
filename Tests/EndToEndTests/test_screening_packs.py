"""Rule packs through the real proxy (issue #21, items 3-5): a pack's deny, abort and status
actions on HTTP/1.1 and HTTP/2, with a recording backend that must see none of the refused
requests and every allowed one; Microsoft's mitigations pack (conf/screening/exchange-mitigations.yaml)
refusing on its own with the built-in deny rules switched off; `gatehouse check` listing packs and
refusing a broken one with file:line:column; `gatehouse rules import` on an EOMT-shaped web.config.

One proxy of this module's own, one RecordingBackend. Every request carries a marker unique to it,
so "the backend saw nothing" is checked by target, whatever other tests sent.
"""
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import BIN, CERTS
from gatehouse_client import RawHTTPS, http11_context
from h2_client import H2Client
from recording_backend import RecordingBackend, check_proxy, pool_yaml, start_recording_gatehouse

HOST = "mail.contoso.lab"
REPO = Path(__file__).resolve().parents[2]
MICROSOFT_PACK = REPO / "conf" / "screening" / "exchange-mitigations.yaml"
EOMT_SAMPLE = REPO / "conf" / "screening" / "examples" / "eomt-web.config"

LOCAL_PACK = """\
pack: local
version: "e2e-1"
rules:
  - id: pack-deny
    match: { path: '^/owa/pack-deny' }
    action: deny
  - id: pack-abort
    reference: a header only a test sends
    match: { header: { name: X-Pack-Test, pattern: 'abort-me' } }
    action: abort
  - id: pack-status
    match: { decoded_uri: 'tea-?pot' }
    action: { status: 451 }
  - id: pack-cookie
    match: { header: { name: Cookie, pattern: 'first=1; second=2' } }
    action: deny
"""

# Built-in rules that would refuse the Microsoft pack's shapes first: off, so the pack is what refuses.
BUILT_IN_OFF = ("    deny_rules: { autodiscover_powershell: false, proxyshell_autodiscover: false, rps_cat: false,\n"
                "                  anon_resource_backend: false, be_resource: false, external_powershell: false }\n")

# (name, method, target with {m} for the marker, headers, expected: status code or "abort")
REFUSED = [
    ("deny", "GET", "/owa/pack-deny/{m}", [], 403),
    ("deny-case", "GET", "/OWA/Pack-Deny/{m}", [], 403),
    ("abort", "GET", "/owa/{m}", [("X-Pack-Test", "please-ABORT-ME")], "abort"),
    ("status-encoded", "GET", "/ews/{m}?q=tea%252Dpot", [], 451),
    ("ms-eems-m1", "GET", "/autodiscover/autodiscover.json?@evil.com/{m}/%50owerShell/?Email=autodiscover/autodiscover.json%3f@evil.com", [], "abort"),
    ("ms-anonresource", "GET", "/ecp/{m}.js", [("Cookie", "X-AnonResource=true; X-AnonResource-Backend=localhost/ecp/default.flt?~3")], "abort"),
    ("ms-beresource", "POST", "/ecp/{m}.js", [("Cookie", "X-BEResource=localhost/owa/auth/logon.aspx?~3")], "abort"),
]

ALLOWED = [
    ("owa", "GET", "/owa/{m}", [("X-Pack-Test", "harmless")]),
    ("autodiscover-json", "GET", "/autodiscover/autodiscover.json?Email=user@contoso.lab&Protocol=ActiveSync&m={m}", []),
    ("autodiscover-json-path", "GET", "/autodiscover/autodiscover.json/v1.0/user@contoso.lab?Protocol=EWS&m={m}", []),
    ("beresource-own-value", "GET", "/owa/{m}", [("Cookie", "X-BEResource=mbx01~1942062522")]),
    ("mailbox-named-powershell", "GET", "/owa/powershell-team@contoso.lab/{m}", []),
    ("ews", "POST", "/EWS/Exchange.asmx?m={m}", []),
]


@pytest.fixture(scope="module")
def screened(tmp_path_factory):
    folder = tmp_path_factory.mktemp("screening")
    (folder / "local.yaml").write_text(LOCAL_PACK)
    backend = RecordingBackend()
    pools = pool_yaml("mailbox", backend)
    routes = "".join(f"      - {{ preset: {preset}, pool: mailbox }}\n"
                     for preset in ("autodiscover", "ews", "owa", "ecp", "mapi"))
    services = (f"  - name: contoso\n    hosts: [{HOST}]\n    admin_networks: [127.0.0.0/8]\n{BUILT_IN_OFF}"
                f"    routes:\n{routes}"
                f"screening:\n  packs: [local.yaml, {MICROSOFT_PACK}]\n")
    gatehouse = None
    try:
        gatehouse = start_recording_gatehouse(folder, pools, services)
        gatehouse.backend = backend
        yield gatehouse
    finally:
        if gatehouse is not None:
            gatehouse.process.stop()
        backend.stop()


@pytest.fixture(autouse=True)
def proxy_alive(screened, request):
    yield from check_proxy(screened, request)


def marker():
    return "m" + uuid.uuid4().hex[:12]


def raw_request(gatehouse, method, target, headers):
    """One request on a new HTTP/1.1 connection: the response, or "abort" when the connection was
    closed with no byte of response."""
    body = b"<x/>" if method == "POST" else b""
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers)
    head = f"{method} {target} HTTP/1.1\r\nHost: {HOST}\r\n{lines}Content-Length: {len(body)}\r\n\r\n"
    with RawHTTPS(gatehouse.port, HOST, http11_context(str(CERTS / "ca.pem")), timeout=10) as raw:
        raw.send(head.encode("ascii") + body)
        try:
            raw._fill()
        except (ConnectionError, OSError):
            return "abort"
        return raw.read_response(method)


def show(gatehouse):
    return "---- gatehouse log (tail) ----\n" + gatehouse.log()[-3000:]


@pytest.mark.parametrize("name,method,target,headers,expected", REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_on_http11_and_backend_sees_nothing(screened, name, method, target, headers, expected):
    m = marker()
    response = raw_request(screened, method, target.format(m=m), headers)
    if expected == "abort":
        assert response == "abort", (getattr(response, "status", response), show(screened))
    else:
        assert response != "abort" and response.status == expected, show(screened)
    assert screened.backend.requests_with(m) == [], screened.backend.describe()


def test_refused_on_http2_and_backend_sees_nothing(screened):
    client = H2Client(screened.port, HOST, str(CERTS / "ca.pem"), timeout=15)
    markers = {}
    try:
        for name, method, target, headers, expected in REFUSED:
            m = marker()
            body = b"<x/>" if method == "POST" else None
            # Split cookies as HTTP/2 clients send them: the pack sees them joined with "; ".
            h2_headers = [(k.lower(), v) for k, v in headers]
            sid = client.request(method, target.format(m=m), HOST, headers=h2_headers, body=body)
            markers[sid] = (name, m, expected)
        client.wait_all(list(markers))
        for sid, (name, m, expected) in markers.items():
            response = client.responses[sid]
            if expected == "abort":
                assert response["reset"] is not None, (name, response["headers"], show(screened))
                assert response["headers"] == {}, (name, response["headers"])
            else:
                assert response["reset"] is None, (name, response["reset"])
                assert response["headers"].get(":status") == str(expected), (name, response["headers"], show(screened))
        # The connection survives the resets: a later stream on it is served.
        m = marker()
        sid = client.request("GET", f"/owa/{m}", HOST)
        client.wait_all([sid])
        assert client.responses[sid]["headers"].get(":status") == "200", client.responses[sid]
        assert client.goaway is None
    finally:
        client.close()
    for name, m, _ in markers.values():
        assert screened.backend.requests_with(m) == [], (name, screened.backend.describe())


def test_split_http2_cookies_are_matched_joined(screened):
    client = H2Client(screened.port, HOST, str(CERTS / "ca.pem"), timeout=15)
    m = marker()
    try:
        sid = client.request("GET", f"/owa/{m}", HOST, headers=[("cookie", "first=1"), ("cookie", "second=2")])
        client.wait_all([sid])
        assert client.responses[sid]["headers"].get(":status") == "403", client.responses[sid]
    finally:
        client.close()
    assert screened.backend.requests_with(m) == []


@pytest.mark.parametrize("name,method,target,headers", ALLOWED, ids=[a[0] for a in ALLOWED])
def test_allowed_on_http11_reaches_backend(screened, name, method, target, headers):
    m = marker()
    response = raw_request(screened, method, target.format(m=m), headers)
    assert response != "abort" and response.status == 200, show(screened)
    assert len(screened.backend.requests_with(m)) == 1


def test_allowed_on_http2_reaches_backend(screened):
    client = H2Client(screened.port, HOST, str(CERTS / "ca.pem"), timeout=15)
    sent = {}
    try:
        for name, method, target, headers in ALLOWED:
            m = marker()
            body = b"<x/>" if method == "POST" else None
            sid = client.request(method, target.format(m=m), HOST, headers=[(k.lower(), v) for k, v in headers], body=body)
            sent[sid] = (name, m)
        client.wait_all(list(sent))
        for sid, (name, m) in sent.items():
            assert client.responses[sid]["headers"].get(":status") == "200", (name, client.responses[sid])
    finally:
        client.close()
    for name, m in sent.values():
        assert len(screened.backend.requests_with(m)) == 1, name


def test_hits_are_logged_as_pack_and_id(screened):
    m = marker()
    assert raw_request(screened, "GET", f"/owa/pack-deny/{m}", []).status == 403
    assert raw_request(screened, "GET", f"/owa/{m}", [("X-Pack-Test", "abort-me")]) == "abort"
    output = screened.wait_for_log(lambda out: out.count(m) >= 2)
    lines = [line for line in output.splitlines() if m in line]
    assert any("rule local/pack-deny" in line and " 403 " in line for line in lines), show(screened)
    assert any("rule local/pack-abort (abort)" in line for line in lines), show(screened)


def run_cli(*args):
    return subprocess.run([str(BIN / "gatehouse"), *map(str, args)], capture_output=True, text=True, timeout=60)


def test_check_lists_packs(screened):
    result = run_cli("check", "--config", screened.config_path)
    assert result.returncode == 0, result.stderr
    assert "local e2e-1: 4 rules" in result.stdout, result.stdout
    assert "exchange-mitigations 2022.11: 3 rules" in result.stdout, result.stdout


def test_check_refuses_a_broken_pack_with_its_position(screened, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("pack: broken\nrules:\n  - id: a\n    match: { uri: 'x(' }\n    action: deny\n")
    config = tmp_path / "gatehouse.yaml"
    config.write_text(Path(screened.config_path).read_text().replace(
        f"packs: [local.yaml, {MICROSOFT_PACK}]", f"packs: [{broken}]"))
    result = run_cli("check", "--config", config)
    assert result.returncode != 0
    assert f"{broken}:4:22: error: invalid pattern for 'uri' in 'match' of rule 'a'" in result.stderr, result.stderr


def test_rules_import_writes_a_pack_that_loads(tmp_path):
    out = tmp_path / "eomt.yaml"
    result = run_cli("rules", "import", EOMT_SAMPLE, "--out", out, "--pack", "eomt", "--pack-version", "2021.03")
    assert result.returncode == 0, result.stderr
    assert "note: rule 'Old test rule': skipped" in result.stderr
    text = out.read_text()
    assert "pack: eomt" in text and "match: { decoded_uri: '(?=.*autodiscover)(?=.*powershell)' }" in text


def test_rules_import_refuses_what_it_cannot_express(tmp_path):
    source = tmp_path / "web.config"
    source.write_text(EOMT_SAMPLE.read_text().replace('<action type="AbortRequest" />',
                                                      '<action type="Rewrite" url="/blocked" />', 1))
    out = tmp_path / "never.yaml"
    result = run_cli("rules", "import", source, "--out", out)
    assert result.returncode == 1
    assert "rule 'PowerShell - inbound': action type=\"Rewrite\" is not converted" in result.stderr, result.stderr
    assert "nothing written" in result.stderr
    assert not out.exists()
