"""Issue #16 item 2: session-ticket keys shared through a file (`tls.ticket_keys`). Two separate
Gatehouse processes read the same key file: a session ticket that `openssl s_client` got from
instance A resumes on instance B ("Reused"), for TLS 1.2 and TLS 1.3; with other keys it does not;
after `gatehouse cert ticket-key rotate` and a reload of B, a ticket made under the old first key
still resumes on B. The key file is made and rotated with the CLI, so the format is the one the
CLI writes (base64 lines of 80 bytes, newest first, mode 0600)."""
import base64
import os
import re
import stat
import subprocess

import pytest

from conftest import BIN, require_binaries, start_gatehouse

HOST = "mail.contoso.lab"
# Connection: close makes the proxy answer and close, and -ign_eof keeps s_client reading until
# then, so the TLS 1.3 tickets (sent after the handshake) reach -sess_out.
REQUEST = f"GET /owa/healthcheck.htm HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"


def rotate(path, keep=None):
    args = [str(BIN / "gatehouse"), "cert", "ticket-key", "rotate", str(path)]
    if keep:
        args += ["--keep", str(keep)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def s_client(port, version, sess_out=None, sess_in=None):
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", HOST, f"-{version}", "-ign_eof"]
    if sess_out:
        args += ["-sess_out", str(sess_out)]
    if sess_in:
        args += ["-sess_in", str(sess_in)]
    done = subprocess.run(args, input=REQUEST, capture_output=True, text=True, timeout=30)
    assert "HTTP/1.1 200" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def ticket_name(output):
    """The first 16 bytes of the session ticket s_client prints (its key name), or None."""
    match = re.search(r"TLS session ticket:\n\s*0000 - ((?:[0-9a-f]{2}[ -]){16})", output)
    return bytes.fromhex(re.sub(r"[ -]", "", match.group(1))) if match else None


def resumed(output):
    """True for "Reused, TLSv1.x", false for "New, TLSv1.x" (s_client's session line)."""
    lines = [l for l in output.splitlines() if l.startswith(("Reused, ", "New, "))]
    assert lines, output[-2000:]
    return lines[0].startswith("Reused, ")


@pytest.fixture
def pair(sims, tmp_path):
    """Instances A and B sharing one key file, and C with a key file of its own."""
    require_binaries()
    shared = tmp_path / "shared.keys"
    rotate(shared)
    rotate(shared)
    own = tmp_path / "own.keys"
    rotate(own)
    started = {}
    try:
        for name, keys in (("a", shared), ("b", shared), ("c", own)):
            (tmp_path / name).mkdir()
            started[name] = start_gatehouse(sims, tmp_path / name, tls_extra=f"      ticket_keys: {keys}")
        yield started, shared
    finally:
        for gatehouse in started.values():
            gatehouse.process.stop()


def test_the_cli_writes_a_private_file_of_base64_keys_newest_first(tmp_path):
    require_binaries()
    path = tmp_path / "keys"
    first = rotate(path)
    assert "1 key(s) kept" in first
    lines = path.read_text().splitlines()
    assert len(lines) == 1 and len(base64.b64decode(lines[0], validate=True)) == 80
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    for _ in range(4):
        rotate(path, keep=3)
    rotated = path.read_text().splitlines()
    assert len(rotated) == 3 and len(set(rotated)) == 3
    rotate(path, keep=3)
    newest = path.read_text().splitlines()
    assert newest[1:] == rotated[:2], "the new key goes first and the oldest is dropped"
    path.write_text("garbage\n")
    done = subprocess.run([str(BIN / "gatehouse"), "cert", "ticket-key", "rotate", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "line 1: not valid base64" in done.stderr, done.stderr
    assert path.read_text() == "garbage\n", "a bad file is left as it was"


@pytest.mark.parametrize("version", ["tls1_2", "tls1_3"])
def test_a_ticket_from_one_instance_resumes_on_the_other(pair, tmp_path, version):
    instances, _ = pair
    session = tmp_path / f"{version}.pem"
    assert not resumed(s_client(instances["a"].port, version, sess_out=session))
    assert session.stat().st_size > 0
    assert resumed(s_client(instances["b"].port, version, sess_in=session))
    assert resumed(s_client(instances["a"].port, version, sess_in=session))
    # An instance with other keys cannot open the ticket: a full handshake.
    assert not resumed(s_client(instances["c"].port, version, sess_in=session))


@pytest.mark.parametrize("version", ["tls1_2", "tls1_3"])
def test_after_rotation_and_reload_an_old_ticket_still_resumes(pair, tmp_path, version):
    instances, shared = pair
    old = tmp_path / f"old-{version}.pem"
    s_client(instances["a"].port, version, sess_out=old)
    rotate(shared, keep=3)
    done = subprocess.run([str(BIN / "gatehouse"), "reload", "--config", str(instances["b"].config_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    newest = base64.b64decode(shared.read_text().splitlines()[0])[:16]
    # B now encrypts with the new key but still decrypts the old first key.
    renewed = tmp_path / f"renewed-{version}.pem"
    output = s_client(instances["b"].port, version, sess_in=old, sess_out=renewed)
    assert resumed(output)
    if version == "tls1_2":
        # The ticket was renewed during the resumption: the session now holds a ticket whose name
        # (its first 16 bytes) is the new first key's. (s_client writes no -sess_out for a
        # resumed TLS 1.2 session.)
        assert ticket_name(output) == newest, output[-3000:]
    else:
        # TLS 1.3 tickets come after the handshake: the one B sent is under the new key, which A
        # (not reloaded) does not know yet.
        assert not resumed(s_client(instances["a"].port, version, sess_in=renewed))


def test_a_broken_key_file_refuses_the_reload_and_the_old_keys_keep_working(pair, tmp_path):
    instances, shared = pair
    session = tmp_path / "session.pem"
    s_client(instances["a"].port, "tls1_2", sess_out=session)
    shared.write_text("bm90IDgwIGJ5dGVz\n")
    done = subprocess.run([str(BIN / "gatehouse"), "reload", "--config", str(instances["b"].config_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    line = instances["b"].config_path.read_text().splitlines().index(f"      ticket_keys: {shared}") + 1
    assert f"{instances['b'].config_path}:{line}:" in done.stderr, done.stderr
    assert "line 1: a key must be 80 bytes, this one is 12" in done.stderr, done.stderr
    assert resumed(s_client(instances["b"].port, "tls1_2", sess_in=session))


@pytest.mark.parametrize("version", ["tls1_2", "tls1_3"])
def test_without_a_key_file_a_reload_keeps_the_process_keys(sims, tmp_path, version):
    """Without `ticket_keys` the keys are the process's own (random, rotated hourly): a reload
    builds new certificate stores but keeps them, so tickets issued before it still resume; another
    process cannot open them."""
    require_binaries()
    (tmp_path / "one").mkdir()
    (tmp_path / "other").mkdir()
    one = start_gatehouse(sims, tmp_path / "one")
    other = start_gatehouse(sims, tmp_path / "other")
    try:
        session = tmp_path / "session.pem"
        assert not resumed(s_client(one.port, version, sess_out=session))
        done = subprocess.run([str(BIN / "gatehouse"), "reload", "--config", str(one.config_path)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert resumed(s_client(one.port, version, sess_in=session))
        assert not resumed(s_client(other.port, version, sess_in=session))
    finally:
        one.process.stop()
        other.process.stop()


@pytest.mark.parametrize("with_file", [False, True])
def test_a_tls13_resumption_hands_out_a_new_ticket(sims, tmp_path, with_file):
    """TLS 1.3 clients use a ticket once: each resumption must bring a fresh ticket, or every
    second connection is a full handshake. Three connections in a chain, each resuming with the
    ticket the previous one got (with a key file and with the process's own keys)."""
    require_binaries()
    extra = ""
    if with_file:
        keys = tmp_path / "ticket.keys"
        rotate(keys)
        extra = f"      ticket_keys: {keys}"
    gatehouse = start_gatehouse(sims, tmp_path, tls_extra=extra)
    try:
        first, second, third = (tmp_path / f"session-{n}.pem" for n in (1, 2, 3))
        assert not resumed(s_client(gatehouse.port, "tls1_3", sess_out=first))
        assert resumed(s_client(gatehouse.port, "tls1_3", sess_in=first, sess_out=second))
        assert second.exists(), "no new ticket after a TLS 1.3 resumption"
        assert resumed(s_client(gatehouse.port, "tls1_3", sess_in=second, sess_out=third))
    finally:
        gatehouse.process.stop()
