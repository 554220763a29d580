"""End-to-end fixtures: real `mailbox-sim` and `gatehouse` processes on 127.0.0.1, real TLS.

Every process started here is stopped by its PID when its fixture ends; every port is ephemeral
(found free, then bound by the child), so suites never collide with a running demo.

The session's Gatehouse serves two virtual services:
- `contoso` (mail.contoso.lab, autodiscover.contoso.lab): every Exchange preset on pool `mailbox`
  (mbx01 + mbx02, both with --require-ntlm), /powershell blocked;
- `open` (open.contoso.lab, covered by the wildcard certificate, and legacy.example.net, covered by no
  certificate): every preset on pool `open` (mbx03, no NTLM) for streaming tests, plus single-server
  pools for failure tests: /impostor/ (a backend whose certificate is not trusted), /refused/ (a port
  nobody listens on);
- `doomed` (doomed.contoso.lab, wildcard certificate): every preset on a sim that tests kill mid-response.
"""
import atexit
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from gatehouse_client import HTTPSClient, RawHTTPS, http11_context  # noqa: E402
# The sanitizer_sensitive mark's hooks (registration, the deselection report) and TIME_SCALE.
from sanitizer_marks import (TIME_SCALE, pytest_configure, pytest_deselected,  # noqa: E402,F401
                             pytest_terminal_summary, sanitizer_reason)

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ.get("GATEHOUSE_BIN_DIR", ROOT / ".build" / "debug"))
CERTS = ROOT / "certs-example"
CLIENT_IDLE_TIMEOUT = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30.0, log=None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            out = log() if log else ""
            raise RuntimeError(f"process exited early ({proc.returncode}): {out}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"port {port} did not open within {timeout}s")


# The output files of the processes a run starts: one folder per run, removed when the run ends
# (failure messages quote a process's output while the run still goes). Each file used to stay in
# /tmp, thousands per run. GATEHOUSE_E2E_KEEP_LOGS=1 keeps the folder (its path is printed).
PROCESS_LOGS = pathlib.Path(tempfile.mkdtemp(prefix="gh-e2e-logs-"))
if os.environ.get("GATEHOUSE_E2E_KEEP_LOGS"):
    atexit.register(lambda: print(f"process logs kept in {PROCESS_LOGS}"))
else:
    atexit.register(shutil.rmtree, PROCESS_LOGS, ignore_errors=True)


class Process:
    """A child process we started, with its output captured to a file for failure messages."""

    def __init__(self, args, name):
        self.name = name
        self.log = tempfile.NamedTemporaryFile(prefix=f"{name}-", suffix=".log", dir=PROCESS_LOGS, delete=False, mode="w+")
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

    def kill(self):
        """SIGKILL, by PID: the process dies without closing anything gracefully."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def rss_kib(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


class RSSMonitor:
    """Samples a process's VmRSS every `interval` seconds in a thread; `peak_growth_mib()` is the
    largest sample minus the baseline taken at start."""

    def __init__(self, process, interval=0.05):
        self.process = process
        self.interval = interval
        self.baseline = process.rss_kib()
        self.peak = self.baseline
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                rss = self.process.rss_kib()
            except OSError:
                return
            self.peak = max(self.peak, rss)
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)

    def growth_mib(self):
        return (self.peak - self.baseline) / 1024.0

    def describe(self):
        return (f"RSS baseline {self.baseline / 1024:.1f} MiB, peak {self.peak / 1024:.1f} MiB "
                f"(+{self.growth_mib():.1f} MiB over {self.samples} samples)")


def require_binaries():
    for name in ("gatehouse", "mailbox-sim"):
        if not (BIN / name).exists():
            pytest.fail(f"{BIN / name} is missing: run `swift build` first")
    for name in ("ca.pem", "mbx01.pem", "mbx02.pem", "mail-rsa.pem", "mail-ecdsa.pem", "wildcard.pem"):
        if not (CERTS / name).exists():
            pytest.fail(f"{CERTS / name} is missing: run `make certs` "
                        f"(bash certs-example/make-demo-pki.sh .build/debug/gatehouse)")


class Sim:
    def __init__(self, name, port, process, cert_dir, args):
        self.name = name
        self.port = port
        self.process = process
        self.cert_dir = cert_dir
        self.args = args

    def restart(self):
        """Starts the same sim again on the same port (after a test killed it)."""
        self.process.stop()
        self.process = Process(self.args, self.name)
        wait_for_port(self.port, self.process.proc, log=self.process.output)

    @property
    def cert(self):
        return self.cert_dir / f"{self.name}.pem"

    def client(self):
        return HTTPSClient("127.0.0.1", self.port, f"{self.name}.contoso.lab", http11_context(str(self.cert)))


def start_sim(name, extra=(), cert_dir=CERTS):
    port = free_port()
    args = [str(BIN / "mailbox-sim"), "--name", name, "--fqdn", f"{name}.contoso.lab",
            "--listen", f"127.0.0.1:{port}", "--cert", str(cert_dir / f"{name}.pem"),
            "--key", str(cert_dir / f"{name}.key"), *extra]
    process = Process(args, name)
    wait_for_port(port, process.proc, log=process.output)
    return Sim(name, port, process, cert_dir, args)


def make_self_signed(name, out_dir):
    """An Exchange-style self-signed backend certificate made by `gatehouse cert new-self-signed`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(BIN / "gatehouse"), "cert", "new-self-signed", "--name", name,
                    "--fqdn", f"{name}.contoso.lab", "--out", str(out_dir)],
                   check=True, capture_output=True, timeout=60)
    return out_dir


