"""Prometheus metrics at the admin listener's GET /metrics (issue #14 item 1): the exposition parses
with the reference parser (prometheus_client), and requests, bytes, long polls, deny-rule hits, TLS
handshakes, client connections and backend connects move by exactly what the test did."""
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import CERTS, free_port, require_binaries, start_gatehouse, start_sim, wait_for_port
from h2_client import H2Client

PROXYSHELL = "/autodiscover/autodiscover.json?@evil.com/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.com"
PING_BODY = bytes([0x03, 0x01, 0x6A, 0x00, 0x00, 0x0D, 0x45, 0x48, 0x03, 0x38, 0x30, 0x00, 0x01, 0x01])


class DeadServer:
    """Stands in for a sim in gatehouse_config: a port nobody listens on (connects are refused)."""
    name = "mbx02"
    port = free_port()
    cert = CERTS / "mbx02.pem"


@pytest.fixture
def proxy(tmp_path):
    require_binaries()
    sim = start_sim("mbx01")
    gh = start_gatehouse([sim], tmp_path)
    wait_for_port(gh.admin_port, gh.process.proc)
    yield gh
    gh.process.stop()
    sim.process.stop()


def scrape_text(gh):
    with urllib.request.urlopen(f"http://127.0.0.1:{gh.admin_port}/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return response.read().decode()


def scrape(gh):
    """{(sample name, frozenset of labels): value}, through the reference parser."""
    samples = {}
    types = {}
    for family in text_string_to_metric_families(scrape_text(gh)):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, types


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples, name, **labels):
    """The sum over every series of `name` whose labels include `labels`."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


def route(name, pool="mailbox", server="mbx01", **extra):
    return dict(service="contoso", route=f"contoso/{name}", pool=pool, server=server, **extra)


UNROUTED = dict(service="", route="", pool="", server="")


def test_exposition_parses_and_has_the_families(proxy):
    samples, types = scrape(proxy)
    expected = {
        "gatehouse_requests": "counter", "gatehouse_request_duration_seconds": "histogram",
        "gatehouse_long_poll_duration_seconds": "histogram", "gatehouse_client_received_body_bytes": "counter",
        "gatehouse_client_sent_body_bytes": "counter", "gatehouse_client_connections_open": "gauge",
        "gatehouse_backend_connections": "gauge", "gatehouse_backend_connects": "counter",
        "gatehouse_backend_connect_failures": "counter", "gatehouse_backend_resends": "counter",
        "gatehouse_backend_passive_ejections": "counter", "gatehouse_backend_up": "gauge",
        "gatehouse_certificate_expiry_timestamp_seconds": "gauge", "gatehouse_deny_rule_hits": "counter",
        "gatehouse_config_reloads": "counter", "gatehouse_client_connections_counted": "gauge",
        "gatehouse_client_connection_limit": "gauge",
    }
    for name, kind in expected.items():
        assert types.get(name) == kind, f"{name}: {types.get(name)}"
    # Every served certificate of the listener and the pool's trusted one, in the future.
    expiries = [(dict(ls), v) for (n, ls), v in samples.items() if n == "gatehouse_certificate_expiry_timestamp_seconds"]
    served = [e for e in expiries if e[0]["role"] == "served" and e[0]["owner"] == "https"]
    trusted = [e for e in expiries if e[0]["role"] == "trusted" and e[0]["owner"] == "mailbox"]
    assert len(served) == 3 and len(trusted) == 1, expiries
    assert all(v > time.time() for _, v in expiries)
    # Health per (pool, server, service): the probed services of mailbox are up.
    assert value(samples, "gatehouse_backend_up", pool="mailbox", server="mbx01", service="") == 1
    assert value(samples, "gatehouse_config_reloads_total", outcome="success") == 0


def test_counters_move_by_exactly_what_was_done(proxy):
    before, _ = scrape(proxy)
    handshakes_before = total(before, "gatehouse_tls_handshakes_total", listener="https")
    with proxy.client() as client:
        status, _, page = client.get("/owa/x?sim-bytes=1000")
        assert status == 200 and len(page) == 1000
        status, _, _ = client.call("POST", "/EWS/Exchange.asmx", body=b"x" * 123,
                                   headers={"Content-Type": "text/xml"})
        assert status == 200
        assert client.get("/no-such-path/")[0] == 404
        assert client.get(PROXYSHELL)[0] == 403
        status, _, _ = client.call(
            "POST", "/Microsoft-Server-ActiveSync?Cmd=Ping&User=alice&DeviceId=METRICS01&DeviceType=iPhone&sim-hold=1",
            body=PING_BODY, headers={"Content-Type": "application/vnd.ms-sync.wbxml", "MS-ASProtocolVersion": "16.1"})
        assert status == 200
        # While this connection is open it is counted as an HTTP/1.1 connection of the listener.
        during, _ = scrape(proxy)
        assert value(during, "gatehouse_client_connections_open", listener="https", protocol="h1") == 1
        # ... and against max_connections (the default cap), next to the cap itself.
        assert value(during, "gatehouse_client_connections_counted", limit="max_connections") == 1
        assert value(during, "gatehouse_client_connection_limit", limit="max_connections") == 20000
        assert value(during, "gatehouse_client_connection_limit", limit="max_redirect_connections") == 1024
    after, _ = scrape(proxy)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("gatehouse_requests_total", **route("owa", **{"class": "2xx"})) == 1
    assert delta("gatehouse_requests_total", **route("ews", **{"class": "2xx"})) == 1
    assert delta("gatehouse_requests_total", **UNROUTED, **{"class": "4xx"}) == 2      # the 404 and the 403
    assert delta("gatehouse_requests_total", **route("activesync", **{"class": "2xx"})) == 1
    assert total(after, "gatehouse_requests_total") - total(before, "gatehouse_requests_total") == 5

    assert delta("gatehouse_client_sent_body_bytes_total", service="contoso", route="contoso/owa") == 1000
    assert delta("gatehouse_client_received_body_bytes_total", service="contoso", route="contoso/ews") == 123
    assert delta("gatehouse_deny_rule_hits_total", rule="proxyshell_autodiscover") == 1

    # The Ping is a long poll: in its own histogram, not in the route's latency. Latency histograms
    # have one series per event loop (label `loop`): summed over loops here, as a query would.
    def summed(name, **labels):
        return total(after, name, **labels) - total(before, name, **labels)

    sync = dict(service="contoso", route="contoso/activesync")
    assert summed("gatehouse_long_poll_duration_seconds_count", **sync) == 1
    assert summed("gatehouse_long_poll_duration_seconds_sum", **sync) >= 1.0
    assert summed("gatehouse_request_duration_seconds_count", **sync) == 0
    assert summed("gatehouse_request_duration_seconds_count", service="contoso", route="contoso/owa") == 1
    assert summed("gatehouse_request_duration_seconds_bucket", service="contoso", route="contoso/owa", le="+Inf") == 1
    # One series per event loop of the proxy (the loops label values 0, 1, ...).
    loops = {dict(k[1])["loop"] for k in after
             if k[0] == "gatehouse_request_duration_seconds_count" and ("route", "contoso/owa") in k[1]}
    assert loops == {str(i) for i in range(len(loops))} and len(loops) >= 1, loops
    # Only routes that have long polls carry the long-poll histogram.
    assert not [k for k in after if k[0].startswith("gatehouse_long_poll_duration_seconds")
                and ("route", "contoso/owa") in k[1]]
    assert [k for k in after if k[0] == "gatehouse_long_poll_duration_seconds_count"
            and {("service", "contoso"), ("route", "contoso/mapi")} <= k[1]]

    # One client connection, one TLS handshake; at least one new backend connection, no failure.
    assert total(after, "gatehouse_tls_handshakes_total", listener="https") - handshakes_before == 1
    assert delta("gatehouse_client_connections_total", listener="https", protocol="h1") == 1
    assert delta("gatehouse_backend_connects_total", pool="mailbox", server="mbx01") >= 1
    assert delta("gatehouse_backend_connect_failures_total", pool="mailbox", server="mbx01") == 0
    # Closed: the open gauge goes back (the close reaches the proxy a moment later).
    deadline = time.monotonic() + 5
    while True:
        now, _ = scrape(proxy)
        if value(now, "gatehouse_client_connections_open", listener="https", protocol="h1") == 0:
            break
        assert time.monotonic() < deadline, "client connection still counted as open"
        time.sleep(0.05)
    # The backend connection the requests used stays open and idle in the pool.
    assert value(now, "gatehouse_backend_connections", pool="mailbox", server="mbx01", state="idle") >= 1


def test_tls_handshake_failures_are_counted_by_reason(proxy):
    import socket
    before, _ = scrape(proxy)
    # Plain HTTP to the TLS port: OpenSSL's "http request" reason.
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: mail.contoso.lab\r\n\r\n")
        try:
            while sock.recv(4096):
                pass
        except OSError:
            pass
    deadline = time.monotonic() + 5
    while True:
        after, _ = scrape(proxy)
        moved = value(after, "gatehouse_tls_handshake_failures_total", listener="https", reason="http_request") \
            - value(before, "gatehouse_tls_handshake_failures_total", listener="https", reason="http_request")
        if moved or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert moved == 1, [k for k in after if k[0] == "gatehouse_tls_handshake_failures_total"]


def test_http2_streams_count_as_requests_of_an_h2_connection(proxy):
    before, _ = scrape(proxy)
    client = H2Client(proxy.port, "mail.contoso.lab", str(CERTS / "ca.pem"))
    try:
        sids = [client.request("GET", f"/owa/?sim-bytes={n}", "mail.contoso.lab") for n in (10, 20, 30)]
        client.wait_all(sids)
        assert all(client.responses[sid]["headers"][":status"] == "200" for sid in sids)
        during, _ = scrape(proxy)
        assert value(during, "gatehouse_client_connections_open", listener="https", protocol="h2") == 1
    finally:
        client.close()
    after, _ = scrape(proxy)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("gatehouse_client_connections_total", listener="https", protocol="h2") == 1
    assert delta("gatehouse_client_connections_total", listener="https", protocol="h1") == 0
    assert delta("gatehouse_requests_total", **route("owa", **{"class": "2xx"})) == 3
    assert delta("gatehouse_client_sent_body_bytes_total", service="contoso", route="contoso/owa") == 60
    handshakes = {dict(ls)["version"] for (n, ls), v in after.items() if n == "gatehouse_tls_handshakes_total" and v}
    assert handshakes <= {"TLSv1.2", "TLSv1.3"} and handshakes, handshakes


def test_connect_failures_resends_and_ejections(tmp_path):
    """mbx02 refuses connections (health checks off, so only the data path learns it): a GET sent
    there fails to connect, is resent to mbx01 and answered; mbx02 becomes suspect."""
    require_binaries()
    sim = start_sim("mbx01")
    gh = start_gatehouse([sim, DeadServer()], tmp_path, pool_extra="    health: { enabled: false }\n")
    try:
        wait_for_port(gh.admin_port, gh.process.proc)
        before, _ = scrape(gh)
        with gh.client() as client:
            for _ in range(6):
                assert client.get("/owa/")[0] == 200
        after, _ = scrape(gh)

        def delta(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        failures = delta("gatehouse_backend_connect_failures_total", pool="mailbox", server="mbx02")
        assert failures >= 1
        # Every failed connect of a request was resent (to mbx01), and every request answered there.
        assert delta("gatehouse_backend_resends_total", pool="mailbox", server="mbx02") == failures
        assert delta("gatehouse_backend_passive_ejections_total", pool="mailbox", server="mbx02") >= 1
        assert delta("gatehouse_requests_total", **route("owa", server="mbx01", **{"class": "2xx"})) == 6
        assert delta("gatehouse_requests_total", **route("owa", server="mbx02", **{"class": "2xx"})) == 0
        assert delta("gatehouse_backend_connects_total", pool="mailbox", server="mbx02") == 0
        assert value(after, "gatehouse_backend_connections", pool="mailbox", server="mbx02", state="open") == 0
    finally:
        gh.process.stop()
        sim.process.stop()
