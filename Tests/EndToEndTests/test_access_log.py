"""Issue 14 item 4: the access log in its three formats, written to a file, reopened on SIGUSR1.

Each test starts its own Gatehouse (the session's mbx01/mbx02, which require NTLM on /EWS/) with
`access_log: { format: ..., path: <file> }`, makes real requests (an NTLM handshake through
pyspnego, then a request on the authenticated connection without credentials; an ActiveSync request
with DeviceId/DeviceType and Basic credentials; a hostile User-Agent), and reads the file: JSON
lines parse, the W3C file parses with a strict W3C Extended Log Format reader (below), the user is
the NTLM DOMAIN\\user or the Basic user name and no password reaches the file.
"""
import base64
import json
import os
import re
import signal
import time
import urllib.parse

import pytest

from conftest import BIN, Gatehouse, Process, free_port, gatehouse_config, wait_for_port
from gatehouse_client import ntlm_authenticate

ACTIVESYNC = "/Microsoft-Server-ActiveSync?Cmd=Sync&User=bob&DeviceId=ABC123DEF&DeviceType=iPhone"
BASIC = "Basic " + base64.b64encode(b"CONTOSO\\bob:Sup3rSecret-pw").decode()
HOSTILE_AGENT = 'Evil "quoted" agent\tü /1.0'


def start(sims, tmp_path, fmt):
    log_path = tmp_path / f"access-{fmt}.log"
    port, http_port, admin_port = free_port(), free_port(), free_port()
    config = tmp_path / "gatehouse.yaml"
    config.write_text(gatehouse_config(port, http_port, admin_port, sims)
                      + f"access_log:\n  format: {fmt}\n  path: {log_path}\n")
    process = Process([str(BIN / "gatehouse"), "run", "--config", str(config)], "gatehouse")
    wait_for_port(port, process.proc, log=process.output)
    return Gatehouse(process, port, http_port, admin_port, config, {s.name: s for s in sims}), log_path


def make_requests(gh):
    """The NTLM handshake (two lines: 401 then 200) and one request after it on the same
    connection, one ActiveSync request with Basic credentials, one with a hostile User-Agent."""
    client = gh.client()
    try:
        status, _, _ = ntlm_authenticate(client, "/EWS/Exchange.asmx", user="CONTOSO\\alice")
        assert status == 200
        status, _, _ = client.get("/EWS/Exchange.asmx")   # no Authorization: the connection is alice's
        assert status == 200
    finally:
        client.close()
    client = gh.client()
    try:
        status, _, _ = client.get(ACTIVESYNC, headers={"Authorization": BASIC, "User-Agent": "Apple-iPhone9C1/1402.100"})
        assert status < 500
        status, _, _ = client.get("/owa/?x=1", headers={"User-Agent": HOSTILE_AGENT.encode("utf-8").decode("latin-1")})
        assert status < 500
    finally:
        client.close()
    return 5


def wait_for_lines(path, predicate, timeout=10.0):
    deadline = time.time() + timeout
    text = ""
    while time.time() < deadline:
        text = path.read_text(encoding="ascii") if path.exists() else ""
        if predicate(text):
            return text
        time.sleep(0.1)
    raise AssertionError(f"{path} never matched; it holds:\n{text}")


def request_lines(text):
    return [line for line in text.splitlines() if line and not line.startswith("#")]


# A strict reader of the W3C Extended Log File Format (https://www.w3.org/TR/WD-logfile.html):
# directives start with '#'; #Version and #Fields must come before the first entry; each entry has
# exactly one value per field, separated by single spaces; '-' is an empty value; no quotes (IIS
# does not quote), no control characters.
def parse_w3c(text):
    directives, fields, entries = {}, None, []
    for number, line in enumerate(text.split("\n"), 1):
        if line == "" and number == len(text.split("\n")):
            break   # the final newline
        assert "\r" not in line, f"line {number}: CR"
        assert all(0x20 <= ord(c) <= 0x7E for c in line), f"line {number}: not printable ASCII: {line!r}"
        if line.startswith("#"):
            name, _, value = line[1:].partition(": ")
            assert name in ("Version", "Fields", "Software", "Start-Date", "End-Date", "Date", "Remark"), line
            directives[name] = value
            if name == "Fields":
                fields = value.split(" ")
                # [<prefix>-]<identifier>, or <prefix>(<header>); prefixes c s r cs sc sr rs x.
                assert all(re.fullmatch(r"(?:(?:c|s|r|cs|sc|sr|rs|x)-)?[a-z][a-z-]*|(?:c|s|r|cs|sc|sr|rs)\([A-Za-z-]+\)", f)
                           for f in fields), fields
            if name == "Version":
                assert value == "1.0"
            continue
        assert "Version" in directives and fields, f"line {number}: entry before #Version/#Fields"
        values = line.split(" ")
        assert len(values) == len(fields), f"line {number}: {len(values)} values for {len(fields)} fields: {line}"
        assert all(values), f"line {number}: an empty value (double space): {line}"
        assert '"' not in line
        entries.append({f: (None if v == "-" else v) for f, v in zip(fields, values)})
    return directives, fields, entries


def w3c_decode(value):
    """A W3C/IIS value back to text: '+' is a space, %XX a byte."""
    return urllib.parse.unquote_plus(value) if value is not None else None


