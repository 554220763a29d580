"""OWASSRF (CVE-2022-41080) through the real proxy (issue #21, items 1 and 2): an OWA or ECP explicit
logon followed by a virtual directory (`/owa/<address>/powershell`, `/owa/<address>/ews/...`) gets 403
from every client, admin networks included, over HTTP/1.1 and HTTP/2, and nothing reaches the
backend; a mailbox whose address starts with `powershell` reaches the backend from outside.

Two proxies of this module's own share one anonymous sim whose active health checks are off, so the
sim's request counter (`/_sim/state`) sees exactly the requests the proxies forward:
- `inside`: admin_networks 127.0.0.0/8, so the tests' 127.0.0.1 is an admin client;
- `outside`: admin_networks 10.0.0.0/8, so 127.0.0.1 is outside.
"""
import json

import pytest

from conftest import BIN, CERTS, Gatehouse, Process, free_port, gatehouse_config, start_sim, wait_for_port
from gatehouse_client import RawHTTPS, http11_context
from h2_client import H2Client

HOST = "mail.contoso.lab"

# Raw request targets, sent byte for byte: (method, target).
DENIED = [
    pytest.param("POST", "/owa/mastermailbox%40outlook.com/powershell", id="owassrf-published"),
    pytest.param("GET", "/owa/u@contoso.lab/powershell", id="literal-at"),
    pytest.param("GET", "/owa/u@contoso.lab/PowerShell?x", id="mixed-case-query"),
    pytest.param("GET", "/OWA/U%40CONTOSO.LAB/POWERSHELL/", id="upper-case-encoded-at"),
    pytest.param("GET", "/owa/u%40contoso.lab/%50ower%73hell;a=b", id="encoded-letters-path-parameter"),
    pytest.param("GET", "/owa//u@contoso.lab/./x/../powershell/", id="empty-and-dot-segments"),
    pytest.param("GET", "/owa/u@contoso.lab/powershell-liveid/", id="powershell-liveid"),
    pytest.param("POST", "/ecp/u@contoso.lab/powershell", id="ecp-powershell"),
    pytest.param("POST", "/owa/u@contoso.lab/ews/exchange.asmx", id="ews"),
    pytest.param("POST", "/owa/u%40contoso.lab/mapi/emsmdb/", id="mapi"),
    pytest.param("GET", "/owa/u@contoso.lab/Microsoft-Server-ActiveSync", id="activesync"),
    pytest.param("GET", "/ecp/u%40contoso.lab/owa/", id="ecp-into-owa"),
    pytest.param("GET", "/EWS/PowerShell/", id="powershell-below-ews"),
]

# Encodings the canonicaliser refuses (400): they never reach the rules, nor the backend.
REFUSED = [
    pytest.param("/owa/u%2540contoso.lab/powershell", id="double-encoded-at"),
    pytest.param("/owa/u@contoso.lab/powershell.", id="trailing-dot"),
    pytest.param("/owa/u@contoso.lab%2Fpowershell", id="encoded-slash"),
]

ALLOWED = [
    pytest.param("/owa/powershell-team@contoso.lab/", id="powershell-team"),
    pytest.param("/owa/PowerShell-Team%40contoso.lab/", id="powershell-team-encoded"),
    pytest.param("/owa/powershellfan@contoso.lab/inbox", id="powershellfan"),
    pytest.param("/owa/u@contoso.lab/", id="explicit-logon-root"),
]


@pytest.fixture(scope="module")
def proxies(tmp_path_factory):
    """{"inside": Gatehouse, "outside": Gatehouse, "sim": Sim}, all stopped by PID at the end."""
    sim = start_sim("mbx01")
    started = [sim.process]
    try:
        result = {"sim": sim}
        for name, networks in (("inside", "127.0.0.0/8"), ("outside", "10.0.0.0/8")):
            port, http_port, admin_port = free_port(), free_port(), free_port()
            text = gatehouse_config(port, http_port, admin_port, [sim],
                                    pool_extra="    health: { enabled: false }\n",
                                    route_overrides="      - { preset: powershell, blocked: true }\n")
            text = text.replace("admin_networks: [127.0.0.0/8]", f"admin_networks: [{networks}]")
            config = tmp_path_factory.mktemp(f"explicit-logon-{name}") / "gatehouse.yaml"
            config.write_text(text)
            process = Process([str(BIN / "gatehouse"), "run", "--config", str(config)], f"gatehouse-{name}")
            started.append(process)
            wait_for_port(port, process.proc, log=process.output)
            result[name] = Gatehouse(process, port, http_port, admin_port, config, {"mbx01": sim})
        yield result
    finally:
        for process in reversed(started):
            process.stop()


