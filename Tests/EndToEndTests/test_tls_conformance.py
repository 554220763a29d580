"""TLS conformance of the HTTPS listener, as scanners judge it (issue #17 item 3).

The session's listener has the demo's shape: RSA-2048 and ECDSA P-256 certificates for the same names
side by side, a wildcard, the default TLS policy. sslyze must find it compliant with Mozilla's
"intermediate" profile; testssl.sh must find nothing at MEDIUM or worse except what belongs to the
demo certificates themselves (a lab CA publishes no revocation information).

The testssl.sh scan takes about three minutes and runs on its own: run alongside the rest of the suite,
its hundreds of handshakes once made a connection-cap test elsewhere count one socket too many
(test_redirect_listener_limits.py; not explained yet, see the closing note of issue 17)."""
import json
import shutil
import subprocess
import sys
import time

import pytest

from conftest import CERTS

pytestmark = pytest.mark.usefixtures("proxy_log_on_failure")

# Findings that are the demo certificates' own, not the listener's: a lab root CA runs no CRL or
# OCSP responder. The same findings stay errors for any other id.
CERTIFICATES_OWN = {"cert_revocation"}
SEVERE = {"MEDIUM", "HIGH", "CRITICAL"}


def sslyze(port, *args):
    """Runs sslyze against mail.contoso.lab on the listener, trusting the demo CA."""
    return subprocess.run(
        [sys.executable, "-m", "sslyze", "--certinfo_ca_file", str(CERTS / "ca.pem"), *args,
         f"mail.contoso.lab:{port}{{127.0.0.1}}"],
        capture_output=True, text=True, timeout=180)


def test_sslyze_finds_the_listener_compliant_with_mozilla_intermediate(gatehouse):
    result = sslyze(gatehouse.port, "--mozilla_config=intermediate")
    out = result.stdout + result.stderr
    assert "OK - Compliant" in out, out[-3000:]
    assert result.returncode == 0, out[-3000:]


def test_sslyze_sees_only_tls12_and_tls13_and_both_key_types(gatehouse, tmp_path):
    report = tmp_path / "sslyze.json"
    result = sslyze(gatehouse.port, "--certinfo", "--tlsv1", "--tlsv1_1", "--tlsv1_2", "--tlsv1_3",
                    f"--json_out={report}")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    scan = json.loads(report.read_text())["server_scan_results"][0]["scan_result"]
    accepted = {name: len(scan[name]["result"]["accepted_cipher_suites"])
                for name in ("tls_1_0_cipher_suites", "tls_1_1_cipher_suites",
                             "tls_1_2_cipher_suites", "tls_1_3_cipher_suites")}
    assert accepted["tls_1_0_cipher_suites"] == 0 and accepted["tls_1_1_cipher_suites"] == 0, accepted
    assert accepted["tls_1_2_cipher_suites"] > 0 and accepted["tls_1_3_cipher_suites"] > 0, accepted
    deployments = scan["certificate_info"]["result"]["certificate_deployments"]
    key_types = {d["received_certificate_chain"][0]["public_key"]["algorithm"] for d in deployments}
    assert key_types == {"RSAPublicKey", "ECPublicKey"}, key_types
    for deployment in deployments:
        # Each chain (RSA and ECDSA) verifies against the demo CA and is sent in order.
        assert deployment["verified_certificate_chain"], deployment["path_validation_results"]
        assert deployment["received_chain_has_valid_order"], deployment


def base_id(finding_id):
    """testssl names per-certificate findings "<id> <cert#N>"."""
    return finding_id.split(" <cert#")[0]


def test_testssl_finds_nothing_at_medium_or_worse(gatehouse, tmp_path):
    assert shutil.which("testssl"), "testssl.sh is not installed (make deps installs it)"
    report = tmp_path / "testssl.json"
    log = tmp_path / "testssl.log"
    started = time.monotonic()
    with open(log, "w") as out:
        result = subprocess.run(
            ["testssl", "--quiet", "--color", "0", "--warnings", "off", "--jsonfile", str(report),
             "--ip", "127.0.0.1", "--add-ca", str(CERTS / "ca.pem"), f"https://mail.contoso.lab:{gatehouse.port}"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=600)
    assert report.exists(), f"testssl wrote no report (exit {result.returncode}):\n{log.read_text()[-3000:]}"
    findings = json.loads(report.read_text())
    ids = {finding["id"] for finding in findings}
    # The scan really ran: protocols and ciphers were tested against the listener.
    assert {"TLS1_2", "TLS1_3", "SSLv3", "TLS1"} <= ids, sorted(ids)[:50]
    severe = [f"{f['severity']} {f['id']}: {f['finding']}" for f in findings
              if f.get("severity") in SEVERE and base_id(f["id"]) not in CERTIFICATES_OWN]
    assert not severe, "\n".join(severe)
    offered = {f["id"]: f["finding"] for f in findings if f["id"] in ("SSLv2", "SSLv3", "TLS1", "TLS1_1")}
    assert all("not offered" in value for value in offered.values()), offered
    print(f"testssl.sh scan took {time.monotonic() - started:.0f} s")
