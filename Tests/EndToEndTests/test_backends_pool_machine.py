"""The pool state machine end to end (issue #13 item 3), at recording backends.

- The connect cap and queue: `max_connecting_per_server` connects in flight per server per event loop;
  a request beyond them waits in the pool's queue and, after `queue_timeout`, gets a 503 and a log line
  naming the pool (not the route's 504). The backend accepts TCP and never answers the ClientHello,
  so every connect stays in flight.
- Passive ejection per (server, service), shared by all event loops: a burst of 503s from EWS on one
  server takes that server out of EWS on every loop, and OWA keeps using it.
"""
import threading
import time

from conftest import CERTS
from gatehouse_client import RawHTTPS, http11_context
from recording_backend import (BACKEND_CERT, BACKEND_TLS_NAME, RecordingBackend, admin_state, event_loop_count,
                               pool_yaml, start_recording_gatehouse)

HOST = "mail.contoso.lab"


def test_a_request_beyond_the_connect_cap_gets_the_pools_503_after_its_queue_timeout(tmp_path):
    blackhole = RecordingBackend(handshake="never")
    gatehouse = None
    try:
        pools = pool_yaml("queued", blackhole, connect_timeout="10s",
                          extra="    max_connecting_per_server: 1\n    queue_timeout: 300ms\n")
        services = (f"  - name: q\n    hosts: [{HOST}]\n    routes:\n"
                    "      - { path: /q/, pool: queued, timeouts: { connect: 3s } }\n")
        gatehouse = start_recording_gatehouse(tmp_path, pools, services)
        # Client connections are spread over the event loops in turn: two per loop put a second
        # request behind each loop's single connect slot.
        count = 2 * event_loop_count(gatehouse)
        results = [None] * count

        def request(index):
            started = time.monotonic()
            try:
                with RawHTTPS(gatehouse.port, HOST, http11_context(str(CERTS / "ca.pem")), timeout=8) as client:
                    client.send(f"GET /q/x{index} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
                    response = client.read_response()
                    results[index] = (response.status, time.monotonic() - started)
            except Exception as error:  # noqa: BLE001 - reported below
                results[index] = (repr(error), time.monotonic() - started)

        threads = [threading.Thread(target=request, args=(index,)) for index in range(count)]
        for thread in threads:
            thread.start()
            time.sleep(0.02)
        for thread in threads:
            thread.join(timeout=10)
        print(f"(status, seconds) per request: {results}")
        queued = [elapsed for status, elapsed in results if status == 503]
        connecting = [elapsed for status, elapsed in results if status == 504]
        assert queued and len(queued) + len(connecting) == count, results
        assert all(0.25 <= elapsed < 2.0 for elapsed in queued), results
        assert all(elapsed >= 2.9 for elapsed in connecting), results
        log = gatehouse.process.output()
        assert "pool queued: no connection to backend rb" in log and "queue_timeout" in log, log[-3000:]
    finally:
        if gatehouse is not None:
            gatehouse.process.stop()
        blackhole.stop()


def test_a_burst_of_503s_from_one_service_ejects_that_service_only_and_every_loop_knows(tmp_path):
    # Server a answers every EWS request with 503 (EWS taken offline there), OWA normally; server b
    # answers everything. Health checks are off: only passive ejection can react.
    failing = RecordingBackend(status_for=lambda target: 503 if target.lower().startswith("/ews/") else None)
    healthy = RecordingBackend()
    gatehouse = None
    clients = []
    try:
        pools = (f"  pair:\n    servers:\n"
                 f"      - {{ name: a, address: 127.0.0.1:{failing.port}, tls_name: {BACKEND_TLS_NAME} }}\n"
                 f"      - {{ name: b, address: 127.0.0.1:{healthy.port}, tls_name: {BACKEND_TLS_NAME} }}\n"
                 f"    trust:\n      certificates: [{BACKEND_CERT}]\n"
                 f"    balance: round_robin\n    health: {{ enabled: false }}\n")
        services = (f"  - name: pair\n    hosts: [{HOST}]\n    routes:\n"
                    "      - { preset: ews, pool: pair, compression: { enabled: false } }\n"
                    "      - { preset: owa, pool: pair, compression: { enabled: false } }\n")
        gatehouse = start_recording_gatehouse(tmp_path, pools, services)
        loops = event_loop_count(gatehouse)
        # One keep-alive client connection per event loop and one more (accepted connections go
        # to the loops in turn), opened before the burst.
        for _ in range(loops + 1):
            client = RawHTTPS(gatehouse.port, HOST, http11_context(str(CERTS / "ca.pem")), timeout=5)
            clients.append(client)

        def get(client, target):
            client.send(f"GET {target} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
            return client.read_response().status

        # The burst, on one loop: round robin sends a every other request, PassiveEjection.burst = 5.
        statuses = [get(clients[0], f"/EWS/Exchange.asmx?burst={i}") for i in range(10)]
        ejected_at = time.monotonic()
        assert statuses.count(503) == 5 and statuses.count(200) == 5, statuses
        state = admin_state(gatehouse)
        server_a = next(s for p in state["pools"] if p["name"] == "pair" for s in p["servers"] if s["name"] == "a")
        assert server_a["services"]["ews"]["suspect"] is True, server_a
        assert server_a["services"]["owa"]["suspect"] is False and server_a["suspect"] is False, server_a
        assert server_a["suspect_loops"] == loops, server_a

        # Every loop now sends EWS to b only, while OWA still uses a. The first backoff is 1 s: only
        # requests sent within 0.9 s of the burst are checked.
        checked = []
        for index, client in enumerate(clients):
            sent_at = time.monotonic()
            target = f"/EWS/Exchange.asmx?after={index}"
            assert get(client, target) == 200
            if sent_at - ejected_at < 0.9:
                checked.append(target)
        owa = [get(client, f"/owa/?after={index}") for index, client in enumerate(clients)]
        assert owa == [200] * len(clients)
        reached_a = {request.target for request in failing.snapshot()}
        assert len(checked) >= 2, "the machine was too slow to check anything within the 1 s backoff"
        assert not reached_a.intersection(checked), (sorted(reached_a), checked)
        assert any(target.startswith("/owa/?after=") for target in reached_a), sorted(reached_a)
        log = gatehouse.process.output()
        assert "passive ejection after a burst of gateway errors" in log and "service=ews" in log, log[-3000:]
    finally:
        for client in clients:
            client.close()
        if gatehouse is not None:
            gatehouse.process.stop()
        failing.stop()
        healthy.stop()
