"""The pool's connect cap and queue (issue #13 item 3): `max_connecting_per_server` connects in flight
per server per event loop; a request beyond them waits in the pool's queue and, after `queue_timeout`,
gets a 503 and a log line naming the pool (not the route's 504).

The backend accepts TCP and never answers the TLS ClientHello, so every connect stays in flight.
"""
import threading
import time

from conftest import CERTS
from gatehouse_client import RawHTTPS, http11_context
from recording_backend import RecordingBackend, event_loop_count, pool_yaml, start_recording_gatehouse

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
