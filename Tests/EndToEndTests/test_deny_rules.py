"""The built-in deny rules and target canonicalisation, exercised through the real proxy: published
ProxyLogon / ProxyShell / ProxyNotShell request shapes and their encoded variants get 403; look-alike
legitimate Exchange requests reach the backend; targets that cannot be canonicalised get 400."""
import pytest

from gatehouse_client import RawHTTPS

pytestmark = pytest.mark.usefixtures("proxy_log_on_failure")

PROXYSHELL = "/autodiscover/autodiscover.json?@evil.com/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.com"

DENIED_TARGETS = [
    pytest.param(PROXYSHELL, id="proxyshell"),
    pytest.param("/autodiscover/autodiscover.json?@evil.com/PowerShell/?X-Rps-CAT=VgEAVAdXaW5kb3dzQwBBCEtlcmJlcm9z"
                 "&Email=autodiscover/autodiscover.json%3F@evil.com", id="proxyshell-powershell-cat"),
    pytest.param("/autodiscover/autodiscover.json?@evil.com/owa/?&Email=autodiscover/autodiscover.json%3F@evil.com"
                 "&Protocol=XYZ&FooProtocol=Powershell", id="proxynotshell"),
    pytest.param("/autodiscover/autodiscover.json?a..foo.var/owa/?&Email=autodiscover/autodiscover.json?a..foo.var"
                 "&Protocol=XYZ&FooProtocol=%50owershell", id="proxynotshell-encoded-powershell"),
    pytest.param("/AutoDiscover/AutoDiscover.JSON?@evil.com/mapi/nspi/?&Email=AutoDiscover/autodiscover.json%3F@evil.com",
                 id="case"),
    pytest.param("/autodiscover/autodiscover.json?%40evil.com/mapi/nspi/?&Email=autodiscover%2Fautodiscover.json%3F%40evil.com",
                 id="encoded-at"),
    pytest.param("/autodiscover/autodiscover.json?%2540evil.com/mapi/nspi/?&Email=autodiscover%252Fautodiscover.json",
                 id="double-encoded-query"),
    pytest.param("/autodiscover/./autodiscover.json?@evil.com/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.com",
                 id="dot-segment"),
    pytest.param("/owa/../autodiscover/autodiscover.json?@evil.com/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.com",
                 id="dot-dot-segment"),
    pytest.param("/autodiscover/autodiscover%2Ejson?@evil.com/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.com",
                 id="encoded-dot"),
    pytest.param("/%61utodiscover/autodiscover.json?@evil.com/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.com",
                 id="encoded-letter"),
    pytest.param("/autodiscover/autodiscover.json%3F@evil.com/mapi/nspi/", id="encoded-question-mark-in-path"),
    pytest.param("/autodiscover/autodiscover.json/@evil.com/mapi/nspi/", id="at-segment-in-path"),
    pytest.param("/autodiscover/autodiscover.json?Email=autodiscover/autodiscover.json%3F@evil.com", id="email-names-autodiscover"),
    pytest.param("/owa/../PowerShell/", id="powershell-via-dot-dot"),
    pytest.param("/owa/%2E%2E/powershell", id="powershell-via-encoded-dot-dot"),
    pytest.param("/autodiscover/x.aspx?target=%2Fpowershell", id="autodiscover-and-powershell"),
    pytest.param("/owa/?X-Rps-CAT=VgEAVAdXaW5kb3dzQwBBCEtlcmJlcm9z", id="rps-cat-in-query"),
]


@pytest.mark.parametrize("target", DENIED_TARGETS)
def test_attack_target_is_denied(gatehouse, target):
    with gatehouse.client() as client:
        status, _, body = client.get(target)
    assert status == 403, body


DENIED_HEADERS = [
    pytest.param({"X-Rps-CAT": "VgEAVAdXaW5kb3dzQwBBCEtlcmJlcm9z"}, id="x-rps-cat-header"),
    pytest.param({"Cookie": "X-Rps-CAT=VgEAVAdXaW5kb3dzQwBBCEtlcmJlcm9z"}, id="x-rps-cat-cookie"),
    pytest.param({"Cookie": "X-BEResource=mbx01.contoso.lab/ecp/default.flt~1"}, id="beresource-path"),
    pytest.param({"Cookie": "X-BEResource=Admin@mbx01:444/ecp/DDI/DDIService.svc/GetList?a=~1942062522"},
                 id="beresource-proxylogon"),
    pytest.param({"Cookie": "a=b; x-beresource=mbx01%2Fecp~1"}, id="beresource-lowercase-encoded"),
    pytest.param({"Cookie": "X-AnonResource-Backend=mbx01/ecp/default.flt?~3"}, id="anonresource-cookie"),
    pytest.param({"Cookie": "X-AnonResource=true; X-AnonResource-Backend=mbx01"}, id="anonresource-cookie-bare"),
    pytest.param({"X-AnonResource-Backend": "mbx01/ecp/default.flt?~3"}, id="anonresource-header"),
    pytest.param({"Cookie": "Email=autodiscover/autodiscover.json%3F@evil.com"}, id="email-cookie", marks=[]),
]