class Gatehouse:
    def __init__(self, process, port, http_port, admin_port, config_path, backends=None):
        self.process = process
        self.port = port
        self.http_port = http_port
        self.admin_port = admin_port
        self.config_path = config_path
        self.backends = backends or {}   # name -> Sim
        self.ping = None           # the BackgroundPing, when the Ping test was collected

    def context(self):
        return http11_context(str(CERTS / "ca.pem"))

    def client(self, host="mail.contoso.lab", timeout=30):
        return HTTPSClient("127.0.0.1", self.port, host, self.context(), timeout=timeout)

    def raw(self, host="mail.contoso.lab", timeout=30, context=None):
        return RawHTTPS(self.port, host, context or self.context(), timeout=timeout)

    def log(self):
        return self.process.output()

    def wait_for_log(self, predicate, timeout=5.0):
        """The proxy's output once `predicate(output)` holds, or as it is at the deadline: access-log
        lines reach the output in batches, up to 250 ms after their request."""
        deadline = time.time() + timeout
        while True:
            output = self.log()
            if predicate(output) or time.time() >= deadline:
                return output
            time.sleep(0.05)


PRESETS = ["autodiscover", "ews", "activesync", "owa", "ecp", "mapi", "oab", "rpc", "api"]


def server_line(name, port, tls_name):
    return f"      - {{ name: {name}, address: 127.0.0.1:{port}, tls_name: {tls_name} }}"


def pool_yaml(name, servers, trust, health=True):
    """servers: [(name, port, tls_name)]; trust: [path]; health=False switches active probes off
    (failure tests exercise the data path, not the health checker's verdict)."""
    lines = "\n".join(server_line(*s) for s in servers)
    return f"""  {name}:
    servers:
{lines}
    trust:
      certificates: [{", ".join(str(t) for t in trust)}]
    connect_timeout: 2s
{"" if health else "    health: { enabled: false }" + chr(10)}"""


def routes_yaml(pool, extra_routes=(), route_options=None):
    route_options = route_options or {}
    lines = []
    for preset in PRESETS:
        options = route_options.get(preset, "")
        lines.append(f"      - {{ preset: {preset}, pool: {pool}{', ' + options if options else ''} }}")
    lines.append("      - { preset: powershell, blocked: true }")
    lines.extend(f"      - {r}" for r in extra_routes)
    return "\n".join(lines)


def session_config(port, http_port, admin_port, pools, services, idle_timeout=CLIENT_IDLE_TIMEOUT):
    """The session proxy's configuration: `pools` and `services` are YAML blocks (pool_yaml, routes_yaml)."""
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
limits:
  client_idle_timeout: {idle_timeout}s