class BackendRequests:
    """Requests the sim received since this counter was made, minus the `/_sim/state` requests the
    counter itself sent (the sim counts those too)."""

    def __init__(self, sim):
        self.sim = sim
        self.own = 0
        self.start = self._total()

    def _total(self):
        with self.sim.client() as client:
            status, _, body = client.get("/_sim/state")
        assert status == 200, body
        self.own += 1
        return json.loads(body)["requests"] - self.own

    def since_start(self):
        return self._total() - self.start


def raw_request(gatehouse, method, target):
    """Sends exactly these bytes on a new connection and returns the parsed response."""
    body = b"<x/>" if method == "POST" else b""
    head = f"{method} {target} HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: {len(body)}\r\n\r\n".encode("ascii")
    with RawHTTPS(gatehouse.port, HOST, http11_context(str(CERTS / "ca.pem"))) as raw:
        raw.send(head + body)
        return raw.read_response(method)


def show(gatehouse):
    return "---- gatehouse log (tail) ----\n" + gatehouse.log()[-3000:]


@pytest.mark.parametrize("side", ["inside", "outside"])
@pytest.mark.parametrize("method,target", DENIED)
def test_explicit_logon_shape_is_403_on_http11(proxies, side, method, target):
    gatehouse = proxies[side]
    counter = BackendRequests(proxies["sim"])
    response = raw_request(gatehouse, method, target)
    assert response.status == 403, (response.body, show(gatehouse))
    assert response.header("x-beserver") is None, "answered by the backend"
    assert counter.since_start() == 0, "the request reached the backend"


@pytest.mark.parametrize("side", ["inside", "outside"])
def test_explicit_logon_shapes_are_403_on_http2(proxies, side):
    gatehouse = proxies[side]
    counter = BackendRequests(proxies["sim"])
    client = H2Client(gatehouse.port, HOST, str(CERTS / "ca.pem"))
    try:
        sids = {}
        for param in DENIED:
            method, target = param.values
            body = b"<x/>" if method == "POST" else None
            sids[client.request(method, target, HOST, body=body)] = param.id
        client.wait_all(list(sids))
        for sid, name in sids.items():
            response = client.responses[sid]
            assert response["reset"] is None, f"{name}: stream reset with {response['reset']}"
            assert response["headers"].get(":status") == "403", (name, response["headers"], show(gatehouse))
            assert "x-beserver" not in response["headers"], f"{name}: answered by the backend"
    finally:
        client.close()
    assert counter.since_start() == 0, "a request reached the backend"


@pytest.mark.parametrize("target", REFUSED)
def test_encodings_the_canonicaliser_refuses_are_400(proxies, target):
    counter = BackendRequests(proxies["sim"])
    response = raw_request(proxies["inside"], "GET", target)
    assert response.status == 400, response.body
    assert counter.since_start() == 0, "the request reached the backend"


@pytest.mark.parametrize("side", ["outside", "inside"])
@pytest.mark.parametrize("target", ALLOWED)
def test_mailbox_named_like_a_directory_reaches_backend_on_http11(proxies, side, target):
    gatehouse = proxies[side]
    counter = BackendRequests(proxies["sim"])
    response = raw_request(gatehouse, "GET", target)
    assert response.status == 200, (response.body, show(gatehouse))
    assert response.header("x-beserver") == "mbx01", response.headers
    assert counter.since_start() == 1


def test_mailbox_named_like_a_directory_reaches_backend_on_http2(proxies):
    counter = BackendRequests(proxies["sim"])
    client = H2Client(proxies["outside"].port, HOST, str(CERTS / "ca.pem"))
    try:
        sids = [client.request("GET", param.values[0], HOST) for param in ALLOWED]
        client.wait_all(sids)
        for sid in sids:
            headers = client.responses[sid]["headers"]
            assert headers.get(":status") == "200" and headers.get("x-beserver") == "mbx01", headers
    finally:
        client.close()
    assert counter.since_start() == len(ALLOWED)


def test_denial_names_the_explicit_logon_rule(proxies):
    gatehouse = proxies["inside"]
    response = raw_request(gatehouse, "GET", "/owa/logged%40contoso.lab/ews/exchange.asmx")
    assert response.status == 403
    output = gatehouse.wait_for_log(lambda out: "logged@contoso.lab" in out or "logged%40contoso.lab" in out)
    lines = [line for line in output.splitlines() if "logged@contoso.lab" in line
             or "logged%40contoso.lab" in line]
    assert lines and "deny rule explicit_logon_vdir" in lines[-1], show(gatehouse)