@pytest.mark.parametrize("headers", DENIED_HEADERS)
def test_attack_headers_are_denied(gatehouse, headers):
    path = "/autodiscover/autodiscover.json?Protocol=ActiveSync" if "Email" in headers.get("Cookie", "") \
        else "/owa/auth/logon.aspx"
    with gatehouse.client() as client:
        status, _, body = client.get(path, headers=headers)
    assert status == 403, body


ALLOWED = [
    pytest.param("/autodiscover/autodiscover.json?Email=alice@contoso.lab&Protocol=ActiveSync", {}, id="autodiscover-json"),
    pytest.param("/autodiscover/autodiscover.json/v1.0/alice@contoso.lab?Protocol=EWS", {}, id="autodiscover-json-v1"),
    pytest.param("/AutoDiscover/AutoDiscover.xml", {}, id="autodiscover-xml"),
    pytest.param("/owa/auth/logon.aspx?replaceCurrent=1&url=https%3a%2f%2fmail.contoso.lab%2fowa%2f", {},
                 id="owa-encoded-return-url"),
    pytest.param("/owa/", {"Cookie": "X-BEResource=mbx01.contoso.lab~1942062522"}, id="beresource-exchange-own"),
    pytest.param("/owa/%7Eshared/", {}, id="encoded-unreserved"),
    pytest.param("/owa/./auth/../", {}, id="harmless-dot-segments"),
]


@pytest.mark.parametrize("target,headers", ALLOWED)
def test_look_alike_legitimate_request_passes(gatehouse, target, headers):
    with gatehouse.client() as client:
        status, response_headers, body = client.get(target, headers=headers)
    assert status == 200, body
    assert response_headers.get("x-beserver") in ("mbx01", "mbx02"), "answered by the proxy, not the backend"


BAD_TARGETS = [
    pytest.param("/owa/..%2Fecp/", id="encoded-slash"),
    pytest.param("/owa%2fhealthcheck.htm", id="encoded-slash-lowercase"),
    pytest.param("/owa/%00/healthcheck.htm", id="encoded-nul"),
    pytest.param("/owa/?a=%00", id="encoded-nul-in-query"),
    pytest.param("/owa/%252e%252e/ecp/", id="double-encoded-dot-dot"),
    pytest.param("/owa/%25/", id="encoded-percent"),
    pytest.param("/owa/..%5Cecp/", id="encoded-backslash"),
    pytest.param("/ecp./default.aspx", id="trailing-dot-segment"),
    pytest.param("/owa/.../ecp/", id="triple-dot-segment"),
    pytest.param("/owa/%zz/", id="invalid-escape"),
]


@pytest.mark.parametrize("target", BAD_TARGETS)
def test_ambiguous_target_is_400(gatehouse, target):
    with gatehouse.client() as client:
        status, _, body = client.get(target)
    assert status == 400, body


@pytest.mark.parametrize("target", [b"/owa/..\\ecp/", b"\\owa\\healthcheck.htm"], ids=["backslash", "backslash-only"])
def test_raw_backslash_target_is_400(gatehouse, target):
    with gatehouse.raw() as raw:
        raw.send(b"GET " + target + b" HTTP/1.1\r\nHost: mail.contoso.lab\r\n\r\n")
        response = raw.read_response()
    assert response.status == 400, response.body


def test_denial_is_logged_with_rule_name(gatehouse):
    marker = "/autodiscover/autodiscover.json?@logged.example/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@x"
    with gatehouse.client() as client:
        status, _, _ = client.get(marker)
    assert status == 403
    output = gatehouse.wait_for_log(lambda out: "logged.example" in out)
    lines = [line for line in output.splitlines() if "logged.example" in line]
    assert lines and "deny rule proxyshell_autodiscover" in lines[-1], lines