pools:
{pools}
services:
{services}
admin:
  address: 127.0.0.1:{admin_port}
"""


def gatehouse_config(port, http_port, admin_port, sims, extra_service_yaml="", pool_extra="",
                     route_overrides="", limits_yaml="", tls_extra=""):
    """The single-service configuration other modules build on (and edit as text: keep its format):
    pool `mailbox` of `sims`, service contoso with `route_overrides` before every preset.
    `limits_yaml`: a whole `limits:` block; `tls_extra`: more keys of the https listener's `tls:`
    (6-space indented). Both empty by default."""
    servers = "\n".join(
        f"      - {{ name: {s.name}, address: 127.0.0.1:{s.port}, tls_name: {s.name}.contoso.lab }}" for s in sims)
    trust = ", ".join(str(s.cert) for s in sims)
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
{tls_extra}
  - name: http
    address: 127.0.0.1:{http_port}
    redirect_to_https: {port}
{limits_yaml}
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
    """A Gatehouse of its own (gatehouse_config with `kwargs`); the caller stops it."""
    port, http_port, admin_port = free_port(), free_port(), free_port()
    config = tmp_path / "gatehouse.yaml"
    config.write_text(gatehouse_config(port, http_port, admin_port, sims, **kwargs))
    process = Process([str(BIN / "gatehouse"), "run", "--config", str(config)], "gatehouse")
    wait_for_port(port, process.proc, log=process.output)
    # The admin listener binds after the HTTPS one: a test that reads /state at once found it
    # closed in CI (connection refused).
    wait_for_port(admin_port, process.proc, log=process.output)
    return Gatehouse(process, port, http_port, admin_port, config, {s.name: s for s in sims})


def stop_popen(process):
    """Stops a subprocess.Popen this test started: SIGTERM, then SIGKILL after 5 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def start_haproxy(config_path, address, port, timeout=10.0):
    """HAProxy (`make deps-test` installs it) in the foreground on `config_path`, once it accepts
    on address:port; the caller stops it with stop_popen (by its PID, as every process here)."""
    if shutil.which("haproxy") is None:
        pytest.fail("haproxy is not installed: run `make deps-test` (apt-get install haproxy)")
    process = subprocess.Popen(["haproxy", "-f", str(config_path), "-db"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((address, port), 1).close()
            return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop_popen(process)
                pytest.fail(f"haproxy did not start listening on {address}:{port}: {process.stdout.read()}")
            time.sleep(0.05)


PING_HOLD_SECONDS = 75
PING_TEST = "test_activesync_ping_held_75s_succeeds"


class BackgroundPing:
    """An ActiveSync Ping held `PING_HOLD_SECONDS` by the backend, run in a thread from the moment
    the session's proxy is up, so the long wait overlaps the rest of the suite. The Ping test
    (sorted last) joins it and checks the outcome."""

    BODY = bytes([0x03, 0x01, 0x6A, 0x00, 0x00, 0x0D, 0x45, 0x48, 0x03, 0x38, 0x30, 0x00, 0x01, 0x01])

    def __init__(self, gatehouse):
        self.gatehouse = gatehouse
        self.result = None
        self.error = None
        self.elapsed = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        started = time.monotonic()
        try:
            with self.gatehouse.client(timeout=PING_HOLD_SECONDS + 60) as client:
                self.result = client.call(
                    "POST", "/Microsoft-Server-ActiveSync?Cmd=Ping&User=alice&DeviceId=E2EPING0001"
                            f"&DeviceType=iPhone&sim-hold={PING_HOLD_SECONDS}",
                    body=self.BODY, headers={"Content-Type": "application/vnd.ms-sync.wbxml",
                                             "MS-ASProtocolVersion": "16.1"})
        except Exception as error:  # reported by the test that joins
            self.error = error
        self.elapsed = time.monotonic() - started

    def join(self):
        self.thread.join(timeout=PING_HOLD_SECONDS + 90)


def pytest_collection_modifyitems(session, config, items):
    # The Ping test joins the Ping started with the proxy: run it last so the wait overlaps.
    ping = [item for item in items if item.name == PING_TEST]
    for item in ping:
        items.remove(item)
        items.append(item)
    config.stash[START_PING] = bool(ping)
    for item in items:
        sanitizer_reason(item)   # a sanitizer_sensitive mark without a reason is refused here, in every run


START_PING = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def sims():
    require_binaries()
    started = [start_sim("mbx01", ["--require-ntlm"]), start_sim("mbx02", ["--require-ntlm"])]
    yield started
    for sim in started:
        sim.process.stop()


@pytest.fixture(scope="session")
def gatehouse(sims, tmp_path_factory, pytestconfig):
    """The session's proxy with the `contoso` and `open` services (see the module docstring)."""
    base = tmp_path_factory.mktemp("gh")
    started = []
    try:
        # mbx03: a trusted backend without NTLM, for streaming tests that are not about auth.
        mbx03_dir = make_self_signed("mbx03", base / "mbx03")
        mbx03 = start_sim("mbx03", cert_dir=mbx03_dir)
        started.append(mbx03)
        # The impostor claims to be mbx01 with a certificate of its own that nobody trusts.
        impostor_dir = make_self_signed("mbx01", base / "impostor")
        impostor = start_sim("mbx01", cert_dir=impostor_dir)
        started.append(impostor)
        # The doomed sim (mbx02's real, trusted certificate) gets killed by a test.
        doomed = start_sim("mbx02")
        started.append(doomed)
        refused_port = free_port()   # nothing listens here

        pools = "".join([
            pool_yaml("mailbox", [(s.name, s.port, f"{s.name}.contoso.lab") for s in sims],
                      [CERTS / f"{s.name}.pem" for s in sims]),
            # No active probes on `open`: tests count mbx03's open connections.
            pool_yaml("open", [("mbx03", mbx03.port, "mbx03.contoso.lab")], [mbx03_dir / "mbx03.pem"], health=False),
            pool_yaml("impostor", [("mbx01", impostor.port, "mbx01.contoso.lab")], [CERTS / "mbx01.pem"], health=False),
            pool_yaml("refused", [("mbx09", refused_port, "mbx01.contoso.lab")], [CERTS / "mbx01.pem"], health=False),
            pool_yaml("doomed", [("mbx02", doomed.port, "mbx02.contoso.lab")], [CERTS / "mbx02.pem"], health=False),
        ])
        services = f"""  - name: contoso
    hosts: [mail.contoso.lab, autodiscover.contoso.lab]
    redirect_root_to: /owa/
    admin_networks: [127.0.0.0/8]
    routes:
{routes_yaml("mailbox")}
  - name: open
    hosts: [open.contoso.lab, legacy.example.net]
    admin_networks: [10.0.0.0/8]   # the tests' 127.0.0.1 is outside: /ecp is refused here
    routes:
{routes_yaml("open", extra_routes=[
            "{ path: /impostor/, pool: impostor }",
            "{ path: /refused/, pool: refused }",
        ], route_options={"api": "max_body: 2GiB"})}
  - name: doomed
    hosts: [doomed.contoso.lab]
    routes:
{routes_yaml("doomed")}
"""
        port, http_port, admin_port = free_port(), free_port(), free_port()
        config = base / "gatehouse.yaml"
        config.write_text(session_config(port, http_port, admin_port, pools, services))
        process = Process([str(BIN / "gatehouse"), "run", "--config", str(config)], "gatehouse")
        started.append(type("P", (), {"process": process})())
        wait_for_port(port, process.proc, log=process.output)
        gh = Gatehouse(process, port, http_port, admin_port, config,
                       {"mbx01": sims[0], "mbx02": sims[1], "mbx03": mbx03, "impostor": impostor,
                        "doomed": doomed})
        if pytestconfig.stash.get(START_PING, False):
            gh.ping = BackgroundPing(gh)
        yield gh
    finally:
        for item in reversed(started):
            item.process.stop()


@pytest.fixture
def proxy_log_on_failure(gatehouse, request):
    """Appends the proxy's log to a failing test's report (diagnosis without re-running)."""
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print("---- gatehouse log (tail) ----\n" + gatehouse.log()[-6000:])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)
