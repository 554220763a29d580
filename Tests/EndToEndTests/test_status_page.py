"""Issue 14 item 5: the admin status page, rendered by headless Chromium.

`GET /` on the admin listener answers a browser (Accept: text/html) with one self-contained HTML
page whose inline script fetches /state and renders it; any other client still gets the JSON.
Chromium (`--dump-dom` after `--virtual-time-budget`) runs the script under the page's strict
Content-Security-Policy, so a rendered server table also proves the CSP lets the hashed script run.
"""
import base64
import hashlib
import json
import re
import shutil
import subprocess
import time
import urllib.request

import pytest

from conftest import start_gatehouse, wait_for_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def get(gh, path, accept=None, method="GET"):
    request = urllib.request.Request(f"http://127.0.0.1:{gh.admin_port}{path}", method=method)
    if accept:
        request.add_header("Accept", accept)
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, dict(response.headers), response.read()


def rendered_dom(gh):
    """The page's DOM after its script ran (Chromium's virtual time runs the fetch and render)."""
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: run `make deps-test` (apt-get install chromium)")
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--virtual-time-budget=5000", "--dump-dom", f"http://127.0.0.1:{gh.admin_port}/"],
        capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def server_row(dom, pool, server):
    match = re.search(rf'<tr id="server-{pool}/{server}"([^>]*)>(.*?)</tr>', dom, re.S)
    assert match, f"no row for {pool}/{server} in:\n{dom[:3000]}"
    return match.group(1), re.sub(r"<[^>]+>", " ", match.group(2))


def server_row_html(dom, server):
    return re.search(rf'<tr id="server-mailbox/{server}".*?</tr>', dom, re.S).group(0)


@pytest.fixture
def proxy(sims, tmp_path):
    gh = start_gatehouse(sims, tmp_path)
    wait_for_port(gh.admin_port, gh.process.proc, log=gh.process.output)
    yield gh
    gh.process.stop()


def test_status_page_is_html_for_browsers_json_for_the_rest(proxy):
    status, headers, body = get(proxy, "/", accept="text/html,application/xhtml+xml,*/*;q=0.8")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/]+=*'", csp)
    html = body.decode()
    # The hashes in the policy are exactly the page's one inline script and one inline style.
    for tag, directive in (("script", "script-src"), ("style", "style-src")):
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.S)
        assert len(blocks) == 1
        digest = base64.b64encode(hashlib.sha256(blocks[0].encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in csp
    assert "<script>" in html and "src=" not in html and "http://" not in html and "https://" not in html
    # curl and scripts (no Accept, or JSON) keep the JSON state at /.
    for accept in (None, "*/*", "application/json"):
        status, headers, body = get(proxy, "/", accept=accept)
        assert headers["Content-Type"] == "application/json"
        assert "pools" in json.loads(body)


def test_state_has_listeners_certificates_and_request_counts(proxy):
    client = proxy.client()
    assert client.get("/owa/")[0] < 500
    client.close()
    state = json.loads(get(proxy, "/state")[2])
    listeners = {l["name"]: l for l in state["listeners"]}
    assert listeners["http"]["kind"] == "redirect"
    https = listeners["https"]
    assert https["kind"] == "tls" and https["address"] == f"127.0.0.1:{proxy.port}"
    names = [name for c in https["certificates"] for name in c["names"]]
    assert "mail.contoso.lab" in names and "*.contoso.lab" in names
    assert all(c["days_left"] > 0 and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", c["not_after"])
               for c in https["certificates"])
    assert sum(c["default"] for c in https["certificates"]) == 1
    servers = state["pools"][0]["servers"]
    assert sum(s["requests"] for s in servers) >= 1
    # A rate needs a second of history: the first look has none, a later one has a number.
    time.sleep(1.1)
    rates = [s["requests_per_second"] for s in json.loads(get(proxy, "/state")[2])["pools"][0]["servers"]]
    assert all(isinstance(r, float) and r >= 0 for r in rates), rates
    # The fields that were there before are all still there.
    assert {"name", "address", "weight", "draining", "up", "suspect", "services", "outstanding", "idle", "pinned",
            "suspect_loops"} <= set(servers[0])


def test_status_page_renders_servers_health_and_drain_in_chromium(proxy):
    dom = rendered_dom(proxy)
    for server in ("mbx01", "mbx02"):
        attributes, text = server_row(dom, "mailbox", server)
        assert 'data-up="true"' in attributes and 'data-draining="false"' in attributes
        assert "up" in text.split() and "drained" not in text
        assert f"127.0.0.1:{proxy.backends[server].port}" in text
        # Health per service: one badge per service, each up.
        services = re.findall(r'data-service="([a-z-]+)" data-up="(true|false)"', server_row_html(dom, server))
        assert {name for name, _ in services} >= {"owa", "ews", "microsoft-server-activesync"}, services
        assert all(up == "true" for _, up in services)
    assert "mail.contoso.lab" in dom and "days left" in dom
    assert "HTTP → HTTPS redirect" in dom
    get(proxy, "/pools/mailbox/servers/mbx02/drain", method="POST")
    dom = rendered_dom(proxy)
    attributes, text = server_row(dom, "mailbox", "mbx02")
    assert 'data-draining="true"' in attributes and "drained" in text.split()
    attributes, text = server_row(dom, "mailbox", "mbx01")
    assert 'data-draining="false"' in attributes and "drained" not in text.split()
