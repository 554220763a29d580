"""What the backend receives: sim-echo shows every header exactly as it arrived at mailbox-sim."""
import json

import pytest

pytestmark = pytest.mark.usefixtures("proxy_log_on_failure")


def echo(gatehouse, headers, host="mail.contoso.lab", path="/owa/echo?sim-echo"):
    with gatehouse.client(host) as client:
        status, response_headers, body = client.get(path, headers=headers)
    assert status == 200, body
    answer = json.loads(body)
    return answer, response_headers


def values(answer, name):
    return [value for key, value in answer["headers"] if key.lower() == name.lower()]


def test_forwarded_headers_and_host(gatehouse):
    answer, _ = echo(gatehouse, {})
    assert values(answer, "X-Forwarded-For") == ["127.0.0.1"]
    assert values(answer, "X-Forwarded-Proto") == ["https"]
    assert values(answer, "X-Forwarded-Host") == ["mail.contoso.lab"]
    assert values(answer, "Host") == ["mail.contoso.lab"]
    assert answer["uri"] == "/owa/echo?sim-echo"
    assert answer["version"] == "HTTP/1.1"


def test_host_preserved_for_second_name_of_service(gatehouse):
    answer, _ = echo(gatehouse, {}, host="autodiscover.contoso.lab")
    assert values(answer, "Host") == ["autodiscover.contoso.lab"]
    assert values(answer, "X-Forwarded-Host") == ["autodiscover.contoso.lab"]


def test_client_sent_forwarding_claims_are_replaced(gatehouse):
    answer, _ = echo(gatehouse, {
        "X-Forwarded-For": "6.6.6.6, 10.0.0.1",
        "X-Forwarded-Proto": "http",
        "X-Forwarded-Host": "evil.example",
        "Forwarded": "for=6.6.6.6;proto=http",
    })
    assert values(answer, "X-Forwarded-For") == ["127.0.0.1"]
    assert values(answer, "X-Forwarded-Proto") == ["https"]
    assert values(answer, "X-Forwarded-Host") == ["mail.contoso.lab"]
    assert values(answer, "Forwarded") == []


def test_hop_by_hop_and_connection_nominated_headers_removed(gatehouse):
    answer, _ = echo(gatehouse, {
        "Connection": "keep-alive, X-Hop-Secret, x-other-hop",
        "Keep-Alive": "timeout=5",
        "Proxy-Connection": "keep-alive",
        "TE": "trailers",
        "Trailer": "X-Checksum",
        "Upgrade": "websocket",
        "Proxy-Authorization": "Basic YWxpY2U6eA==",
        "X-Hop-Secret": "must-not-reach-backend",
        "X-Other-Hop": "nor-this",
        "X-End-To-End": "kept",
    })
    names = {name.lower() for name, _ in answer["headers"]}
    for gone in ["keep-alive", "proxy-connection", "te", "trailer", "upgrade", "proxy-authorization",
                 "x-hop-secret", "x-other-hop"]:
        assert gone not in names, f"{gone} reached the backend: {answer['headers']}"
    # The proxy may send its own Connection header to the backend, but never the client's tokens.
    for value in values(answer, "Connection"):
        assert "x-hop-secret" not in value.lower() and "x-other-hop" not in value.lower()
    assert values(answer, "X-End-To-End") == ["kept"]


def test_exchange_routing_headers_and_cookies_pass_untouched(gatehouse):
    cookie = ("X-BackEndCookie=S-1-5-21-1111-2222-3333-1104=u56Lnp2ejJqBz5qbyMrLzsrSzs/Nz9LLz8rN0sfLnsfSy8eay8ae; "
              "ClientId=ABCDEF0123456789; X-OWA-CANARY=abc_DEF-123.xyz; cadata=\"a+b/c==\"")
    sent = {
        "X-AnchorMailbox": "SMTP:alice@contoso.lab",
        "X-PreferServerAffinity": "true",
        "X-BackEndOverrideCookie": "mbx02.contoso.lab~1942062522",
        "Cookie": cookie,
        "X-RequestType": "Execute",
        "X-ClientInfo": "{2F94A2BF-A2E6-4CCC-BF98-B5F22C542226}:1",
    }
    answer, _ = echo(gatehouse, sent)
    for name, value in sent.items():
        assert values(answer, name) == [value], f"{name}: {values(answer, name)} != {value!r}"


def test_backend_response_headers_reach_client(gatehouse):
    _, headers = echo(gatehouse, {})
    assert headers["x-beserver"] in ("mbx01", "mbx02")
    assert headers["content-type"] == "application/json"
    assert "x-sim-connection" in headers


@pytest.mark.parametrize("path,status", [("/", 302), ("/powershell", 403), ("/no-such-service/", 404)])
def test_gatehouse_own_answers_are_never_sniffed(gatehouse, path, status):
    """Local answers are text/plain and may echo a path the client chose: a browser must not sniff
    them into HTML (X-Content-Type-Options: nosniff, which scanners such as testssl.sh look for)."""
    with gatehouse.client() as client:
        got, headers, _ = client.get(path)
    assert got == status
    assert headers.get("x-content-type-options") == "nosniff", headers
    assert headers.get("content-type", "").startswith("text/plain"), headers
