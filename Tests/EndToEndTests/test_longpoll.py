"""Long-lived Exchange requests through the proxy: ActiveSync Ping held past common 60 s
defaults, MAPI NotificationWait keep-alive lines relayed as they come."""
import time

import pytest

from conftest import PING_HOLD_SECONDS, BackgroundPing

pytestmark = pytest.mark.usefixtures("proxy_log_on_failure")
HOST = "open.contoso.lab"


def test_notification_wait_pending_lines_arrive_one_by_one(gatehouse):
    interval, duration = 1.0, 4.0
    with gatehouse.client(HOST, timeout=20) as client:
        started = time.monotonic()
        response = client.request(
            "POST", f"/mapi/emsmdb/?MailboxId=alice@contoso.lab&sim-interval={interval}&sim-duration={duration}",
            body=b"\x00" * 16, headers={"Content-Type": "application/mapi-http", "X-RequestType": "NotificationWait",
                                        "X-RequestId": "{E2E}:1", "X-ClientInfo": "{E2E}:1"})
        head_at = time.monotonic() - started
        assert response.status == 200
        assert response.getheader("x-requesttype") == "NotificationWait"
        assert response.getheader("transfer-encoding", "").lower() == "chunked"
        lines = []
        while True:
            line = response.readline()
            if not line:
                break
            lines.append((time.monotonic() - started, line.strip()))
    texts = [text for _, text in lines]
    assert texts == [b"PENDING"] * 4 + [b"DONE"], texts
    times = [at for at, _ in lines]
    # The head comes at once, each PENDING about `interval` after the previous: relayed, not buffered.
    assert head_at < interval, f"response head after {head_at:.2f}s"
    assert times[0] < 2 * interval, f"first PENDING after {times[0]:.2f}s"
    gaps = [b - a for a, b in zip(times, times[1:4])]
    assert all(gap > interval * 0.5 for gap in gaps), f"PENDING lines bunched together: {times}"
    assert times[3] - times[0] > 2 * interval, f"PENDING lines not spread over the wait: {times}"


def test_activesync_ping_held_75s_succeeds(gatehouse):
    ping = gatehouse.ping or BackgroundPing(gatehouse)
    ping.join()
    assert ping.error is None, f"Ping failed after {ping.elapsed:.1f}s: {ping.error!r}"
    status, headers, body = ping.result
    assert status == 200, body
    assert headers["content-type"] == "application/vnd.ms-sync.wbxml"
    assert body == bytes([0x03, 0x01, 0x6A, 0x00, 0x00, 0x0D, 0x45, 0x47, 0x03, 0x31, 0x00, 0x01, 0x01])
    assert ping.elapsed >= PING_HOLD_SECONDS - 1, f"answered after {ping.elapsed:.1f}s"