def test_access_log_w3c_parses_and_names_users_and_devices(sims, tmp_path):
    gh, log_path = start(sims, tmp_path, "w3c")
    try:
        count = make_requests(gh)
        text = wait_for_lines(log_path, lambda t: len(request_lines(t)) >= count)
        directives, fields, entries = parse_w3c(text)
        assert directives["Software"].startswith("Gatehouse ")
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", directives["Date"])
        assert fields[:11] == ["date", "time", "s-ip", "cs-method", "cs-uri-stem", "cs-uri-query", "s-port",
                               "cs-username", "c-ip", "cs-version", "cs(User-Agent)"]
        for name in ("sc-status", "time-taken", "x-route", "x-backend", "x-device-id", "x-device-type"):
            assert name in fields
        ews = [e for e in entries if e["cs-uri-stem"] == "/EWS/Exchange.asmx"]
        assert [e["sc-status"] for e in ews] == ["401", "200", "200"]
        # The NEGOTIATE leg names nobody; the AUTHENTICATE leg and the later request are alice's.
        assert [e["cs-username"] for e in ews] == [None, "CONTOSO\\alice", "CONTOSO\\alice"]
        assert all(e["s-ip"] == "127.0.0.1" and e["s-port"] == str(gh.port) and e["c-ip"] == "127.0.0.1" for e in ews)
        assert all(e["x-route"] == "contoso/ews" and e["x-backend"] in ("mbx01", "mbx02") for e in ews)
        sync = next(e for e in entries if e["cs-uri-stem"] == "/Microsoft-Server-ActiveSync")
        assert sync["cs-uri-query"] == ACTIVESYNC.split("?", 1)[1]
        assert (sync["x-device-id"], sync["x-device-type"]) == ("ABC123DEF", "iPhone")
        assert sync["cs-username"] == "CONTOSO\\bob"
        assert sync["cs(User-Agent)"] == "Apple-iPhone9C1/1402.100"
        owa = next(e for e in entries if e["cs-uri-stem"] == "/owa/")
        assert w3c_decode(owa["cs(User-Agent)"]) == HOSTILE_AGENT
        assert int(owa["time-taken"]) >= 0
        assert "Sup3rSecret" not in text and base64.b64encode(b"CONTOSO\\bob:Sup3rSecret-pw").decode() not in text
    finally:
        gh.process.stop()


def test_access_log_json_lines_parse(sims, tmp_path):
    gh, log_path = start(sims, tmp_path, "json")
    try:
        count = make_requests(gh)
        text = wait_for_lines(log_path, lambda t: len(t.splitlines()) >= count)
        records = [json.loads(line) for line in text.splitlines()]
        assert all(set(r) == set(records[0]) for r in records)
        ews = [r for r in records if r["uri"] == "/EWS/Exchange.asmx"]
        assert [(r["status"], r["user"]) for r in ews] == [(401, None), (200, "CONTOSO\\alice"), (200, "CONTOSO\\alice")]
        sync = next(r for r in records if r["uri"] == ACTIVESYNC)
        assert (sync["device_id"], sync["device_type"], sync["user"]) == ("ABC123DEF", "iPhone", "CONTOSO\\bob")
        owa = next(r for r in records if r["uri"] == "/owa/?x=1")
        assert owa["user_agent"] == HOSTILE_AGENT
        assert owa["server_port"] == gh.port and owa["protocol"] == "HTTP/1.1"
        assert "Sup3rSecret" not in text
    finally:
        gh.process.stop()


def test_access_log_text_is_todays_line(sims, tmp_path):
    gh, log_path = start(sims, tmp_path, "text")
    try:
        count = make_requests(gh)
        text = wait_for_lines(log_path, lambda t: len(t.splitlines()) >= count)
        shape = re.compile(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ 127\.0\.0\.1 "\S+ \S+ HTTP/1\.1" \d{3} in=\d+ out=\d+ us=\d+'
                           r'( route=\S+)?( backend=\S+)?( reason="[^"]*")?')
        for line in text.splitlines():
            assert shape.fullmatch(line), line
        # The text format shows no user (it is today's line).
        assert "alice" not in text and "Sup3rSecret" not in text
    finally:
        gh.process.stop()


def test_access_log_sigusr1_reopens_after_rename(sims, tmp_path):
    gh, log_path = start(sims, tmp_path, "w3c")
    try:
        client = gh.client()
        assert client.get("/owa/?before=1")[0] < 500
        wait_for_lines(log_path, lambda t: "before=1" in t)
        rotated = log_path.with_name(log_path.name + ".1")
        os.rename(log_path, rotated)
        os.kill(gh.process.pid, signal.SIGUSR1)
        # The reopen is queued with the writes: the new file appears with its own header.
        wait_for_lines(log_path, lambda t: t.startswith("#Software: Gatehouse"), timeout=5)
        assert client.get("/owa/?after=1")[0] < 500
        client.close()
        fresh = wait_for_lines(log_path, lambda t: "after=1" in t)
        _, _, entries = parse_w3c(fresh)
        assert [e["cs-uri-query"] for e in entries] == ["after=1"]
        old = rotated.read_text(encoding="ascii")
        assert "before=1" in old and "after=1" not in old
        assert gh.process.proc.poll() is None, "SIGUSR1 must not stop the proxy"
    finally:
        gh.process.stop()


def test_access_log_unwritable_path_is_refused_with_file_and_line(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("access_log:\n  format: w3c\n  path: /nonexistent-folder/access.log\n")
    import subprocess
    result = subprocess.run([str(BIN / "gatehouse"), "check", "--config", str(config)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0
    assert re.search(r"bad\.yaml:3:\d+: error: the folder of 'path' in 'access_log'", result.stdout + result.stderr), \
        result.stdout + result.stderr
