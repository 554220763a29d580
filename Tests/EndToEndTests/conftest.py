"""End-to-end fixtures: real `mailbox-sim` and `gatehouse` processes on 127.0.0.1, real TLS.

Every process started here is stopped by its PID when its fixture ends; every port is ephemeral
(found free, then bound by the child), so suites never collide with a running demo.
"""
import os
import pathlib
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from gatehouse_client import HTTPSClient  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ.get("GATEHOUSE_BIN_DIR", ROOT / ".build" / "debug"))
CERTS = ROOT / "certs-example"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise RuntimeError(f"process exited early ({proc.returncode}): {out}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"port {port} did not open within {timeout}s")


class Process:
    """A child process we started, with its output captured to a file for failure messages."""

    def __init__(self, args, name):
        self.name = name
        self.log = tempfile.NamedTemporaryFile(prefix=f"gh-{name}-", suffix=".log", delete=False, mode="w+")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, text=True,
                                     stdin=subprocess.DEVNULL)

    @property
    def pid(self):
        return self.proc.pid

    def output(self) -> str:
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def rss_kib(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


def require_binaries():
    for name in ("gatehouse", "mailbox-sim"):
        if not (BIN / name).exists():
            pytest.fail(f"{BIN / name} is missing: run `make test` (it builds first)")
    for name in ("ca.pem", "mbx01.pem", "mbx02.pem", "mail-rsa.pem", "mail-ecdsa.pem", "wildcard.pem"):
        if not (CERTS / name).exists():
            pytest.fail(f"{CERTS / name} is missing: run `make certs`")


class Sim:
    def __init__(self, name, port, process):
        self.name = name
        self.port = port
        self.process = process

    def client(self):
        ctx = ssl.create_default_context(cafile=str(CERTS / f"{self.name}.pem"))
        return HTTPSClient("127.0.0.1", self.port, f"{self.name}.contoso.lab", ctx)


def start_sim(name, extra=()):
    port = free_port()
    args = [str(BIN / "mailbox-sim"), "--name", name, "--fqdn", f"{name}.contoso.lab",
            "--listen", f"127.0.0.1:{port}", "--cert", str(CERTS / f"{name}.pem"),
            "--key", str(CERTS / f"{name}.key"), *extra]
    process = Process(args, name)
    wait_for_port(port, process.proc)
    return Sim(name, port, process)


class Gatehouse:
    def __init__(self, process, port, http_port, admin_port, config_path):
        self.process = process
        self.port = port
        self.http_port = http_port
        self.admin_port = admin_port
        self.config_path = config_path

    def context(self):
        return ssl.create_default_context(cafile=str(CERTS / "ca.pem"))

    def client(self, host="mail.contoso.lab"):
        return HTTPSClient("127.0.0.1", self.port, host, self.context())


def gatehouse_config(port, http_port, admin_port, sims, extra_service_yaml="", pool_extra="",
                     route_overrides=""):
    servers = "\n".join(
        f"      - {{ name: {s.name}, address: 127.0.0.1:{s.port}, tls_name: {s.name}.contoso.lab }}" for s in sims)
    trust = ", ".join(str(CERTS / f"{s.name}.pem") for s in sims)
    return f"""
listeners:
  - name: https
    address: 127.0.0.1:{port}
    tls:
      certificates:
        - {{ cert: {CERTS}/mail-ecdsa.pem, key: {CERTS}/mail-ecdsa.key }}
        - {{ cert: {CERTS}/mail-rsa.pem, key: {CERTS}/mail-rsa.key }}
        - {{ cert: {CERTS}/wildcard.pem, key: {CERTS}/wildcard.key }}
      default_certificate: {CERTS}/mail-rsa.pem
  - name: http
    address: 127.0.0.1:{http_port}
    redirect_to_https: {port}
pools:
  mailbox:
    servers:
{servers}
    trust:
      certificates: [{trust}]
{pool_extra}
services:
  - name: contoso
    hosts: [mail.contoso.lab, autodiscover.contoso.lab]
    redirect_root_to: /owa/
    admin_networks: [127.0.0.0/8]
{extra_service_yaml}
    routes:
{route_overrides}      - {{ preset: autodiscover, pool: mailbox }}
      - {{ preset: ews, pool: mailbox }}
      - {{ preset: activesync, pool: mailbox }}
      - {{ preset: owa, pool: mailbox }}
      - {{ preset: ecp, pool: mailbox }}
      - {{ preset: mapi, pool: mailbox }}
      - {{ preset: oab, pool: mailbox }}
      - {{ preset: rpc, pool: mailbox }}
      - {{ preset: api, pool: mailbox }}
admin:
  address: 127.0.0.1:{admin_port}
"""


def start_gatehouse(sims, tmp_path, **kwargs):
    port, http_port, admin_port = free_port(), free_port(), free_port()
    config = tmp_path / "gatehouse.yaml"
    config.write_text(gatehouse_config(port, http_port, admin_port, sims, **kwargs))
    process = Process([str(BIN / "gatehouse"), "run", "--config", str(config)], "gatehouse")
    wait_for_port(port, process.proc)
    return Gatehouse(process, port, http_port, admin_port, config)


@pytest.fixture(scope="module")
def sims():
    require_binaries()
    started = [start_sim("mbx01", ["--require-ntlm"]), start_sim("mbx02", ["--require-ntlm"])]
    yield started
    for sim in started:
        sim.process.stop()


@pytest.fixture(scope="module")
def gatehouse(sims, tmp_path_factory):
    gh = start_gatehouse(sims, tmp_path_factory.mktemp("gh"))
    yield gh
    gh.process.stop()
